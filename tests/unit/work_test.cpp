#include "work.hpp"

#include <gtest/gtest.h>

#include <pthread.h>
#include <sched.h>

#include <chrono>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

namespace poolbench {
namespace {

using namespace std::chrono_literals;

// The grammar's contract, shared with the Python peer: tests/data/work_specs.json.
nlohmann::json grammar_cases() {
  std::ifstream file(std::string(POOLBENCH_SOURCE_DIR) + "/tests/data/work_specs.json");
  return nlohmann::json::parse(file);
}

TEST(WorkSpec, AcceptsTheSharedValidSpecsWithTheirCanonicalSpellingAndCosts) {
  const auto cases = grammar_cases();
  ASSERT_FALSE(cases["valid"].empty());
  for (const auto& c : cases["valid"]) {
    const std::string text = c["spec"];
    const WorkSpec spec = WorkSpec::parse(text);
    EXPECT_EQ(spec.to_string(), c["canonical"].get<std::string>()) << text;
    EXPECT_EQ(WorkSpec::parse(spec.to_string()).to_string(), spec.to_string()) << text;
    EXPECT_NEAR(spec.mean_cpu_nanoseconds(), c["cpu_ns"].get<double>(), 1e-3) << text;
    EXPECT_NEAR(spec.mean_blocking_nanoseconds(), c["blocking_ns"].get<double>(), 1e-3) << text;
  }
}

TEST(WorkSpec, RejectsTheSharedBadSpecsWithTheSharedMessages) {
  const auto cases = grammar_cases();
  const std::string grammar = cases["grammar"];
  ASSERT_FALSE(cases["invalid"].empty());
  for (const auto& c : cases["invalid"]) {
    const std::string text = c["spec"];
    try {
      WorkSpec::parse(text);
      ADD_FAILURE() << "accepted '" << text << "'";
    } catch (const std::invalid_argument& error) {
      EXPECT_EQ(error.what(), c["error"].get<std::string>() + "; " + grammar);
    }
  }
}

TEST(WorkSpec, KeepsThePartsInOrderWithTheirOwnOptions) {
  const auto spec = WorkSpec::parse("spin:2ms,p0.01=50ms+sleep:8ms,exp");
  ASSERT_EQ(spec.parts.size(), 2u);
  EXPECT_EQ(spec.parts[0].kind, WorkPart::Kind::kSpin);
  EXPECT_EQ(spec.parts[0].duration, 2ms);
  ASSERT_EQ(spec.parts[0].outliers.size(), 1u);
  EXPECT_EQ(spec.parts[0].outliers[0].duration, 50ms);
  EXPECT_EQ(spec.parts[1].kind, WorkPart::Kind::kSleep);
  EXPECT_EQ(spec.parts[1].distribution, WorkPart::Distribution::kExponential);
  EXPECT_TRUE(spec.parts[1].outliers.empty());
  EXPECT_FALSE(spec.is_fixed());
  EXPECT_TRUE(WorkSpec::parse("spin:2ms+sleep:8ms").is_fixed());
  EXPECT_TRUE(WorkSpec::parse("none").parts.empty());
}

TEST(WorkSpec, ExponentialSamplesHaveTheRequestedMean) {
  const auto spec = WorkSpec::parse("sleep:10ms,exp").parts[0];
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
  const auto spec = WorkSpec::parse("sleep:1ms,p0.1=100ms").parts[0];
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

// A spin costs its duration in CPU time, not in wall time: two spins that must share one CPU
// each still use their whole duration of CPU, so together they take at least twice as long on
// the wall clock. (Model-level facts; a slow or busy machine only makes the wall time longer.)
TEST(Work, SpinCostsItsDurationInThreadCpuTimeEvenOnASharedCpu) {
  cpu_set_t allowed;
  ASSERT_EQ(sched_getaffinity(0, sizeof allowed, &allowed), 0);
  int one_cpu = 0;
  while (!CPU_ISSET(one_cpu, &allowed))
    ++one_cpu;
  const Work work(WorkSpec::parse("spin:50ms"), 0);
  std::chrono::nanoseconds used[2]{};
  const auto start = std::chrono::steady_clock::now();
  std::thread spinners[2];
  for (int i = 0; i < 2; ++i) {
    spinners[i] = std::thread([&, i] {
      cpu_set_t only;
      CPU_ZERO(&only);
      CPU_SET(one_cpu, &only);
      pthread_setaffinity_np(pthread_self(), sizeof only, &only);
      const auto before = thread_cpu_time();
      work.perform();
      used[i] = thread_cpu_time() - before;
    });
  }
  for (auto& spinner : spinners)
    spinner.join();
  const auto wall = std::chrono::steady_clock::now() - start;
  for (const auto cpu : used) {
    EXPECT_GE(cpu, 50ms);
    EXPECT_LT(cpu, 60ms) << "a spin overshot its CPU time by more than 10 ms";
  }
  EXPECT_GE(wall, 95ms) << "two 50 ms spins on one CPU finished in less than 2 x 50 ms";
}

TEST(Work, PartsRunInTurnSpinThenSleep) {
  const Work work(WorkSpec::parse("spin:10ms+sleep:20ms"), 0);
  const auto cpu_before = thread_cpu_time();
  const auto start = std::chrono::steady_clock::now();
  work.perform();
  const auto wall = std::chrono::steady_clock::now() - start;
  const auto cpu = thread_cpu_time() - cpu_before;
  EXPECT_GE(cpu, 10ms);
  EXPECT_LT(cpu, 20ms) << "the sleep part must not use CPU";
  EXPECT_GE(wall, 30ms);
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
