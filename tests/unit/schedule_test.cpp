// Open-loop arrival plans: exact uniform times without drift, Poisson gaps that are
// exponential (Kolmogorov-Smirnov), lanes (threads, shares) that are
// exactly the total plan together.
#include "schedule.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <vector>

namespace poolbench {
namespace {

using std::chrono::nanoseconds;

// The KS statistic of `samples` against Exp(rate).
double ks_exponential(std::vector<double> samples, double rate) {
  std::sort(samples.begin(), samples.end());
  const double n = static_cast<double>(samples.size());
  double d = 0;
  for (std::size_t i = 0; i < samples.size(); ++i) {
    const double cdf = 1 - std::exp(-rate * samples[i]);
    d = std::max({d, static_cast<double>(i + 1) / n - cdf, cdf - static_cast<double>(i) / n});
  }
  return d;
}

TEST(UniformPlan, IntendedTimesAreExactlyKOverRate) {
  ArrivalPlan plan(Arrival::kUniform, 1000, 0, 1, 1);
  for (std::int64_t k = 0; k < 10'000; ++k) {
    ASSERT_EQ(plan.next().count(), k * 1'000'000) << "k = " << k;
  }
}

TEST(UniformPlan, NoDriftAfterTenMillionArrivalsAtAnAwkwardRate) {
  // 3 requests/s: the period 333,333,333.3 ns is not an integer; summing rounded gaps would
  // drift by 1/3 ns per arrival (3.3 ms after 10^7), computing from k does not drift at all.
  constexpr double kRate = 3;
  ArrivalPlan plan(Arrival::kUniform, kRate, 0, 1, 1);
  nanoseconds previous{-1};
  for (std::int64_t k = 0; k < 10'000'000; ++k) {
    const nanoseconds t = plan.next();
    const long double exact = static_cast<long double>(k) * 1e9L / kRate;
    ASSERT_LE(std::fabs(static_cast<long double>(t.count()) - exact), 0.5L) << "k = " << k;
    ASSERT_GT(t, previous);
    previous = t;
  }
}

TEST(UniformPlan, ThreadSharesInterleaveIntoTheTotalPlan) {
  constexpr int kThreads = 3;
  constexpr double kRate = 700;
  std::vector<ArrivalPlan> plans;
  for (int t = 0; t < kThreads; ++t)
    plans.emplace_back(Arrival::kUniform, kRate, t, kThreads, 1);
  std::vector<std::int64_t> merged;
  for (int i = 0; i < 1000; ++i) {
    for (auto& plan : plans)
      merged.push_back(plan.next().count());
  }
  std::sort(merged.begin(), merged.end());
  ArrivalPlan total(Arrival::kUniform, kRate, 0, 1, 1);
  for (std::size_t k = 0; k < merged.size(); ++k) {
    ASSERT_EQ(merged[k], total.next().count()) << "k = " << k;
  }
}

TEST(PoissonPlan, GapsPassAKolmogorovSmirnovTestAgainstTheExponential) {
  constexpr double kRate = 5000;  // per second
  constexpr int kSamples = 20'000;
  ArrivalPlan plan(Arrival::kPoisson, kRate, 0, 1, 42);
  std::vector<double> gaps;
  double previous = 0;
  double sum = 0;
  for (int i = 0; i < kSamples; ++i) {
    const double t = static_cast<double>(plan.next().count()) * 1e-9;
    ASSERT_GE(t, previous);
    gaps.push_back(t - previous);
    sum += t - previous;
    previous = t;
  }
  // Critical value at alpha = 0.01: 1.628 / sqrt(n).
  EXPECT_LT(ks_exponential(gaps, kRate), 1.628 / std::sqrt(static_cast<double>(kSamples)));
  EXPECT_NEAR(sum / kSamples, 1 / kRate, 0.03 / kRate);  // mean gap within 3% (~4 sigma)
  // And the test has power: gaps of the wrong rate fail it.
  EXPECT_GT(ks_exponential(gaps, kRate * 1.1), 1.628 / std::sqrt(static_cast<double>(kSamples)));
}

TEST(PoissonPlan, ThreadSharesSuperposeIntoAPoissonProcessOfTheTotalRate) {
  constexpr double kRate = 2000;
  constexpr int kThreads = 2;
  std::vector<double> times;
  for (int t = 0; t < kThreads; ++t) {
    ArrivalPlan plan(Arrival::kPoisson, kRate, t, kThreads, 7);
    for (;;) {
      const double s = static_cast<double>(plan.next().count()) * 1e-9;
      if (s > 5.0) break;
      times.push_back(s);
    }
  }
  std::sort(times.begin(), times.end());
  std::vector<double> gaps;
  for (std::size_t i = 1; i < times.size(); ++i)
    gaps.push_back(times[i] - times[i - 1]);
  EXPECT_NEAR(static_cast<double>(times.size()), kRate * 5, 4 * std::sqrt(kRate * 5));
  EXPECT_LT(ks_exponential(gaps, kRate), 1.628 / std::sqrt(static_cast<double>(gaps.size())));
}

TEST(PoissonPlan, TheSeedMakesItReproducible) {
  ArrivalPlan a(Arrival::kPoisson, 100, 1, 2, 9);
  ArrivalPlan b(Arrival::kPoisson, 100, 1, 2, 9);
  ArrivalPlan c(Arrival::kPoisson, 100, 1, 2, 10);
  ArrivalPlan other_thread(Arrival::kPoisson, 100, 0, 2, 9);
  bool differs_by_seed = false;
  bool differs_by_thread = false;
  for (int i = 0; i < 100; ++i) {
    const auto t = a.next();
    ASSERT_EQ(t, b.next());
    differs_by_seed |= t != c.next();
    differs_by_thread |= t != other_thread.next();
  }
  EXPECT_TRUE(differs_by_seed);
  EXPECT_TRUE(differs_by_thread);
}

// Seeds s and s + 1 must not share a stream shifted by one draw (they did when the seed only
// offset SplitMix64's state, which advances by a constant): the search seeds its trials s, s + 1,
// ... and needs them independent.
TEST(PoissonPlan, NeighbouringSeedsAreNotTheSameStreamShifted) {
  constexpr int kDraws = 200;
  auto gaps_of = [](std::uint64_t seed) {
    ArrivalPlan plan(Arrival::kPoisson, 100, 0, 1, seed);
    std::vector<std::int64_t> gaps;
    std::int64_t last = 0;
    for (int i = 0; i < kDraws + 1; ++i) {
      const std::int64_t t = plan.next().count();
      gaps.push_back(t - last);
      last = t;
    }
    return gaps;
  };
  const auto first = gaps_of(1);
  const auto second = gaps_of(2);
  for (int shift = -2; shift <= 2; ++shift) {
    int equal = 0;
    for (int i = 2; i < kDraws - 2; ++i)
      equal += first[i] == second[i + shift];
    EXPECT_LT(equal, 3) << "seed 2 replays seed 1 shifted by " << shift;
  }
}

// Skipping to `bound` counts exactly the arrivals next() would yield before it, then yields the
// same next one; a second skip to the same bound counts none.
void expect_skip_matches_stepping(Arrival arrival, double rate, int lane, int lanes,
                                  std::initializer_list<nanoseconds> bounds) {
  for (const nanoseconds bound : bounds) {
    ArrivalPlan stepped(arrival, rate, lane, lanes, 5);
    ArrivalPlan skipped(arrival, rate, lane, lanes, 5);
    stepped.next();  // both start part-way through the plan
    skipped.next();
    std::uint64_t before = 0;
    nanoseconds next = stepped.next();
    for (; next < bound; next = stepped.next())
      ++before;
    EXPECT_EQ(skipped.skip_to(bound), before) << to_string(arrival) << " " << bound.count();
    EXPECT_EQ(skipped.next(), next) << to_string(arrival) << " " << bound.count();
    EXPECT_EQ(skipped.skip_to(bound), 0u) << "nothing is left before the bound twice";
  }
}

TEST(ArrivalPlan, SkippingCountsExactlyWhatNextWouldHaveYielded) {
  // Uniform: an awkward rate and lane, so the rounding next() uses is exercised at every bound.
  expect_skip_matches_stepping(Arrival::kUniform, 3001, 1, 3,
                               {nanoseconds(0), nanoseconds(1), nanoseconds(999'999'999),
                                nanoseconds(1'000'000'000), nanoseconds(3'141'592'653)});
  // Poisson: below 65,536 arrivals the lane steps through the one stream, exactly.
  expect_skip_matches_stepping(Arrival::kPoisson, 20'000, 2, 3,
                               {nanoseconds(0), nanoseconds(1'000'000), nanoseconds(500'000'000)});
}

TEST(UniformPlan, SkippingABillionOverdueArrivalsIsImmediate) {
  ArrivalPlan plan(Arrival::kUniform, 1e9, 0, 1, 1);
  EXPECT_EQ(plan.skip_to(nanoseconds(60'000'000'000)), 60'000'000'000u);
  EXPECT_EQ(plan.next(), nanoseconds(60'000'000'000));
}

TEST(PoissonPlan, SkippingCountsAsManyArrivalsAsThePlanWouldHaveOnAverage) {
  // Small (drawn one by one) and large (normal approximation) expected counts alike: the mean
  // count over many skips is rate x span, its variance too, and the next arrival comes after.
  for (const double expected : {3.0, 50.0, 1e4, 1e9}) {
    ArrivalPlan plan(Arrival::kPoisson, expected, 0, 1, 7);  // rate `expected`/s, spans of 1 s
    constexpr int kSkips = 2000;
    double sum = 0;
    double sum_sq = 0;
    nanoseconds bound{0};
    for (int i = 0; i < kSkips; ++i) {
      bound += nanoseconds(1'000'000'000);
      const auto count = static_cast<double>(plan.skip_to(bound));
      sum += count;
      sum_sq += count * count;
    }
    const double mean = sum / kSkips;
    const double variance = sum_sq / kSkips - mean * mean;
    EXPECT_NEAR(mean, expected, 5 * std::sqrt(expected / kSkips)) << expected;
    EXPECT_NEAR(variance / expected, 1.0, 0.15) << expected;
    EXPECT_GE(plan.next(), bound) << expected;
  }
}

// --segment i/N with T threads per share: lane i + N * j of N * T. Whatever N and T, the lanes
// together are exactly the single-process plan of the same rate and seed: the same times.
TEST(ArrivalPlan, TheLanesOfEveryShareAndThreadAreExactlyTheTotalPlan) {
  constexpr double kRate = 5000;
  const nanoseconds horizon(2'000'000'000);
  for (const Arrival arrival : {Arrival::kUniform, Arrival::kPoisson}) {
    auto arrivals_of = [&](int index, int count, std::vector<std::int64_t>& into) {
      ArrivalPlan plan(arrival, kRate, index, count, 11);
      for (nanoseconds t = plan.next(); t < horizon; t = plan.next())
        into.push_back(t.count());
    };
    std::vector<std::int64_t> total;
    arrivals_of(0, 1, total);
    ASSERT_NEAR(static_cast<double>(total.size()), kRate * 2, 5 * std::sqrt(kRate * 2));
    for (const auto& [shares, threads] : {std::pair{1, 2}, {2, 1}, {2, 3}, {3, 2}, {4, 1}}) {
      std::vector<std::int64_t> lanes;
      for (int share = 0; share < shares; ++share) {
        for (int thread = 0; thread < threads; ++thread)
          arrivals_of(share + shares * thread, shares * threads, lanes);
      }
      std::sort(lanes.begin(), lanes.end());
      EXPECT_EQ(lanes, total) << to_string(arrival) << " " << shares << " shares x " << threads
                              << " threads";
    }
  }
}

TEST(ArrivalNames, ParseAndPrint) {
  EXPECT_EQ(parse_arrival("uniform"), Arrival::kUniform);
  EXPECT_EQ(parse_arrival("constant"), Arrival::kUniform);
  EXPECT_EQ(parse_arrival("poisson"), Arrival::kPoisson);
  EXPECT_EQ(to_string(Arrival::kPoisson), "poisson");
  EXPECT_THROW(parse_arrival("bursty"), std::invalid_argument);
  EXPECT_THROW(ArrivalPlan(Arrival::kUniform, 0, 0, 1, 1), std::invalid_argument);
}

}  // namespace
}  // namespace poolbench
