#include "work.hpp"

#include <gtest/gtest.h>

#include <chrono>

namespace poolbench {
namespace {

using namespace std::chrono_literals;

TEST(WorkSpec, ParsesTheKindsAndUnits) {
  EXPECT_EQ(WorkSpec::parse("none").kind, WorkSpec::Kind::none);
  const auto sleep = WorkSpec::parse("sleep:10ms");
  EXPECT_EQ(sleep.kind, WorkSpec::Kind::sleep);
  EXPECT_EQ(sleep.duration, 10ms);
  EXPECT_EQ(WorkSpec::parse("spin:200us").duration, 200us);
  EXPECT_EQ(WorkSpec::parse("sleep:1s").duration, 1s);
  EXPECT_EQ(WorkSpec::parse("sleep:1.5ms").duration, 1500us);
  EXPECT_EQ(WorkSpec::parse("sleep:250ns").duration, 250ns);
}

TEST(WorkSpec, ParsesDistributionsAndOutliers) {
  const auto exp = WorkSpec::parse("sleep:10ms,exp");
  EXPECT_EQ(exp.distribution, WorkSpec::Distribution::exponential);
  const auto tail = WorkSpec::parse("sleep:1ms,p0.01=100ms,p0.001=1s");
  ASSERT_EQ(tail.outliers.size(), 2u);
  EXPECT_DOUBLE_EQ(tail.outliers[0].probability, 0.01);
  EXPECT_EQ(tail.outliers[0].duration, 100ms);
  EXPECT_EQ(tail.outliers[1].duration, 1s);
}

TEST(WorkSpec, CanonicalSpellingRoundTrips) {
  for (const char* text : {"none", "sleep:10ms", "spin:200us", "sleep:1s", "sleep:10ms,exp",
                           "sleep:1ms,p0.01=100ms", "spin:1500us,exp,p0.5=2ms"}) {
    EXPECT_EQ(WorkSpec::parse(text).to_string(), text);
  }
}

TEST(WorkSpec, RejectsBadSpecsWithAMessageThatSaysWhy) {
  for (const char* bad : {"", "sleep", "sleep:", "sleep:10", "sleep:10xs", "nap:1ms", "sleep:-1ms",
                          "sleep:1ms,p2=1ms", "sleep:1ms,p0.6=1ms,p0.6=1ms", "sleep:1ms,weird",
                          "sleep:1ms,p0.1=1ms,exp", "sleep:2h", "sleep:abcms"}) {
    try {
      WorkSpec::parse(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const std::invalid_argument& error) {
      EXPECT_NE(std::string(error.what()).find("bad work spec"), std::string::npos) << error.what();
    }
  }
}

TEST(WorkSpec, ExponentialSamplesHaveTheRequestedMean) {
  const auto spec = WorkSpec::parse("sleep:10ms,exp");
  std::mt19937_64 random(42);
  double total = 0;
  constexpr int kSamples = 200'000;
  for (int i = 0; i < kSamples; ++i)
    total += static_cast<double>(spec.sample(random).count());
  EXPECT_NEAR(total / kSamples / 1e6, 10.0, 0.1);
}

TEST(WorkSpec, MeanIncludesTheOutliers) {
  EXPECT_DOUBLE_EQ(WorkSpec::parse("sleep:10ms").mean_nanoseconds(), 10e6);
  EXPECT_DOUBLE_EQ(WorkSpec::parse("sleep:10ms,exp").mean_nanoseconds(), 10e6);
  EXPECT_NEAR(WorkSpec::parse("sleep:1ms,p0.01=100ms").mean_nanoseconds(), 0.99e6 + 1e6, 1e-3);
}

TEST(WorkSpec, OutliersHappenWithTheirProbability) {
  const auto spec = WorkSpec::parse("sleep:1ms,p0.1=100ms");
  std::mt19937_64 random(7);
  int outliers = 0;
  constexpr int kSamples = 100'000;
  for (int i = 0; i < kSamples; ++i)
    outliers += spec.sample(random) == 100ms;
  EXPECT_NEAR(outliers / double(kSamples), 0.1, 0.005);
}

TEST(Work, FailRateOneAlwaysThrowsAndZeroNever) {
  const Work always(WorkSpec::parse("none"), 1.0);
  EXPECT_THROW(always.perform(), InjectedFailure);
  const Work never(WorkSpec::parse("none"), 0.0);
  for (int i = 0; i < 1000; ++i)
    never.perform();
  EXPECT_THROW(Work(WorkSpec::parse("none"), 1.5), std::invalid_argument);
}

TEST(Work, SleepTakesAboutItsDuration) {
  const Work work(WorkSpec::parse("sleep:20ms"), 0);
  const auto start = std::chrono::steady_clock::now();
  work.perform();
  EXPECT_GE(std::chrono::steady_clock::now() - start, 20ms);
}

TEST(ParseDuration, AcceptsUnitsAndRejectsTheRest) {
  EXPECT_EQ(parse_duration("10s"), 10s);
  EXPECT_EQ(parse_duration("250ms"), 250ms);
  EXPECT_EQ(parse_duration("10"), 10s);  // a bare number is seconds
  EXPECT_EQ(parse_duration("1.5m"), 90s);
  EXPECT_EQ(parse_duration("2h"), 2h);
  EXPECT_THROW(parse_duration("ten s"), std::invalid_argument);
  EXPECT_THROW(parse_duration("-1s"), std::invalid_argument);
  EXPECT_THROW(parse_duration("5 parsecs"), std::invalid_argument);
  EXPECT_EQ(format_duration(90s), "90s");
  EXPECT_EQ(format_duration(1500us), "1500us");
  EXPECT_EQ(format_duration(2h), "2h");
  EXPECT_EQ(format_duration(0s), "0s");
}

}  // namespace
}  // namespace poolbench
