// Latency objectives and run thresholds: the text a user writes (`p99<=50ms`,
// `errors<=0.1%`, `achieved>=0.97`), parsed once and checked against a finished run. `loadgen
// search` looks for the highest rate that meets one Slo; `loadgen run --fail-on` checks a list
// of Thresholds (loadgen/README.md §10).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "run_result.hpp"

namespace poolbench {

// "pNN<=D" (or "<"): the NN-th percentile of response time at most D (D with us, ms or s).
struct Slo {
  std::string text;
  double percentile = 99;  // in (0, 100)
  std::int64_t limit_us = 0;
  bool strict = false;  // "<" rather than "<="

  bool met_by(std::int64_t value_us) const {
    return strict ? value_us < limit_us : value_us <= limit_us;
  }
  nlohmann::json to_json() const;
};

// Throws std::invalid_argument saying what was expected.
Slo parse_slo(std::string_view text);

// "0.1%" -> 0.001, "0.001" -> 0.001. Throws std::invalid_argument.
double parse_fraction(std::string_view text);

// One --fail-on term: a latency objective, the error rate (errors + timeouts over scheduled,
// "errors<=0.1%" or "errors<=0.001"), or achieved/offered rate ("achieved>=0.97", open loop).
struct Threshold {
  enum class Kind { kLatency, kErrorRate, kAchievedRatio };
  Kind kind = Kind::kLatency;
  std::string text;
  Slo latency;       // kLatency
  double limit = 0;  // kErrorRate: at most; kAchievedRatio: at least
};

// "term,term,...": throws std::invalid_argument naming the bad term.
std::vector<Threshold> parse_thresholds(std::string_view text);

// The error rate and the achieved/offered ratio of a run, as the thresholds and the search see
// them: (errors + timeouts) / scheduled; achieved_rps over the rate the schedule intended in
// the window, scheduled / window (1 in a closed loop).
double error_rate_of(const RunResult& result);
double achieved_ratio_of(const RunResult& result);

struct ThresholdOutcome {
  const Threshold* threshold = nullptr;
  double value = 0;  // what the run measured (microseconds for a latency)
  bool passed = false;
};
std::vector<ThresholdOutcome> evaluate_thresholds(const std::vector<Threshold>& thresholds,
                                                  const RunResult& result);

// {"thresholds": [{"threshold", "value", "passed"}...], "passed": all}
nlohmann::json thresholds_to_json(const std::vector<ThresholdOutcome>& outcomes);

}  // namespace poolbench
