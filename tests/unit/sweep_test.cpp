#include "sweep.hpp"

#include <gtest/gtest.h>

namespace poolbench {
namespace {

using Words = std::vector<std::string>;

TEST(SplitCommand, SplitsOnWhitespaceAndHonoursQuotes) {
  EXPECT_EQ(split_command("server --port {port}  --work sleep:10ms"),
            (Words{"server", "--port", "{port}", "--work", "sleep:10ms"}));
  EXPECT_EQ(split_command("python3 'my server.py' --name \"a b\" ''"),
            (Words{"python3", "my server.py", "--name", "a b", ""}));
  EXPECT_THROW(split_command("server 'unterminated"), std::invalid_argument);
  EXPECT_THROW(split_command("   "), std::invalid_argument);
}

TEST(SubstitutePlaceholders, ReplacesWholeArgumentsOnly) {
  const Words words{"server", "--port", "{port}", "--x={port}", "{mode}", "{pool}"};
  EXPECT_EQ(
      substitute_placeholders(words, {{"{port}", "9"}, {"{mode}", "inline"}, {"{pool}", "4"}}),
      (Words{"server", "--port", "9", "--x={port}", "inline", "4"}));
}

TEST(ModelPrediction, ClosedLoopIsMinOfConcurrencyAndWorkersOverServiceTime) {
  LoadSettings load;
  load.connections = 16;
  load.depth = 1;
  // 16 in flight, 4 workers, S = 10 ms: X = 400/s, R = 16 * 10 ms / 4 = 40 ms.
  auto prediction = model_prediction(load, "sleep:10ms", "call-in-thread", 4);
  EXPECT_DOUBLE_EQ(prediction["throughput_rps"].get<double>(), 400.0);
  EXPECT_DOUBLE_EQ(prediction["mean_latency_us"].get<double>(), 40'000.0);
  EXPECT_TRUE(prediction["exact"].get<bool>());
  // More workers than requests in flight: every request is served at once.
  prediction = model_prediction(load, "sleep:10ms", "defer-to-thread", 32);
  EXPECT_DOUBLE_EQ(prediction["throughput_rps"].get<double>(), 1600.0);
  EXPECT_DOUBLE_EQ(prediction["mean_latency_us"].get<double>(), 10'000.0);
  // Inline is one worker whatever the pool size.
  prediction = model_prediction(load, "sleep:10ms", "inline", 32);
  EXPECT_DOUBLE_EQ(prediction["throughput_rps"].get<double>(), 100.0);
  EXPECT_DOUBLE_EQ(prediction["workers"].get<double>(), 1.0);
}

TEST(ModelPrediction, ThinkTimeAndDepthEnterTheClosedLoop) {
  LoadSettings load;
  load.connections = 4;
  load.depth = 2;
  load.think_time = std::chrono::milliseconds(10);
  // N = 8, S = 10 ms, Z = 10 ms, c = 16: X = 8 / 20 ms = 400/s, R = 8/400 - 10 ms = 10 ms.
  const auto prediction = model_prediction(load, "sleep:10ms", "call-in-thread", 16);
  EXPECT_DOUBLE_EQ(prediction["throughput_rps"].get<double>(), 400.0);
  EXPECT_NEAR(prediction["mean_latency_us"].get<double>(), 10'000.0, 1e-6);
}

TEST(ModelPrediction, UsesTheCalibratedServiceTimeWhenGiven) {
  LoadSettings load;
  load.connections = 16;
  const auto prediction = model_prediction(load, "sleep:10ms", "call-in-thread", 4, 12'500.0);
  EXPECT_DOUBLE_EQ(prediction["throughput_rps"].get<double>(), 4 / 0.0125);
  EXPECT_EQ(prediction["service_time_source"], "calibrated");
  EXPECT_DOUBLE_EQ(prediction["nominal_service_time_us"].get<double>(), 10'000.0);
}

TEST(ModelPrediction, OpenLoopIsCappedByCapacity) {
  LoadSettings load;
  load.rate = 500;
  auto prediction = model_prediction(load, "sleep:10ms", "call-in-thread", 2);  // capacity 200/s
  EXPECT_DOUBLE_EQ(prediction["throughput_rps"].get<double>(), 200.0);
  EXPECT_DOUBLE_EQ(prediction["utilization"].get<double>(), 2.5);
}

TEST(ModelPrediction, NoModelForCpuBoundOrNoWork) {
  LoadSettings load;
  EXPECT_TRUE(model_prediction(load, "spin:200us", "call-in-thread", 4).is_null());
  EXPECT_TRUE(model_prediction(load, "none", "call-in-thread", 4).is_null());
  EXPECT_FALSE(model_prediction(load, "sleep:10ms,exp", "inline", 1)["exact"].get<bool>());
}

}  // namespace
}  // namespace poolbench
