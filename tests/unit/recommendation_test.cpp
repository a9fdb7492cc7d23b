#include "recommendation.hpp"

#include <gtest/gtest.h>

#include <map>
#include <stdexcept>
#include <string>

namespace poolbench {
namespace {

using json = nlohmann::json;

constexpr double kServiceTimeUs = 10'400;
constexpr double kCpuTimeUs = 2'030;
constexpr double kKneePool = 5.08;

struct PointSpec {
  std::string outcome = "found";
  bool valid = true;
  std::string status = "ok";
};

// A sweep point as `loadgen sweep --search` writes it (results/README.md): capacity
// interval [low, 1.02 low], best achieved 1.1 low, and a run with the CPU model's knee.
json point(const std::string& mode, int pool, double low, const PointSpec& spec = {}) {
  const bool has_capacity = spec.outcome == "found" || spec.outcome == "max_rate_meets_slo";
  const bool has_run = spec.status == "ok" && has_capacity;
  json run = nullptr;
  if (has_run) {
    run = {{"schema", "poolbench.run/1"},
           {"valid", spec.valid},
           {"throughput_rps", low},
           {"model_prediction",
            mode == "inline" ? json(nullptr) : json({{"knee_pool", kKneePool}, {"cpus", 1}})}};
  }
  const std::string file = mode + "-pool" + std::to_string(pool);
  return {{"mode", mode},
          {"pool_size", pool},
          {"status", spec.status},
          {"reason", spec.status == "ok" ? json(nullptr) : json("server exited with 1")},
          {"file", file + ".json"},
          {"result", run},
          {"search",
           {{"file", file + ".search.json"},
            {"outcome", spec.outcome},
            {"capacity",
             {{"low_rps", has_capacity ? json(low) : json(nullptr)},
              {"high_rps", has_capacity ? json(1.02 * low) : json(nullptr)}}},
            {"best_achieved_rps", 1.1 * low},
            {"probes", 9},
            {"wall_s", 120.0}}}};
}

json sweep_of(const json& points, const json& modes = {"call-in-thread"}) {
  return {{"schema", "poolbench.sweep/2"},
          {"config",
           {{"modes", modes},
            {"search",
             {{"slo", {{"text", "p99<=50ms"}, {"percentile", 99.0}, {"limit_us", 50000}}},
              {"criteria", {{"confidence", 0.95}}}}}}},
          {"calibration", {{"service_time_us", kServiceTimeUs}, {"cpu_time_us", kCpuTimeUs}}},
          {"points", points}};
}

// Capacities (lower bounds) by pool size, one mode.
json curve(const std::map<int, double>& capacities, const std::string& mode = "call-in-thread") {
  json points = json::array();
  for (const auto& [pool, low] : capacities)
    points.push_back(point(mode, pool, low));
  return points;
}

const json& mode_of(const json& document, const std::string& mode = "call-in-thread") {
  return document.at("modes").at(mode);
}

bool mentions(const json& verdict, const std::string& text) {
  return verdict["reason"].get<std::string>().find(text) != std::string::npos;
}

TEST(Recommend, MonotoneCapacitiesGiveTheSmallestPoolThatHoldsTheRate) {
  const json doc =
      recommend(sweep_of(curve({{1, 100}, {2, 200}, {4, 400}, {8, 800}, {16, 1400}})), 600.0);
  EXPECT_EQ(doc["schema"], "poolbench.recommendation/1");
  EXPECT_EQ(doc["target_rate_rps"], 600.0);
  EXPECT_EQ(doc["slo"]["text"], "p99<=50ms");
  EXPECT_EQ(doc["rule"]["within_best_fraction"], 0.95);
  EXPECT_EQ(doc["rule"]["next_larger_must_pass"], true);
  const json& verdict = mode_of(doc);
  EXPECT_EQ(verdict["verdict"], "recommended");
  EXPECT_EQ(verdict["recommended_pool"], 8);
  EXPECT_DOUBLE_EQ(verdict["capacity_low_rps"].get<double>(), 800.0);
  EXPECT_DOUBLE_EQ(verdict["capacity_high_rps"].get<double>(), 816.0);
  EXPECT_NEAR(verdict["headroom"].get<double>(), 800.0 / 600.0 - 1, 1e-12);
  EXPECT_EQ(verdict["next_larger"]["pool"], 16);
  EXPECT_EQ(verdict["next_larger"]["passes"], true);
  EXPECT_TRUE(mentions(verdict, "pool 16 also passes"));
  ASSERT_EQ(verdict["curve"].size(), 5u);
  EXPECT_EQ(verdict["curve"][2]["passes"], false);  // pool 4: 400 < 600
  EXPECT_EQ(verdict["curve"][3]["passes"], true);
  EXPECT_EQ(doc["summary"], "call-in-thread: 8 threads (p99<=50ms at 600.0 req/s, 33.3% headroom)");
}

TEST(Recommend, CrossChecksUseLittlesLawTheCpuKneeAndAUslFit) {
  const json verdict = mode_of(
      recommend(sweep_of(curve({{1, 100}, {2, 200}, {4, 400}, {8, 800}, {16, 1400}})), 600.0));
  // Little's law: 600 req/s x 10.4 ms = 6.24 requests in flight.
  EXPECT_DOUBLE_EQ(verdict["littles_law"]["rate_rps"].get<double>(), 600.0);
  EXPECT_NEAR(verdict["littles_law"]["concurrency"].get<double>(), 6.24, 1e-12);
  EXPECT_NEAR(verdict["littles_law"]["service_time_s"].get<double>(), 0.0104, 1e-15);
  EXPECT_DOUBLE_EQ(verdict["cpu_knee"]["predicted_pool"].get<double>(), kKneePool);
  EXPECT_NEAR(verdict["cpu_knee"]["cpu_time_s"].get<double>(), 0.00203, 1e-15);
  EXPECT_EQ(verdict["cpu_knee"]["cpus"], 1);
  const json& usl = verdict["usl"];
  ASSERT_EQ(usl["fitted"], true) << usl.dump();
  ASSERT_EQ(usl["residuals"].size(), 5u);
  EXPECT_DOUBLE_EQ(usl["residuals"][0]["measured"].get<double>(), 110.0);  // best achieved
  EXPECT_TRUE(usl["residuals"][0]["pool"].is_number_integer());
  EXPECT_GE(usl["alpha"].get<double>(), 0.0);
  EXPECT_GE(usl["beta"].get<double>(), 0.0);
}

TEST(Recommend, TheKneesCpuCountFallsBackToTheServersAllowedCpus) {
  json points = curve({{1, 100}, {2, 200}, {4, 400}});
  for (json& p : points) {
    p["result"]["model_prediction"].erase("cpus");
    p["result"]["resources"] = {{"server", {{"cpus", {2, 3}}}}};
  }
  EXPECT_EQ(mode_of(recommend(sweep_of(points), 300.0))["cpu_knee"]["cpus"], 2);
}

TEST(Recommend, APoolBeforeAContentionDipIsSkippedForOneWhoseNextLargerPasses) {
  // 4 holds 610 but 8 falls to 590: 4 sits just before contention and is skipped; 16 and 32 hold.
  const json verdict = mode_of(recommend(
      sweep_of(curve({{1, 100}, {2, 200}, {4, 610}, {8, 590}, {16, 700}, {32, 720}})), 600.0));
  EXPECT_EQ(verdict["recommended_pool"], 16);
  EXPECT_EQ(verdict["skipped_pools"], json({4}));
  EXPECT_TRUE(mentions(verdict, "pool 4 passed but its next larger pool 8 did not"));
  EXPECT_EQ(verdict["next_larger"]["pool"], 32);
}

TEST(Recommend, APoolWhoseNextLargerPassesIsKeptEvenPastAPeakFurtherOn) {
  // Capacity peaks at 8 and falls below the target at 16: 4 and 8 both pass, so 4 is safe.
  const json verdict = mode_of(recommend(
      sweep_of(curve({{1, 100}, {2, 200}, {4, 650}, {8, 700}, {16, 500}, {32, 680}})), 600.0));
  EXPECT_EQ(verdict["recommended_pool"], 4);
  EXPECT_EQ(verdict["skipped_pools"], json::array());
  EXPECT_EQ(verdict["next_larger"],
            json({{"pool", 8}, {"passes", true}, {"capacity_low_rps", 700.0}}));
}

TEST(Recommend, NothingPassingIsNoRecommendationWithTheBest) {
  const json doc = recommend(sweep_of(curve({{1, 100}, {2, 200}, {4, 400}})), 5000.0);
  const json& verdict = mode_of(doc);
  EXPECT_EQ(verdict["verdict"], "no_recommendation");
  EXPECT_TRUE(verdict["recommended_pool"].is_null());
  EXPECT_TRUE(verdict["headroom"].is_null());
  EXPECT_TRUE(mentions(verdict, "no pool holds 5000.0 req/s: the best is 400.0 req/s"));
  EXPECT_EQ(doc["summary"], "call-in-thread: no recommendation (no pool holds 5000.0 req/s)");
  // Little's law still says what the target rate would need.
  EXPECT_NEAR(verdict["littles_law"]["concurrency"].get<double>(), 52.0, 1e-9);
}

TEST(Recommend, OnlyPassingPoolUnconfirmedByItsNextLargerIsNoRecommendation) {
  const json verdict =
      mode_of(recommend(sweep_of(curve({{1, 100}, {2, 200}, {4, 650}, {8, 500}})), 600.0));
  EXPECT_EQ(verdict["verdict"], "no_recommendation");
  EXPECT_EQ(verdict["skipped_pools"], json({4}));
  EXPECT_TRUE(mentions(verdict, "pool 4 passed but its next larger pool 8 did not"));
}

TEST(Recommend, AnInvalidRunIsNeverRecommended) {
  json points = curve({{1, 100}, {2, 200}, {8, 700}, {16, 720}});
  points.insert(points.begin() + 2, point("call-in-thread", 4, 650, {.valid = false}));
  const json verdict = mode_of(recommend(sweep_of(points), 600.0));
  EXPECT_EQ(verdict["recommended_pool"], 8);
  EXPECT_EQ(verdict["curve"][2]["pool"], 4);
  EXPECT_EQ(verdict["curve"][2]["valid"], false);
  EXPECT_EQ(verdict["curve"][2]["passes"], false);
  EXPECT_EQ(verdict["curve"][2]["excluded_because"], "run invalid");
  EXPECT_TRUE(mentions(verdict, "pool 4: run invalid"));
}

TEST(Recommend, FewerThanTwoUsablePoolSizesIsNoRecommendation) {
  const json points = {point("call-in-thread", 1, 100, {.valid = false}),
                       point("call-in-thread", 2, 0, {.outcome = "target_failed"}),
                       point("call-in-thread", 4, 0, {.status = "failed"}),
                       point("call-in-thread", 8, 900)};
  const json verdict = mode_of(recommend(sweep_of(points), 600.0));
  EXPECT_EQ(verdict["verdict"], "no_recommendation");
  EXPECT_TRUE(mentions(verdict, "only 1 pool size(s) with a usable SLO capacity"));
  EXPECT_TRUE(mentions(verdict, "pool 2: search outcome target_failed"));
  EXPECT_TRUE(mentions(verdict, "pool 4: status failed (server exited with 1)"));
}

TEST(Recommend, APlainSweepWithoutSearchDataIsNeverGuessedFrom) {
  json sweep = sweep_of(curve({{1, 100}, {2, 200}, {4, 400}}));
  sweep["config"]["search"] = nullptr;
  for (json& p : sweep["points"])
    p.erase("search");
  const json doc = recommend(sweep, 150.0);
  const json& verdict = mode_of(doc);
  EXPECT_EQ(verdict["verdict"], "no_recommendation");
  EXPECT_TRUE(mentions(verdict, "plain sweep"));
  EXPECT_TRUE(doc["slo"].is_null());
  EXPECT_EQ(verdict["curve"][0]["excluded_because"], "no search data");
  EXPECT_EQ(verdict["usl"]["fitted"], true);  // the closed-loop throughputs still show the curve
}

TEST(Recommend, WithoutARateAPoolPassesWithin95PercentOfTheBest) {
  // Best 720: pools at 684 req/s or more pass: 8 (700), 16, 32.
  const json doc =
      recommend(sweep_of(curve({{1, 100}, {2, 200}, {4, 650}, {8, 700}, {16, 720}, {32, 710}})),
                std::nullopt);
  const json& verdict = mode_of(doc);
  EXPECT_TRUE(doc["target_rate_rps"].is_null());
  EXPECT_EQ(verdict["recommended_pool"], 8);
  EXPECT_DOUBLE_EQ(verdict["best_capacity_low_rps"].get<double>(), 720.0);
  EXPECT_NEAR(verdict["headroom"].get<double>(), 700.0 / 720.0 - 1, 1e-12);
  EXPECT_TRUE(mentions(verdict, ">= 95.0% of the best 720.0 req/s"));
  EXPECT_DOUBLE_EQ(verdict["littles_law"]["rate_rps"].get<double>(), 700.0);
}

TEST(Recommend, InlineIsJudgedOnItsCapacityAloneAtTheSmallestPool) {
  json points = curve({{1, 95}, {4, 96}, {16, 94}}, "inline");
  for (const json& p : curve({{1, 50}, {2, 200}, {4, 400}}))
    points.push_back(p);
  const json doc = recommend(sweep_of(points, {"inline", "call-in-thread"}), 90.0);
  const json& verdict = mode_of(doc, "inline");
  EXPECT_EQ(verdict["recommended_pool"], 1);
  EXPECT_TRUE(mentions(verdict, "pool size does not matter"));
  EXPECT_EQ(verdict["curve"].size(), 3u);
  EXPECT_EQ(verdict["usl"]["fitted"], false);
  EXPECT_TRUE(verdict["cpu_knee"].is_null());
  EXPECT_EQ(mode_of(doc)["recommended_pool"], 2);
  EXPECT_EQ(doc["summary"],
            "inline: any pool size (the reactor runs the work) (p99<=50ms at 90.0 req/s, 5.6% "
            "headroom); call-in-thread: 2 threads (p99<=50ms at 90.0 req/s, 122.2% headroom)");
  const json too_fast = recommend(sweep_of(points, {"inline", "call-in-thread"}), 150.0);
  EXPECT_EQ(mode_of(too_fast, "inline")["verdict"], "no_recommendation");
  EXPECT_TRUE(mentions(mode_of(too_fast, "inline"), "holds 95.0 req/s (lower bound) < 150.0"));
}

TEST(Recommend, MaxRateMeetingTheSloCountsAsACapacity) {
  json points = curve({{1, 100}, {2, 200}});
  points.push_back(point("call-in-thread", 4, 1000, {.outcome = "max_rate_meets_slo"}));
  const json verdict = mode_of(recommend(sweep_of(points), 600.0));
  EXPECT_EQ(verdict["recommended_pool"], 4);
  EXPECT_TRUE(mentions(verdict, "the grid's largest pool"));
  EXPECT_TRUE(verdict["next_larger"].is_null());
}

TEST(Recommend, RefusesADocumentThatIsNotASweep) {
  EXPECT_THROW(recommend(json{{"schema", "poolbench.run/1"}}, 600.0), std::invalid_argument);
  EXPECT_THROW(recommend(json{{"schema", "poolbench.sweep/2"}}, 600.0), std::invalid_argument);
  EXPECT_THROW(recommend(json::array(), std::nullopt), std::invalid_argument);
}

}  // namespace
}  // namespace poolbench
