// The line framer: bytes/s for 16 B, 256 B and 4 KiB lines, fed one line per read or all the
// lines of a 64 KiB read at once (Twisted's and our read size).
#include <benchmark/benchmark.h>

#include <string>

#include "line_protocol.hpp"

namespace poolbench {
namespace {

void BM_LineFramer(benchmark::State& state) {
  const auto line_length = static_cast<std::size_t>(state.range(0));
  const bool many_per_read = state.range(1) != 0;
  const std::string line = std::string(line_length, 'x') + "\r\n";
  std::string read;
  if (many_per_read) {
    while (read.size() + line.size() <= 64 * 1024)
      read += line;
  } else {
    read = line;
  }
  const std::size_t lines_per_read = read.size() / line.size();
  LineFramer framer;
  std::size_t lines = 0;
  for (auto _ : state) {
    framer.feed(read, [&](std::string_view l) { lines += l.size() != 0; });
  }
  benchmark::DoNotOptimize(lines);
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(read.size()));
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(lines_per_read));
}
BENCHMARK(BM_LineFramer)
    ->ArgNames({"line_bytes", "many_per_read"})
    ->ArgsProduct({{16, 256, 4096}, {0, 1}});

}  // namespace
}  // namespace poolbench
