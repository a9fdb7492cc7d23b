// libFuzzer target: the HdrHistogram V2 decoder (Histogram::decode_v2_base64 and decode_v2,
// loadgen/histogram_codec.cpp). Anything may only throw std::invalid_argument; what decodes must
// encode and decode again to the same histogram.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string_view>

#include "histogram.hpp"

namespace {

void check_round_trip(const poolbench::Histogram& histogram) {
  const poolbench::Histogram again =
      poolbench::Histogram::decode_v2_base64(histogram.encode_v2_base64());
  if (again.total_count() != histogram.total_count() || again.max() != histogram.max() ||
      again.min() != histogram.min() ||
      again.value_at_percentile(99.0) != histogram.value_at_percentile(99.0)) {
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  for (const bool base64 : {true, false}) {
    try {
      check_round_trip(base64 ? poolbench::Histogram::decode_v2_base64(bytes)
                              : poolbench::Histogram::decode_v2(bytes));
    } catch (const std::invalid_argument&) {
    }
  }
  return 0;
}
