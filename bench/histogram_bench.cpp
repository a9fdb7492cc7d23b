// Histogram micro-benchmarks: the recording hot path (target < 50 ns per value, so
// that recording never shows in a load), merging per-thread histograms, and the V2 codec used for
// .hlog intervals.
//   build/bench/histogram_bench --benchmark_min_time=0.2
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "histogram.hpp"

namespace {

// Latency-like values in microseconds: lognormal around 2 ms with a long tail.
std::vector<int64_t> latency_values(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::lognormal_distribution<double> latency(std::log(2000.0), 1.5);
  std::vector<int64_t> values(n);
  for (auto& v : values)
    v = static_cast<int64_t>(latency(rng));
  return values;
}

poolbench::Histogram filled_histogram(size_t n, uint64_t seed) {
  poolbench::Histogram h;
  for (const int64_t v : latency_values(n, seed))
    h.record(v);
  return h;
}

void BM_Record(benchmark::State& state) {
  const std::vector<int64_t> values = latency_values(1 << 16, 1);
  poolbench::Histogram h;
  size_t i = 0;
  for (auto _ : state) {
    h.record(values[i]);
    i = (i + 1) & (values.size() - 1);
  }
  benchmark::DoNotOptimize(h.total_count());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Record);

void BM_RecordN(benchmark::State& state) {
  const std::vector<int64_t> values = latency_values(1 << 16, 2);
  poolbench::Histogram h;
  size_t i = 0;
  for (auto _ : state) {
    h.record_n(values[i], 3);
    i = (i + 1) & (values.size() - 1);
  }
  benchmark::DoNotOptimize(h.total_count());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RecordN);

// One merge of a thread's interval histogram into the run total (default 1 us .. 1 h shape).
void BM_Merge(benchmark::State& state) {
  const poolbench::Histogram part = filled_histogram(100'000, 3);
  poolbench::Histogram total;
  for (auto _ : state) {
    total.merge(part);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Merge);

void BM_EncodeV2Base64(benchmark::State& state) {
  const poolbench::Histogram h = filled_histogram(static_cast<size_t>(state.range(0)), 4);
  size_t bytes = 0;
  for (auto _ : state) {
    const std::string text = h.encode_v2_base64(static_cast<int>(state.range(1)));
    bytes = text.size();
    benchmark::DoNotOptimize(text.data());
  }
  state.counters["base64_bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_EncodeV2Base64)->Args({1'000, -1})->Args({100'000, -1})->Args({100'000, 9});

void BM_DecodeV2Base64(benchmark::State& state) {
  const std::string text =
      filled_histogram(static_cast<size_t>(state.range(0)), 5).encode_v2_base64();
  for (auto _ : state) {
    const poolbench::Histogram h = poolbench::Histogram::decode_v2_base64(text);
    benchmark::DoNotOptimize(h.total_count());
  }
}
BENCHMARK(BM_DecodeV2Base64)->Arg(1'000)->Arg(100'000);

void BM_ValueAtPercentile(benchmark::State& state) {
  const poolbench::Histogram h = filled_histogram(100'000, 6);
  for (auto _ : state)
    benchmark::DoNotOptimize(h.value_at_percentile(99.9));
}
BENCHMARK(BM_ValueAtPercentile);

}  // namespace
