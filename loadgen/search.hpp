// `loadgen search`: the highest open-loop rate at which a target still meets a latency objective
// (loadgen/README.md §10). The search brackets the rate exponentially from a start rate (doubling
// while probes pass, halving while they fail), then bisects [highest pass, lowest fail] until it
// is narrower than the precision. A probe is one rate run as one or more trials (each a full
// run_load: warm-up, window, drain); it passes only if every trial passes:
//   - the upper bound of the 95% confidence interval of the SLO's percentile (distribution-free,
//     from the histogram's order statistics) meets the limit,
//   - achieved / offered rate is at least min_achieved_ratio,
//   - (errors + timeouts) / scheduled is at most max_error_rate,
//   - the run is valid by its own self-checks.
// A trial that fails for a reason other than an interval straddling the limit decides the probe
// at once (its other trials could not make it pass). When the only doubt is a straddling
// interval, further trials run (up to max_trials) and the probe is judged on their pooled
// histogram, whose interval is narrower.
// A trial whose only failure is loadgen behind its own schedule (over 1% of sends later than
// --late-send) says nothing about the target: it is run again, up to max_trials. If the last one
// is behind too, the search ends (kGeneratorBehind) rather than walk down: on a machine too busy
// for the generator, lower rates fail the same way, each trial longer than the last.
//
// The algorithm is apart from how a trial is run (TrialRunner), so the sweep can run trials
// against the servers it starts and the tests against a model.
//
// Threading: run_search runs on the caller's thread; each trial runs as run_load does.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "engine.hpp"
#include "slo.hpp"

namespace poolbench {

inline constexpr const char* kSearchSchema = "poolbench.search/1";

struct SearchSettings {
  Slo slo;
  double precision = 0.02;  // stop when (lowest fail - highest pass) / highest pass <= this
  int trials = 2;
  int max_trials = 4;  // with straddling intervals
  double max_error_rate = 0.001;
  double min_achieved_ratio = 0.97;
  double start_rate = 100;
  double min_rate = 1;
  double max_rate = 1e6;
  int max_probes = 40;
  // A trial's window lasts at least min_samples / rate (and at least the load's --duration),
  // so that the percentile's interval rests on enough samples.
  std::uint64_t min_samples = 1000;

  void validate() const;  // throws std::invalid_argument naming the flag
  nlohmann::json to_json() const;
};

// One trial's run: its result (the histograms the verdict is computed from) and its document.
struct TrialRun {
  RunResult result;
  nlohmann::json document;
};
using TrialRunner = std::function<TrialRun(const LoadSettings& load)>;

struct SearchHooks {
  const std::atomic<bool>* stop = nullptr;
  // Before each trial, and with each trial's entry of the search document after it.
  std::function<void(double rate, int probe, int trial)> on_trial_start;
  std::function<void(const nlohmann::json& trial, double rate, const nlohmann::json& capacity)>
      on_trial_done;
};

enum class SearchOutcome {
  kFound,            // [highest pass, lowest fail] within the precision
  kNoRateMeetsSlo,   // even min_rate fails
  kMaxRateMeetsSlo,  // max_rate still passes
  kProbeLimit,       // max_probes ran out before the precision
  kTargetFailed,     // the target closed every connection or could not be reached
  kGeneratorBehind,  // a probe's every trial failed only because loadgen fell behind its plan
  kInterrupted,
};
std::string_view to_string(SearchOutcome outcome);

struct SearchResult {
  SearchOutcome outcome = SearchOutcome::kFound;
  nlohmann::json document;  // poolbench.search/1
  // The last trial's document of the highest passing probe (null if none passed).
  nlohmann::json best_passing_run;
};

// `load` is the load of every trial but its rate (open loop), window and seed. The trials'
// errors (a ConnectError from run_load) end the search as kTargetFailed.
SearchResult run_search(const LoadSettings& load, const SearchSettings& settings,
                        const TrialRunner& run_trial, const SearchHooks& hooks);

// The exit code `loadgen search --help` documents for an outcome.
int exit_code_for(SearchOutcome outcome);

}  // namespace poolbench
