// libFuzzer target: the --work grammar (WorkSpec::parse, mixes of parts joined by '+') and
// durations (parse_duration), reference_server/work.hpp. Bad text may only throw
// std::invalid_argument; good text must round-trip through its canonical spelling and give finite,
// non-negative costs.
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <stdexcept>
#include <string_view>

#include "work.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const auto duration = poolbench::parse_duration(text);
    if (duration.count() < 0) std::abort();
    if (poolbench::parse_duration(poolbench::format_duration(duration)) != duration) std::abort();
  } catch (const std::invalid_argument&) {
  }
  try {
    const poolbench::WorkSpec spec = poolbench::WorkSpec::parse(text);
    const std::string canonical = spec.to_string();
    if (poolbench::WorkSpec::parse(canonical).to_string() != canonical) std::abort();
    const double mean = spec.mean_nanoseconds();
    if (!std::isfinite(mean) || mean < 0) std::abort();
    if (mean != spec.mean_cpu_nanoseconds() + spec.mean_blocking_nanoseconds()) std::abort();
    std::mt19937_64 random(42);
    for (const auto& part : spec.parts) {
      for (int i = 0; i < 4; ++i) {
        if (part.sample(random).count() < 0) std::abort();
      }
    }
  } catch (const std::invalid_argument&) {
  }
  return 0;
}
