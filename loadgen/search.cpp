#include "search.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

#include "reference_server/clock.hpp"
#include "result_statistics.hpp"

namespace poolbench {
namespace {

using json = nlohmann::json;

// A trial's verdict. `straddles`: the only failed criterion is an interval that contains the
// limit, so more samples could still make the probe pass. `generator_behind`: the only failure
// is this generator missing its own schedule, which says nothing about the target (the lag is
// in the response times already, so it can only make them look worse); the trial is run again.
struct TrialVerdict {
  json entry;
  bool pass = false;
  bool straddles = false;
  bool generator_behind = false;
};

// A field of a trial's run document, null when absent (a test's model target has none).
json field_of(const json& document, const char* key) {
  return document.is_object() && document.contains(key) ? document[key] : json();
}

json interval_json(const PercentileInterval& interval) {
  return interval.sufficient ? json::array({interval.low, interval.high}) : json(nullptr);
}

TrialVerdict judge_trial(const TrialRun& trial, double rate, const LoadSettings& load,
                         const SearchSettings& settings) {
  const RunResult& run = trial.result;
  const Slo& slo = settings.slo;
  const PercentileInterval interval = percentile_ci95(run.response_time, slo.percentile);
  const double achieved = achieved_ratio_of(run);
  const double errors = error_rate_of(run);
  json reasons = json::array();
  if (!interval.sufficient) reasons.push_back("too_few_samples");
  if (interval.sufficient && !slo.met_by(interval.high)) reasons.push_back("slo_not_met");
  if (achieved < settings.min_achieved_ratio) reasons.push_back("achieved_below_offered");
  if (errors > settings.max_error_rate) reasons.push_back("errors_above_limit");
  if (!run.valid) reasons.push_back("run_invalid");
  TrialVerdict verdict;
  verdict.pass = reasons.empty();
  verdict.straddles = reasons == json::array({"slo_not_met"}) && slo.met_by(interval.low);
  verdict.generator_behind = reasons == json::array({"run_invalid"}) &&
                             run.reasons == std::vector<std::string>{"schedule_lag_exceeded"};
  verdict.entry = {{"offered_rps", rate},
                   {"achieved_rps", run.achieved_rps},
                   {"achieved_ratio", achieved},
                   {"throughput_rps", run.throughput_rps},
                   {"error_rate", errors},
                   {"valid", run.valid},
                   {"run_reasons", run.reasons},
                   {"slo_value_us", run.response_time.value_at_percentile(slo.percentile)},
                   {"ci95_us", interval_json(interval)},
                   {"pass", verdict.pass},
                   {"reasons", std::move(reasons)},
                   {"seed", load.seed},
                   {"duration_s", seconds_of(load.duration)},
                   {"latency_us", field_of(trial.document, "latency_us")},
                   {"service_time_us", field_of(trial.document, "service_time_us")}};
  return verdict;
}

// Thrown through the search when a trial ends it (the target failed, a stop was asked).
struct SearchEnded {
  SearchOutcome outcome;
  std::string message;
};

class Searcher {
 public:
  Searcher(const LoadSettings& load, const SearchSettings& settings, const TrialRunner& run_trial,
           const SearchHooks& hooks)
      : load_(load), settings_(settings), run_trial_(run_trial), hooks_(hooks) {}

  SearchResult run();

 private:
  bool probe(double rate);  // runs one probe, records it; true if it passed
  // Records a probe the search ends in: its finished trials kept, neither pass nor fail.
  void keep_undecided(json entry, const char* decided_by) {
    entry["pass"] = nullptr;
    entry["decided_by"] = decided_by;
    probes_.push_back(std::move(entry));
  }
  TrialVerdict run_one_trial(double rate, int trial_in_probe);
  bool judge_pooled(const std::vector<RunResult>& runs, json& probe_entry) const;
  SearchOutcome bracket();
  SearchOutcome bisect();
  bool precise_enough() const {
    return (*lowest_fail_ - *highest_pass_) <= settings_.precision * *highest_pass_;
  }
  json capacity_json() const;
  // min_samples, at least twice what the percentile's interval needs at all (299 for p99), and
  // at least what the run's own self-check asks for (kMinSamples, whatever the percentile).
  std::uint64_t samples_needed() const {
    const auto least = static_cast<std::uint64_t>(samples_for_interval(settings_.slo.percentile));
    return std::max({settings_.min_samples, 2 * least, static_cast<std::uint64_t>(kMinSamples)});
  }
  std::string message_for(SearchOutcome outcome) const;
  std::string generator_behind_message(double rate, int trials) const;

  const LoadSettings& load_;
  const SearchSettings& settings_;
  const TrialRunner& run_trial_;
  const SearchHooks& hooks_;
  std::optional<double> highest_pass_;
  std::optional<double> lowest_fail_;
  json probes_ = json::array();
  json best_passing_run_;
  json first_config_;
  double best_achieved_rps_ = 0;
  int trials_run_ = 0;
  std::vector<RunResult> probe_runs_;  // the current probe's trials, for pooling
  json last_run_document_;
};

TrialVerdict Searcher::run_one_trial(double rate, int trial_in_probe) {
  if (hooks_.stop && hooks_.stop->load()) throw SearchEnded{SearchOutcome::kInterrupted, {}};
  LoadSettings load = load_;
  load.rate = rate;
  load.seed = load_.seed + static_cast<std::uint64_t>(trials_run_);  // its own Poisson stream
  // 20% over the count asked for: a Poisson window of n expected arrivals often holds fewer.
  const double needed_s = 1.2 * static_cast<double>(samples_needed()) / rate;
  load.duration = std::max(load_.duration, std::chrono::duration_cast<std::chrono::nanoseconds>(
                                               std::chrono::duration<double>(needed_s)));
  if (hooks_.on_trial_start) {
    hooks_.on_trial_start(rate, static_cast<int>(probes_.size()) + 1, trial_in_probe);
  }
  TrialRun trial;
  try {
    trial = run_trial_(load);
  } catch (const ConnectError& e) {
    throw SearchEnded{SearchOutcome::kTargetFailed, e.what()};
  }
  ++trials_run_;
  if (trial.result.end == RunEnd::kInterrupted) throw SearchEnded{SearchOutcome::kInterrupted, {}};
  if (trial.result.end == RunEnd::kConnectionsLost) {
    throw SearchEnded{SearchOutcome::kTargetFailed,
                      connections_lost_cause(trial.result) + " during the trial at " +
                          std::to_string(std::lround(rate)) + " req/s"};
  }
  if (first_config_.is_null()) first_config_ = field_of(trial.document, "config");
  best_achieved_rps_ = std::max(best_achieved_rps_, trial.result.achieved_rps);
  TrialVerdict verdict = judge_trial(trial, rate, load, settings_);
  last_run_document_ = std::move(trial.document);
  probe_runs_.push_back(std::move(trial.result));
  return verdict;
}

// After trials whose only doubt was a straddling interval: the interval of all of them pooled.
bool Searcher::judge_pooled(const std::vector<RunResult>& runs, json& probe_entry) const {
  Histogram pooled = make_latency_histogram();
  for (const RunResult& run : runs)
    pooled.merge(run.response_time);
  const PercentileInterval interval = percentile_ci95(pooled, settings_.slo.percentile);
  const bool pass = interval.sufficient && settings_.slo.met_by(interval.high);
  probe_entry["decided_by"] = "pooled trials";
  probe_entry["pooled"] = {{"count", pooled.total_count()},
                           {"slo_value_us", pooled.value_at_percentile(settings_.slo.percentile)},
                           {"ci95_us", interval_json(interval)}};
  if (!pass) probe_entry["reasons"] = json::array({"slo_not_met"});
  return pass;
}

bool Searcher::probe(double rate) {
  json entry = {{"rate_rps", rate},
                {"pass", false},
                {"decided_by", "every trial"},
                {"reasons", json::array()},
                {"trials", json::array()}};
  probe_runs_.clear();
  bool all_pass = true;
  bool doubt_only = true;  // every failure so far is a straddling interval
  int retries = 0;         // trials run again because the generator fell behind
  for (int trial = 1; trial <= settings_.max_trials; ++trial) {
    if (trial > settings_.trials + retries && (all_pass || !doubt_only)) break;
    TrialVerdict verdict;
    try {
      verdict = run_one_trial(rate, trial);
    } catch (const SearchEnded&) {
      keep_undecided(std::move(entry), "unfinished");
      throw;
    }
    entry["trials"].push_back(verdict.entry);
    if (hooks_.on_trial_done) hooks_.on_trial_done(verdict.entry, rate, capacity_json());
    if (verdict.generator_behind) {
      if (trial == settings_.max_trials) {
        keep_undecided(std::move(entry), "generator behind");
        throw SearchEnded{SearchOutcome::kGeneratorBehind, generator_behind_message(rate, trial)};
      }
      entry["trials"].back()["retried"] = true;  // kept for the record, not judged
      probe_runs_.pop_back();
      ++retries;
      continue;
    }
    all_pass = all_pass && verdict.pass;
    if (!verdict.pass && !verdict.straddles) {
      doubt_only = false;
      entry["reasons"] = verdict.entry["reasons"];
      break;  // decisive: later trials cannot make this probe pass
    }
    doubt_only = doubt_only && (verdict.pass || verdict.straddles);
  }
  bool pass = all_pass;
  if (!all_pass && doubt_only) pass = judge_pooled(probe_runs_, entry);
  entry["pass"] = pass;
  if (pass) {
    if (!highest_pass_ || rate > *highest_pass_) {
      highest_pass_ = rate;
      best_passing_run_ = last_run_document_;
    }
  } else if (!lowest_fail_ || rate < *lowest_fail_) {
    lowest_fail_ = rate;
  }
  probes_.push_back(std::move(entry));
  return pass;
}

SearchOutcome Searcher::bracket() {
  double rate = std::clamp(settings_.start_rate, settings_.min_rate, settings_.max_rate);
  while (static_cast<int>(probes_.size()) < settings_.max_probes) {
    if (probe(rate)) {
      if (lowest_fail_) return SearchOutcome::kFound;
      if (rate >= settings_.max_rate) return SearchOutcome::kMaxRateMeetsSlo;
      rate = std::min(rate * 2, settings_.max_rate);
    } else {
      if (highest_pass_) return SearchOutcome::kFound;
      if (rate <= settings_.min_rate) return SearchOutcome::kNoRateMeetsSlo;
      rate = std::max(rate / 2, settings_.min_rate);
    }
  }
  return SearchOutcome::kProbeLimit;
}

SearchOutcome Searcher::bisect() {
  while (!precise_enough()) {
    if (static_cast<int>(probes_.size()) >= settings_.max_probes) return SearchOutcome::kProbeLimit;
    probe((*highest_pass_ + *lowest_fail_) / 2);
  }
  return SearchOutcome::kFound;
}

json Searcher::capacity_json() const {
  return {{"low_rps", highest_pass_ ? json(*highest_pass_) : json(nullptr)},
          {"high_rps", lowest_fail_ ? json(*lowest_fail_) : json(nullptr)}};
}

std::string Searcher::message_for(SearchOutcome outcome) const {
  char text[256];
  const char* slo = settings_.slo.text.c_str();
  switch (outcome) {
    case SearchOutcome::kFound:
      std::snprintf(text, sizeof text, "capacity between %.1f and %.1f req/s (%s)", *highest_pass_,
                    *lowest_fail_, slo);
      break;
    case SearchOutcome::kNoRateMeetsSlo:
      std::snprintf(text, sizeof text,
                    "no rate meets %s: even %.1f req/s (--min-rate) fails; see the probes' "
                    "reasons",
                    slo, settings_.min_rate);
      break;
    case SearchOutcome::kMaxRateMeetsSlo:
      std::snprintf(text, sizeof text,
                    "%.1f req/s (--max-rate) still meets %s: the capacity is at least that",
                    settings_.max_rate, slo);
      break;
    case SearchOutcome::kProbeLimit:
      std::snprintf(text, sizeof text,
                    "stopped after %d probes (--max-probes) before the precision",
                    settings_.max_probes);
      break;
    default:
      return {};
  }
  return text;
}

std::string Searcher::generator_behind_message(double rate, int trials) const {
  char text[400];
  std::snprintf(text, sizeof text,
                "loadgen fell behind its own schedule at %.1f req/s in %d trials in a row (over "
                "1%% of sends more than --late-send = %.3g ms late): the runs measure this "
                "machine, not the target. Give loadgen CPUs of its own (taskset), quieten the "
                "machine, or allow more lag with --late-send",
                rate, trials, 1e3 * seconds_of(load_.late_send));
  return text;
}

SearchResult Searcher::run() {
  const auto start = Clock::now();
  SearchResult result;
  std::string message;
  try {
    result.outcome = bracket();
    if (result.outcome == SearchOutcome::kFound) result.outcome = bisect();
    message = message_for(result.outcome);
  } catch (const SearchEnded& ended) {
    result.outcome = ended.outcome;
    message = ended.outcome == SearchOutcome::kInterrupted ? "interrupted" : ended.message;
  }
  result.best_passing_run = best_passing_run_;
  result.document = {{"schema", kSearchSchema},
                     {"target", load_.target},
                     {"slo", settings_.slo.to_json()},
                     {"criteria", settings_.to_json()},
                     {"outcome", to_string(result.outcome)},
                     {"message", message},
                     {"capacity", capacity_json()},
                     {"best_achieved_rps", best_achieved_rps_},
                     {"probes", probes_},
                     {"cost",
                      {{"probes", probes_.size()},
                       {"trials", trials_run_},
                       {"wall_s", seconds_of(Clock::now() - start)}}},
                     {"load", first_config_}};
  return result;
}

}  // namespace

void SearchSettings::validate() const {
  auto fail = [](const std::string& what) { throw std::invalid_argument(what); };
  if (!(precision > 0 && precision < 1))
    fail("--precision must be above 0 and below 1 (0.02 = 2%)");
  if (trials < 1) fail("--trials must be at least 1");
  if (max_trials < trials) fail("--max-trials must be at least --trials");
  if (!(max_error_rate >= 0 && max_error_rate < 1)) fail("--max-errors must be in [0, 100%)");
  if (!(min_achieved_ratio > 0 && min_achieved_ratio <= 1)) {
    fail("the achieved/offered ratio must be in (0, 1]");
  }
  if (!(min_rate > 0)) fail("--min-rate must be above 0");
  if (!(max_rate >= min_rate)) fail("--max-rate must be at least --min-rate");
  if (!(start_rate >= min_rate && start_rate <= max_rate)) {
    fail("--start-rate must lie between --min-rate and --max-rate");
  }
  if (max_probes < 2) fail("--max-probes must be at least 2");
  if (min_samples < 1) fail("--min-samples must be at least 1");
}

json SearchSettings::to_json() const {
  return {{"confidence", 0.95},
          {"min_achieved_ratio", min_achieved_ratio},
          {"max_error_rate", max_error_rate},
          {"trials", trials},
          {"max_trials", max_trials},
          {"precision", precision},
          {"start_rate", start_rate},
          {"min_rate", min_rate},
          {"max_rate", max_rate},
          {"max_probes", max_probes},
          {"min_samples", min_samples}};
}

std::string_view to_string(SearchOutcome outcome) {
  switch (outcome) {
    case SearchOutcome::kFound:
      return "found";
    case SearchOutcome::kNoRateMeetsSlo:
      return "no_rate_meets_slo";
    case SearchOutcome::kMaxRateMeetsSlo:
      return "max_rate_meets_slo";
    case SearchOutcome::kProbeLimit:
      return "probe_limit";
    case SearchOutcome::kTargetFailed:
      return "target_failed";
    case SearchOutcome::kGeneratorBehind:
      return "generator_behind";
    case SearchOutcome::kInterrupted:
      return "interrupted";
  }
  return "unknown";
}

int exit_code_for(SearchOutcome outcome) {
  switch (outcome) {
    case SearchOutcome::kFound:
      return 0;
    case SearchOutcome::kTargetFailed:
      return 1;
    case SearchOutcome::kNoRateMeetsSlo:
      return 4;
    case SearchOutcome::kMaxRateMeetsSlo:
      return 5;
    case SearchOutcome::kProbeLimit:
      return 6;
    case SearchOutcome::kGeneratorBehind:
      return 7;
    case SearchOutcome::kInterrupted:
      return 130;
  }
  return 1;
}

SearchResult run_search(const LoadSettings& load, const SearchSettings& settings,
                        const TrialRunner& run_trial, const SearchHooks& hooks) {
  settings.validate();
  return Searcher(load, settings, run_trial, hooks).run();
}

}  // namespace poolbench
