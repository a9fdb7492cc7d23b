// run_search against a model target instead of a server: each trial's response times follow an
// exponential distribution whose mean grows with the rate as a queue's does,
// mean(rate) = 5 ms / (1 - rate / 1000), so p99 = mean x ln(100) meets 50 ms exactly up to
// rate* = 1000 x (1 - 5 / (50 / ln 100)) = 539.5 req/s. Exact, fast, no sockets.
#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>

#include "search.hpp"
#include "slo.hpp"

namespace poolbench {
namespace {

using json = nlohmann::json;

constexpr double kTrueCapacity = 1000 * (1 - 5.0 / (50.0 / 4.605170185988092));

// A trial at `rate`: n samples at the exponential's quantiles (no randomness: the test is
// exact), counts that make the run valid and fully achieved unless told otherwise.
struct ModelTarget {
  std::uint64_t samples = 2000;
  double error_rate = 0;
  bool valid = true;
  int lagging_trials = 0;  // the first ones: invalid only because the generator fell behind
  int trials = 0;

  TrialRun operator()(const LoadSettings& load) {
    ++trials;
    const double mean_us = 5000 / std::max(1e-9, 1 - load.rate / 1000);
    TrialRun trial;
    RunResult& run = trial.result;
    for (std::uint64_t i = 0; i < samples; ++i) {
      const double q = (static_cast<double>(i) + 0.5) / static_cast<double>(samples);
      run.response_time.record(static_cast<std::int64_t>(-mean_us * std::log1p(-q)));
    }
    run.window_s = static_cast<double>(samples) / load.rate;
    run.scheduled = samples;
    run.completed = samples;
    run.errors.requests = static_cast<std::uint64_t>(error_rate * static_cast<double>(samples));
    run.requested_rps = load.rate;
    run.achieved_rps = load.rate;
    run.throughput_rps = load.rate;
    run.valid = valid;
    if (trials <= lagging_trials) {
      run.valid = false;
      run.reasons = {"schedule_lag_exceeded"};
    }
    return trial;
  }
};

SearchSettings settings_for(const std::string& slo) {
  SearchSettings settings;
  settings.slo = parse_slo(slo);
  settings.start_rate = 100;
  settings.min_rate = 10;
  settings.max_rate = 990;
  return settings;
}

SearchResult search(ModelTarget& target, const SearchSettings& settings) {
  LoadSettings load;
  load.rate = settings.start_rate;
  return run_search(load, settings, std::ref(target), {});
}

TEST(Search, TheCapacityIntervalIsWithinThePrecisionAndNotAboveTheTrueCrossing) {
  ModelTarget target;
  const SearchResult result = search(target, settings_for("p99<=50ms"));
  ASSERT_EQ(result.outcome, SearchOutcome::kFound) << result.document.dump(1);
  const double low = result.document["capacity"]["low_rps"];
  const double high = result.document["capacity"]["high_rps"];
  EXPECT_LE((high - low) / low, 0.02 + 1e-12);
  // The upper end of p99's interval must meet the limit: never above the true crossing, and
  // with 2,000 samples (that upper end is about p99.5) not far below it.
  EXPECT_LE(low, kTrueCapacity);
  EXPECT_GT(high, 0.85 * kTrueCapacity);
  EXPECT_EQ(result.document["cost"]["trials"], target.trials);
  EXPECT_EQ(result.best_passing_run, json());  // the model's documents are empty
}

TEST(Search, MoreSamplesPerTrialBringTheCapacityCloserToTheTrueCrossing) {
  ModelTarget few{.samples = 600};
  ModelTarget many{.samples = 20000};
  const double coarse = search(few, settings_for("p99<=50ms")).document["capacity"]["low_rps"];
  const double fine = search(many, settings_for("p99<=50ms")).document["capacity"]["low_rps"];
  EXPECT_LT(coarse, fine);
  EXPECT_LE(fine, kTrueCapacity);
  EXPECT_GT(fine, 0.93 * kTrueCapacity);  // p99's upper end is about p99.14 here
}

TEST(Search, PassingProbesRunEveryTrialAndADecisiveFailureOnlyOne) {
  ModelTarget target;
  const SearchResult result = search(target, settings_for("p99<=50ms"));
  int pooled = 0;
  for (const json& probe : result.document["probes"]) {
    if (probe["decided_by"] == "pooled trials") {  // near the crossing: intervals straddle it
      EXPECT_EQ(probe["trials"].size(), 4u) << probe.dump();
      ++pooled;
      continue;
    }
    EXPECT_EQ(probe["trials"].size(), probe["pass"].get<bool>() ? 2u : 1u) << probe.dump();
  }
  EXPECT_GT(pooled, 0);
  EXPECT_LT(pooled, static_cast<int>(result.document["probes"].size()));
}

TEST(Search, AnSloNoRateMeetsEndsAtTheMinimumRate) {
  ModelTarget target;
  const SearchResult result = search(target, settings_for("p99<=5ms"));
  EXPECT_EQ(result.outcome, SearchOutcome::kNoRateMeetsSlo);
  EXPECT_TRUE(result.document["capacity"]["low_rps"].is_null());
  EXPECT_EQ(result.document["capacity"]["high_rps"], 10.0);
  EXPECT_EQ(exit_code_for(result.outcome), 4);
}

TEST(Search, AnSloEveryRateMeetsEndsAtTheMaximumRate) {
  ModelTarget target;
  const SearchResult result = search(target, settings_for("p99<=60s"));
  EXPECT_EQ(result.outcome, SearchOutcome::kMaxRateMeetsSlo);
  EXPECT_EQ(result.document["capacity"]["low_rps"], 990.0);
  EXPECT_EQ(exit_code_for(result.outcome), 5);
}

TEST(Search, ErrorsAndInvalidRunsFailAProbeWhateverItsLatency) {
  for (ModelTarget target : {ModelTarget{.error_rate = 0.01}, ModelTarget{.valid = false}}) {
    const SearchResult result = search(target, settings_for("p99<=60s"));
    EXPECT_EQ(result.outcome, SearchOutcome::kNoRateMeetsSlo);
    const json& reasons = result.document["probes"][0]["reasons"];
    EXPECT_EQ(reasons[0], target.valid ? "errors_above_limit" : "run_invalid");
  }
}

TEST(Search, ATrialWhoseGeneratorFellBehindIsRunAgainNotCountedAgainstTheTarget) {
  ModelTarget target{.lagging_trials = 1};
  SearchSettings settings = settings_for("p99<=60s");
  settings.start_rate = settings.min_rate = settings.max_rate = 100;
  const SearchResult result = search(target, settings);
  EXPECT_EQ(result.outcome, SearchOutcome::kMaxRateMeetsSlo);
  const json& probe = result.document["probes"][0];
  ASSERT_EQ(probe["trials"].size(), 3u);  // the retried one, then the two that count
  EXPECT_TRUE(probe["trials"][0]["retried"].get<bool>());
  EXPECT_TRUE(probe["pass"].get<bool>());
}

// Behind on every trial up to --max-trials: the search stops there, the probe undecided, rather
// than call it a failure of the target and walk down to ever longer trials at lower rates.
TEST(Search, AGeneratorBehindInEveryTrialEndsTheSearchWithoutJudgingTheTarget) {
  ModelTarget always_behind{.lagging_trials = 100};
  SearchSettings settings = settings_for("p99<=60s");
  settings.max_trials = 3;
  const SearchResult result = search(always_behind, settings);
  EXPECT_EQ(result.outcome, SearchOutcome::kGeneratorBehind);
  EXPECT_EQ(exit_code_for(result.outcome), 7);
  EXPECT_EQ(result.document["outcome"], "generator_behind");
  EXPECT_NE(result.document["message"].get<std::string>().find("taskset"), std::string::npos);
  ASSERT_EQ(result.document["probes"].size(), 1u);
  const json& probe = result.document["probes"][0];
  EXPECT_EQ(probe["trials"].size(), 3u);
  EXPECT_TRUE(probe["pass"].is_null());
  EXPECT_EQ(probe["decided_by"], "generator behind");
  EXPECT_TRUE(result.document["capacity"]["low_rps"].is_null());
  EXPECT_TRUE(result.document["capacity"]["high_rps"].is_null());
  EXPECT_EQ(always_behind.trials, 3);
}

TEST(Search, AStraddlingIntervalBringsMoreTrialsJudgedPooled) {
  // At exactly the crossing rate the point estimate meets 50 ms and the upper end does not.
  ModelTarget target{.samples = 400};
  SearchSettings settings = settings_for("p99<=50ms");
  settings.start_rate = settings.min_rate = settings.max_rate = kTrueCapacity * 0.995;
  const SearchResult result = search(target, settings);
  const json& probe = result.document["probes"][0];
  EXPECT_EQ(probe["trials"].size(), 4u);  // max_trials
  EXPECT_EQ(probe["decided_by"], "pooled trials");
  EXPECT_EQ(probe["pooled"]["count"], 1600);
}

TEST(Search, ATargetThatCannotBeReachedEndsTheSearchWithNoTrial) {
  SearchSettings settings = settings_for("p99<=50ms");
  const TrialRunner refuse = [](const LoadSettings&) -> TrialRun {
    throw ConnectError("connection refused");
  };
  LoadSettings load;
  load.rate = 100;
  const SearchResult result = run_search(load, settings, refuse, {});
  EXPECT_EQ(result.outcome, SearchOutcome::kTargetFailed);
  EXPECT_EQ(result.document["cost"]["trials"], 0);
  EXPECT_EQ(result.document["message"], "connection refused");
}

TEST(Search, AbsurdSettingsAreRefusedNamingTheFlag) {
  SearchSettings settings = settings_for("p99<=50ms");
  settings.min_rate = 100;
  settings.max_rate = 10;
  EXPECT_THROW(settings.validate(), std::invalid_argument);
  settings = settings_for("p99<=50ms");
  settings.max_trials = 1;
  EXPECT_THROW(settings.validate(), std::invalid_argument);
}

TEST(Slo, ParsesAnyPercentileAndRefusesWhatIsNotAnSlo) {
  const Slo slo = parse_slo("p99.9<=1.5s");
  EXPECT_DOUBLE_EQ(slo.percentile, 99.9);
  EXPECT_EQ(slo.limit_us, 1'500'000);
  EXPECT_TRUE(slo.met_by(1'500'000));
  EXPECT_FALSE(parse_slo("p50<2ms").met_by(2000));
  for (const char* bad : {"p99<=50", "p0<=5ms", "p100<=5ms", "q99<=5ms", "p99>=5ms",
                          "p99<=", "p99<=0ms", "<=5ms", "p99<=5 parsecs"}) {
    EXPECT_THROW(parse_slo(bad), std::invalid_argument) << bad;
  }
}

TEST(Thresholds, EachKindIsJudgedOnTheRun) {
  const auto thresholds = parse_thresholds("p50<=10ms, errors<=1%,achieved>=0.97");
  ASSERT_EQ(thresholds.size(), 3u);
  EXPECT_DOUBLE_EQ(thresholds[1].limit, 0.01);
  RunResult run;
  for (int i = 0; i < 100; ++i)
    run.response_time.record(i < 60 ? 5000 : 20000);
  run.scheduled = 100;
  run.completed = 98;
  run.errors.requests = 2;  // 2%: above 1%
  run.window_s = 1;
  run.requested_rps = 100;
  run.achieved_rps = 100;
  const auto outcomes = evaluate_thresholds(thresholds, run);
  EXPECT_TRUE(outcomes[0].passed);
  EXPECT_FALSE(outcomes[1].passed);
  EXPECT_DOUBLE_EQ(outcomes[1].value, 0.02);
  EXPECT_TRUE(outcomes[2].passed);
  EXPECT_FALSE(thresholds_to_json(outcomes)["passed"].get<bool>());
  EXPECT_THROW(parse_thresholds("p99<=5ms,,errors<=1%"), std::invalid_argument);
  EXPECT_THROW(parse_thresholds("latency<=5ms"), std::invalid_argument);
}

}  // namespace
}  // namespace poolbench
