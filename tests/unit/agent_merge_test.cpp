// `loadgen merge` of several agents: the shares of one --segment layout merge into the whole
// load, a share given twice or a missing one is caught, agents that disagree or did not overlap
// make the merge invalid, and the interval series line up on the wall clock.
#include "agent_merge.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "histogram.hpp"
#include "result.hpp"
#include "result_merge.hpp"
#include "run_result.hpp"
#include "sample_run.hpp"

namespace poolbench {
namespace {

using json = nlohmann::json;
using testing::histogram_of;
using testing::sample_result;

constexpr double kT0 = 1'800'000'000;  // a wall-clock start, epoch seconds

// Share `index` of `count` of an open-loop load of 3000 requests/s, started at kT0 + `late_s`,
// whose every response took `latency_us`.
json share(int index, int count, std::int64_t latency_us = 1000, double late_s = 0) {
  static int runs = 0;
  RunResult r = sample_result();
  r.run_id = "1000000000000" + std::to_string(100 + runs++);
  r.settings.rate = 3000;
  r.settings.connections = 2;
  r.settings.segment = {index, count};
  r.response_time = histogram_of(std::vector<std::int64_t>(1000, latency_us));
  r.scheduled = 1000;
  r.completed = 1000;
  r.errors = {};
  r.timeouts = 0;
  r.window_s = 1;
  r.reply_span_s = 1;
  r.t0_epoch_s = kT0 + late_s;
  r.start_skew_s = late_s;
  for (IntervalStats& interval : r.intervals)
    interval.histogram = histogram_of({latency_us}).encode_v2_base64();
  r.finalize();
  return to_json(r);
}

TEST(AgentMerge, TheSharesOfOneLoadMergeIntoTheWholeLoad) {
  const json merged = merge_runs({share(0, 3), share(1, 3), share(2, 3)}, {"s0", "s1", "s2"}, {});
  EXPECT_EQ(merged["merge"]["kind"], "segments");  // concurrent without being told
  EXPECT_EQ(merged["config"]["rate"], 3000);       // one plan's rate, not three
  EXPECT_EQ(merged["config"]["connections"], 6);
  EXPECT_EQ(merged["config"]["segment"], json({{"index", 0}, {"count", 1}}));
  EXPECT_EQ(merged["scheduled"], 3000);
  EXPECT_DOUBLE_EQ(merged["requested_rps"].get<double>(), 3000);
  ASSERT_EQ(merged["merge"]["agents"].size(), 3u);
  EXPECT_EQ(merged["merge"]["agents"][2]["segment"], "2/3");
  EXPECT_EQ(merged["merge"]["heterogeneity"]["segments"]["missing"], json::array());
  EXPECT_DOUBLE_EQ(merged["merge"]["heterogeneity"]["throughput_max_over_min"].get<double>(), 1);
  for (const json& reason : merged["reasons"]) {
    const std::string code = reason.get<std::string>();
    EXPECT_NE(code, "segments_missing");
    EXPECT_NE(code, "agents_disagree");
    EXPECT_NE(code, "agents_not_overlapping");
  }
}

TEST(AgentMerge, AShareGivenTwiceOrAnotherLayoutIsRefused) {
  EXPECT_THROW(merge_runs({share(0, 2), share(0, 2)}, {"a", "b"}, {}), MergeError);
  EXPECT_THROW(merge_runs({share(0, 2), share(1, 3)}, {"a", "b"}, {}), MergeError);
  // Forced, other layouts merge as plain concurrent runs, and the merge says it was forced.
  const json forced = merge_runs({share(0, 2), share(1, 3)}, {"a", "b"}, {.force = true});
  EXPECT_EQ(forced["merge"]["kind"], "concurrent");
  EXPECT_EQ(forced["merge"]["forced_differences"].size(), 1u);
  EXPECT_FALSE(forced["valid"].get<bool>());
  EXPECT_THROW(merge_runs({share(0, 2), share(0, 2)}, {"a", "b"}, {.force = true}), MergeError);
  json other_seed = share(1, 2);
  other_seed["config"]["seed"] = 99;  // another plan
  EXPECT_THROW(merge_runs({share(0, 2), other_seed}, {"a", "b"}, {}), MergeError);
}

TEST(AgentMerge, AMissingShareMakesTheMergeInvalid) {
  const json merged = merge_runs({share(0, 3), share(2, 3)}, {"a", "b"}, {});
  EXPECT_EQ(merged["merge"]["heterogeneity"]["segments"]["missing"], json({1}));
  EXPECT_FALSE(merged["valid"].get<bool>());
  EXPECT_NE(std::find(merged["reasons"].begin(), merged["reasons"].end(), "segments_missing"),
            merged["reasons"].end());
}

TEST(AgentMerge, AgentsWithDisjointLatenciesAreFlaggedAndTheirP99IsTheUnions) {
  const json fast = share(0, 2, 1'000);
  const json slow = share(1, 2, 50'000);
  const json merged = merge_runs({fast, slow}, {"fast", "slow"}, {});
  // Half the samples at 1 ms, half at 50 ms: the union's p99 is 50 ms; the average of the
  // agents' p99s, ~25.5 ms, is a latency no request had.
  const Histogram both = [&] {
    Histogram h = make_latency_histogram();
    h.merge(Histogram::decode_v2_base64(fast["latency_us"]["histogram"].get<std::string>()));
    h.merge(Histogram::decode_v2_base64(slow["latency_us"]["histogram"].get<std::string>()));
    return h;
  }();
  EXPECT_EQ(merged["latency_us"]["p99"], both.value_at_percentile(99));
  EXPECT_GE(merged["latency_us"]["p99"].get<std::int64_t>(), 49'000);
  EXPECT_GT(merged["merge"]["heterogeneity"]["p99_max_over_min"].get<double>(), 40);
  EXPECT_NE(std::find(merged["reasons"].begin(), merged["reasons"].end(), "agents_disagree"),
            merged["reasons"].end());
}

TEST(AgentMerge, SubMillisecondP99sDoNotMakeAgentsDisagree) {
  // 100 us against 300 us is 3x, but loopback jitter alone does that below a millisecond.
  const json merged = merge_runs({share(0, 2, 100), share(1, 2, 300)}, {"a", "b"}, {});
  EXPECT_GT(merged["merge"]["heterogeneity"]["p99_max_over_min"].get<double>(), 2.5);
  EXPECT_EQ(std::find(merged["reasons"].begin(), merged["reasons"].end(), "agents_disagree"),
            merged["reasons"].end());
}

TEST(AgentMerge, AgentsWhoseWindowsDidNotOverlapAreFlagged) {
  const json merged = merge_runs({share(0, 2), share(1, 2, 1000, 0.5)}, {"a", "b"}, {});
  const json& h = merged["merge"]["heterogeneity"];
  EXPECT_NEAR(h["t0_spread_s"].get<double>(), 0.5, 1e-6);
  EXPECT_NEAR(h["window_overlap"]["overlap_s"].get<double>(), 0.5, 1e-6);
  EXPECT_NEAR(h["start_skew_s"]["max"].get<double>(), 0.5, 1e-9);
  EXPECT_NE(std::find(merged["reasons"].begin(), merged["reasons"].end(), "agents_not_overlapping"),
            merged["reasons"].end());
}

TEST(AgentMerge, IntervalsLineUpOnTheAgentsWallClock) {
  // Each share has intervals at 0 s and 1 s after its own t0; the second started 1 s later, so
  // its first interval falls on the first one's second: three slots, the middle one shared.
  const json merged = merge_runs({share(0, 2), share(1, 2, 1000, 1.0)}, {"a", "b"}, {});
  const json& series = merged["intervals"];
  ASSERT_EQ(series.size(), 3u);
  EXPECT_EQ(series[0]["completed"], 800);
  EXPECT_EQ(series[1]["completed"], 1600);
  EXPECT_EQ(series[2]["completed"], 800);
  EXPECT_DOUBLE_EQ(series[2]["start_s"].get<double>(), 2);
  EXPECT_EQ(series[1]["p50_us"].get<std::int64_t>(), histogram_of({1000}).value_at_percentile(50));
}

}  // namespace
}  // namespace poolbench
