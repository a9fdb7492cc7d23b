// libFuzzer target: LineFramer (reference_server/line_protocol.hpp), differentially.
// Input: byte 0 picks max_line (1..64) and the delimiter; byte 1 seeds the read sizes; the rest
// is the stream. Fed in reads of fuzzer-chosen sizes, the framer must give exactly the lines and
// the verdict it gives for the whole stream in one read, and every line must respect the limit
// and contain no delimiter.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "line_protocol.hpp"

namespace {

struct Outcome {
  std::vector<std::string> lines;
  bool too_long = false;
};

Outcome frame(std::string_view stream, std::size_t max_line, poolbench::LineFramer::Delimiter d,
              unsigned seed) {
  poolbench::LineFramer framer(max_line, d);
  Outcome outcome;
  while (!stream.empty() && !outcome.too_long) {
    std::size_t n = stream.size();
    if (seed != 0) {
      seed = seed * 1103515245u + 12345u;
      n = std::min<std::size_t>(n, 1 + (seed >> 16) % 7);
    }
    const auto status = framer.feed(
        stream.substr(0, n), [&](std::string_view line) { outcome.lines.emplace_back(line); });
    outcome.too_long = status == poolbench::LineFramer::Status::kLineTooLong;
    stream.remove_prefix(n);
  }
  return outcome;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::size_t max_line = 1 + data[0] % 64;
  const auto delimiter = data[0] & 0x80 ? poolbench::LineFramer::Delimiter::kLf
                                        : poolbench::LineFramer::Delimiter::kCrlf;
  const unsigned seed = data[1] | 1u;
  const std::string_view stream(reinterpret_cast<const char*>(data) + 2, size - 2);

  const Outcome whole = frame(stream, max_line, delimiter, 0);
  const Outcome pieces = frame(stream, max_line, delimiter, seed);
  if (whole.lines != pieces.lines || whole.too_long != pieces.too_long) std::abort();
  for (const std::string& line : whole.lines) {
    if (line.size() > max_line) std::abort();
    if (delimiter == poolbench::LineFramer::Delimiter::kCrlf && line.find("\r\n") != line.npos)
      std::abort();
    if (delimiter == poolbench::LineFramer::Delimiter::kLf && line.find('\n') != line.npos)
      std::abort();
  }
  return 0;
}
