// Run statistics: a histogram's summary, distribution-free confidence intervals of
// percentiles, and Student's t interval of a mean over repetitions.
#include "result_statistics.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

#include "histogram.hpp"
#include "run_result.hpp"
#include "sample_run.hpp"

namespace poolbench {
namespace {

using json = nlohmann::json;
using testing::histogram_of;

TEST(HistogramSummary, AnEmptyHistogramSummarisesAsZeros) {
  const json summary = histogram_summary(make_latency_histogram());
  EXPECT_EQ(summary["count"], 0);
  EXPECT_EQ(summary["min"], 0);
  EXPECT_EQ(summary["max"], 0);
  EXPECT_EQ(summary["p99"], 0);
  EXPECT_EQ(summary["ci95"]["p99"], "insufficient");
}

TEST(PercentileCi, NeedsSamplesBeyondThePercentile) {
  std::vector<std::int64_t> values;
  for (int i = 1; i <= 298; ++i)
    values.push_back(i);
  EXPECT_FALSE(percentile_ci95(histogram_of(values), 99).sufficient);  // n < 299
  values.push_back(299);
  EXPECT_TRUE(percentile_ci95(histogram_of(values), 99).sufficient);
  EXPECT_FALSE(percentile_ci95(histogram_of(values), 99.9).sufficient);
}

TEST(PercentileCi, BracketsThePercentileOfALargeSample) {
  std::vector<std::int64_t> values;
  for (int i = 1; i <= 100'000; ++i)
    values.push_back(i % 2000 + 1);  // exact below 2048
  const Histogram h = histogram_of(values);
  for (double p : {50.0, 90.0, 99.0, 99.9}) {
    const PercentileInterval ci = percentile_ci95(h, p);
    ASSERT_TRUE(ci.sufficient) << p;
    EXPECT_LE(ci.low, h.value_at_percentile(p)) << p;
    EXPECT_GE(ci.high, h.value_at_percentile(p)) << p;
    EXPECT_LE(ci.high - ci.low, 60) << p;  // about +-1% of the range at n = 10^5
  }
}

TEST(MeanCi, IsStudentsTIntervalOfTheSamples) {
  // n = 3: s = 1, t(2 degrees of freedom) = 4.303.
  const MeanInterval ci = mean_ci95({1.0, 2.0, 3.0});
  EXPECT_DOUBLE_EQ(ci.mean, 2.0);
  EXPECT_DOUBLE_EQ(ci.low, 2.0 - 4.303 / std::sqrt(3.0));
  EXPECT_DOUBLE_EQ(ci.high, 2.0 + 4.303 / std::sqrt(3.0));
  // Beyond 30 degrees of freedom the normal quantile.
  std::vector<double> samples;
  for (int i = 0; i < 40; ++i)
    samples.push_back(i % 2 == 0 ? 9.0 : 11.0);
  const MeanInterval large = mean_ci95(samples);
  const double s = std::sqrt(40.0 / 39.0);
  EXPECT_DOUBLE_EQ(large.mean, 10.0);
  EXPECT_NEAR(large.high - large.mean, 1.96 * s / std::sqrt(40.0), 1e-12);
}

}  // namespace
}  // namespace poolbench
