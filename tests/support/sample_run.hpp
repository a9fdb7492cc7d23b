// Test support: run results for the tests of the run document, its statistics and the merge.
// histogram_of() records values (microseconds) in a run's histogram shape; sample_result() is a
// finalized run with every documented field filled in (errors of two kinds, two intervals,
// both halves).
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "histogram.hpp"
#include "run_result.hpp"

namespace poolbench::testing {

inline Histogram histogram_of(const std::vector<std::int64_t>& values) {
  Histogram h = make_latency_histogram();
  for (auto v : values)
    h.record(v);
  return h;
}

inline RunResult sample_result() {
  RunResult r;
  r.settings.target = "127.0.0.1:9090";
  r.settings.connections = 4;
  r.settings.depth = 2;
  r.settings.threads = 2;
  r.settings.argv = {"loadgen", "run", "-c", "4", "-d", "2"};
  r.start_time = "2026-01-01T00:00:00.000Z";
  r.host = host_info();
  std::mt19937_64 rng(5);
  std::uniform_int_distribution<std::int64_t> us(9000, 11000);
  for (int i = 0; i < 1000; ++i) {
    const auto v = us(rng);
    r.response_time.record(v);
    r.service_time.record(v - 50);
    r.schedule_lag.record(i % 7);
  }
  r.scheduled = 1003;
  r.completed = 1000;
  r.errors.add("err:busy", 2, false);
  r.errors.add("unknown_id", 1, true);
  r.timeouts = 1;
  r.window_s = 1.25;
  r.reply_span_s = 1.27;
  r.requests_sent = 1500;
  r.cpu_s = 0.01;
  IntervalStats interval;
  interval.length_s = 1;
  interval.completed = 800;
  interval.throughput_rps = 800;
  r.intervals = {interval, interval};
  r.intervals[1].start_s = 1;
  r.intervals[1].phase = Phase::kMeasure;
  r.first_half = {500, 800, 10000};
  r.second_half = {500, 800, 10001};
  r.finalize();
  return r;
}

}  // namespace poolbench::testing
