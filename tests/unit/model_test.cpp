#include "model.hpp"

#include <gtest/gtest.h>

#include <cmath>

namespace poolbench {
namespace {

using json = nlohmann::json;

LoadSettings closed_loop(int connections, int depth = 1) {
  LoadSettings load;
  load.connections = connections;
  load.depth = depth;
  return load;
}

const RequestCosts kSleep10ms{0.010, 0.0, "nominal"};
const RequestCosts kMixed20Percent{0.010, 0.002, "nominal"};  // spin:2ms+sleep:8ms

TEST(ModelPrediction, PureWaitingIsMinOfConcurrencyAndWorkersOverServiceTime) {
  // 16 in flight, 4 workers, S = 10 ms: X = 400/s, R = 16 * 10 ms / 4 = 40 ms.
  auto prediction = model_prediction(closed_loop(16), kSleep10ms, {"call-in-thread", 4, 2});
  EXPECT_DOUBLE_EQ(prediction["throughput_rps"].get<double>(), 400.0);
  EXPECT_NEAR(prediction["mva_throughput_rps"].get<double>(), 400.0, 1e-9);
  EXPECT_NEAR(prediction["mean_latency_us"].get<double>(), 40'000.0, 1e-6);
  EXPECT_EQ(prediction["bound"], "concurrency");
  EXPECT_TRUE(prediction["cpu_bound_rps"].is_null());
  EXPECT_TRUE(prediction["knee_pool"].is_null());  // no CPU: no knee, more threads always help
  // More workers than requests in flight: every request is served at once.
  prediction = model_prediction(closed_loop(16), kSleep10ms, {"defer-to-thread", 32, 2});
  EXPECT_DOUBLE_EQ(prediction["throughput_rps"].get<double>(), 1600.0);
  EXPECT_NEAR(prediction["mean_latency_us"].get<double>(), 10'000.0, 1e-6);
}

TEST(ModelPrediction, InlineServesOneRequestAtATimeWhateverThePoolAndCpus) {
  for (const RequestCosts& costs : {kSleep10ms, kMixed20Percent}) {
    const auto prediction = model_prediction(closed_loop(16), costs, {"inline", 32, 8});
    EXPECT_DOUBLE_EQ(prediction["throughput_rps"].get<double>(), 100.0);
    EXPECT_NEAR(prediction["mva_throughput_rps"].get<double>(), 100.0, 1e-9);
    EXPECT_EQ(prediction["workers"], 1);
    EXPECT_TRUE(prediction["knee_pool"].is_null());
  }
}

TEST(ModelPrediction, ThinkTimeAndDepthEnterTheClosedLoop) {
  LoadSettings load = closed_loop(4, 2);
  load.think_time = std::chrono::milliseconds(10);
  // N = 8, S = 10 ms, Z = 10 ms, 16 workers: X = 8 / 20 ms = 400/s, R = 8/400 - 10 ms = 10 ms.
  const auto prediction = model_prediction(load, kSleep10ms, {"call-in-thread", 16, 2});
  EXPECT_DOUBLE_EQ(prediction["throughput_rps"].get<double>(), 400.0);
  EXPECT_NEAR(prediction["mva_throughput_rps"].get<double>(), 400.0, 1e-9);
  EXPECT_NEAR(prediction["mean_latency_us"].get<double>(), 10'000.0, 1e-6);
}

TEST(ModelPrediction, CpuWorkIsCappedAtCpusOverCpuTimeWithTheKneeWhereTheAsymptotesCross) {
  // c = 2 ms of S = 10 ms on K = 2 CPUs: plateau K/c = 1000/s, knee P* = K*S/c = 10.
  const auto big = model_prediction(closed_loop(64), kMixed20Percent, {"call-in-thread", 32, 2});
  EXPECT_DOUBLE_EQ(big["throughput_rps"].get<double>(), 1000.0);
  EXPECT_EQ(big["bound"], "cpu");
  EXPECT_DOUBLE_EQ(big["knee_pool"].get<double>(), 10.0);
  EXPECT_DOUBLE_EQ(big["blocking_time_us"].get<double>(), 8'000.0);
  const auto small = model_prediction(closed_loop(64), kMixed20Percent, {"call-in-thread", 4, 2});
  EXPECT_DOUBLE_EQ(small["throughput_rps"].get<double>(), 400.0);
  EXPECT_EQ(small["bound"], "concurrency");
}

TEST(ModelPrediction, AGilAllowsOneCpuWhateverTheAffinity) {
  const auto prediction =
      model_prediction(closed_loop(64), kMixed20Percent, {"call-in-thread", 32, 2, true});
  EXPECT_DOUBLE_EQ(prediction["throughput_rps"].get<double>(), 500.0);
  EXPECT_DOUBLE_EQ(prediction["knee_pool"].get<double>(), 5.0);
  EXPECT_EQ(prediction["cpus"], 1);
  EXPECT_EQ(prediction["allowed_cpus"], 2);
}

TEST(ModelPrediction, OpenLoopIsCappedByTheSmallerCapacity) {
  LoadSettings load;
  load.rate = 500;
  auto prediction = model_prediction(load, kSleep10ms, {"call-in-thread", 2, 1});  // 200/s
  EXPECT_DOUBLE_EQ(prediction["throughput_rps"].get<double>(), 200.0);
  EXPECT_DOUBLE_EQ(prediction["utilization"].get<double>(), 2.5);
  prediction = model_prediction(load, kMixed20Percent, {"call-in-thread", 64, 1});  // K/c 500/s
  EXPECT_DOUBLE_EQ(prediction["throughput_rps"].get<double>(), 500.0);
  EXPECT_EQ(prediction["bound"], "cpu");
}

TEST(ModelPrediction, TheTimeOutsideThePoolHoldsNoWorker) {
  // S = 11 ms of which d = 1 ms outside the pool: a worker holds a request for 10 ms.
  const RequestCosts costs{0.011, 0.002, "calibrated", 0.001};
  EXPECT_DOUBLE_EQ(costs.worker_s(), 0.010);
  auto prediction = model_prediction(closed_loop(16), costs, {"call-in-thread", 4, 1});
  EXPECT_DOUBLE_EQ(prediction["throughput_rps"].get<double>(), 400.0);  // 4 / 10 ms
  EXPECT_DOUBLE_EQ(prediction["worker_time_us"].get<double>(), 10'000.0);
  EXPECT_NEAR(prediction["outside_time_us"].get<double>(), 1'000.0, 1e-9);
  EXPECT_DOUBLE_EQ(prediction["knee_pool"].get<double>(), 5.0);  // K * S_w / c
  // As many workers as connections: each connection's cycle is the whole S.
  prediction = model_prediction(closed_loop(4), costs, {"call-in-thread", 8, 8});
  EXPECT_DOUBLE_EQ(prediction["throughput_rps"].get<double>(), 4 / 0.011);
  EXPECT_NEAR(prediction["mva_throughput_rps"].get<double>(), 4 / 0.011, 1e-6);
  // A d that leaves no room for the CPU part is not believed.
  EXPECT_DOUBLE_EQ((RequestCosts{0.011, 0.002, "calibrated", 0.010}).worker_s(), 0.011);
}

TEST(ModelPrediction, NoWorkNoModel) {
  EXPECT_TRUE(model_prediction(closed_loop(4), {0, 0, "nominal"}, {"inline", 1, 1}).is_null());
}

// One CPU and a think time: the machine-repairman model, whose exact throughput has a closed
// form (Kleinrock): X = (1 - p0) / c, 1/p0 = sum_k n!/(n-k)! (c/w)^k.
TEST(MvaThroughput, MatchesTheMachineRepairmanClosedForm) {
  const double c = 0.002;
  const double w = 0.008;
  for (int n = 1; n <= 12; ++n) {
    double sum = 0;
    double term = 1;
    for (int k = 0; k <= n; ++k) {
      sum += term;
      term *= (n - k) * (c / w);
    }
    const double expected = (1 - 1 / sum) / c;
    const double mva = mva_throughput(n, 0, {c + w, c, "nominal"}, {"call-in-thread", n, 1});
    EXPECT_NEAR(mva, expected, expected * 1e-9) << "n = " << n;
  }
}

TEST(MvaThroughput, StaysUnderBothAsymptotesAndGrowsWithThePool) {
  double previous = 0;
  for (int pool = 1; pool <= 64; ++pool) {
    const ServerShape shape{"call-in-thread", pool, 2};
    const double mva = mva_throughput(64, 0, kMixed20Percent, shape);
    EXPECT_LE(mva, pool / 0.010 * (1 + 1e-12));
    EXPECT_LE(mva, 2 / 0.002 * (1 + 1e-12));
    EXPECT_GE(mva, previous * (1 - 1e-12));
    previous = mva;
  }
  EXPECT_GT(previous, 0.99 * 1000.0);  // far past the knee it reaches the CPU plateau
  // With a think time outside the pool, the pool still caps what is inside it.
  EXPECT_LE(mva_throughput(64, 0.005, kMixed20Percent, {"call-in-thread", 4, 2}), 400.0);
}

json point(const std::string& mode, int pool, double throughput, const json& prediction) {
  return {{"mode", mode},
          {"pool_size", pool},
          {"status", "ok"},
          {"result", {{"throughput_rps", throughput}, {"model_prediction", prediction}}}};
}

TEST(KneeSummary, FindsTheSmallestPoolWithin95PercentOfTheBestAndComparesItWithTheModel) {
  json points = json::array();
  const double measured[] = {95, 190, 380, 480, 490, 470};
  int pool = 1;
  for (double throughput : measured) {
    const auto prediction =
        model_prediction(closed_loop(64), kMixed20Percent, {"call-in-thread", pool, 1});
    points.push_back(point("call-in-thread", pool, throughput, prediction));
    pool *= 2;
  }
  points.push_back({{"mode", "inline"}, {"pool_size", 1}, {"status", "failed"}});
  const json knee = knee_summary(points)["call-in-thread"];
  EXPECT_DOUBLE_EQ(knee["best_throughput_rps"].get<double>(), 490);
  EXPECT_EQ(knee["best_pool"], 16);
  EXPECT_EQ(knee["measured_knee_pool"], 8);  // 480 >= 0.95 * 490
  EXPECT_DOUBLE_EQ(knee["predicted_knee_pool"].get<double>(), 5.0);
  EXPECT_EQ(knee["knee_grid_steps"], 0);  // 8 is the grid's first pool at or above 5
  EXPECT_EQ(knee["knee_in_grid"], true);
  EXPECT_DOUBLE_EQ(knee["knee_ratio"].get<double>(), 8 / 5.0);
  EXPECT_DOUBLE_EQ(knee["plateau_bound_rps"].get<double>(), 500);
  EXPECT_DOUBLE_EQ(knee["plateau_ratio"].get<double>(), 490 / 500.0);
  EXPECT_FALSE(knee_summary(points).contains("inline"));  // no successful point
}

TEST(KneeSummary, SaysWhenThePredictedKneeIsBeyondTheGrid) {
  json points = json::array();
  for (int pool : {1, 2, 4}) {
    points.push_back(point("call-in-thread", pool, 100.0 * pool,
                           model_prediction(closed_loop(64), kMixed20Percent,
                                            {"call-in-thread", pool, 4})));  // P* = 20
  }
  const json knee = knee_summary(points)["call-in-thread"];
  EXPECT_EQ(knee["knee_in_grid"], false);
  EXPECT_TRUE(knee["knee_grid_steps"].is_null());
  EXPECT_EQ(knee["measured_knee_pool"], 4);
}

}  // namespace
}  // namespace poolbench
