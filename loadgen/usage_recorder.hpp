// What the server, this generator and any other process named (a database) use while a run
// measures: CPU utilisation, CPU per request
// and context switches per request, from the processes' own counters (process_usage.hpp),
// sampled at every interval boundary of the run.
//
// The figures cover the intervals whose phase is the measurement window (all intervals after
// the first when there is none, e.g. a window shorter than an interval), divided by the
// requests that completed in those same intervals: counters and completions over one span.
//
// Threading: every call comes from the run's coordinator thread (RunHooks::on_interval).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "reference_server/process_usage.hpp"
#include "run_result.hpp"

namespace poolbench {

class UsageRecorder {
 public:
  using Source = std::function<std::optional<ProcessUsage>()>;

  using NamedSource = std::pair<std::string, Source>;

  // `server` reads the server's counters (nullptr or a source returning nullopt: unknown);
  // `others`, other processes' (the "processes" object, by name).
  explicit UsageRecorder(Source server, std::vector<NamedSource> others = {});

  void start();  // before the load starts
  void on_interval(const IntervalStats& interval);
  // The "resources" object of a run document (results/README.md).
  nlohmann::json finish() const;

 private:
  struct Sample {
    double at_s;  // seconds since the load started (interval end)
    std::optional<ProcessUsage> server;
    ProcessUsage generator;
    std::vector<std::optional<ProcessUsage>> others;  // in the order of others_
  };
  Sample sample_at(double at_s) const;

  Source server_;
  std::vector<NamedSource> others_;
  std::vector<Sample> samples_;  // samples_[i + 1] closes intervals_[i]
  std::vector<IntervalStats> intervals_;
};

}  // namespace poolbench
