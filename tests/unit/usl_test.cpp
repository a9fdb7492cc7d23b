#include "usl.hpp"

#include <gtest/gtest.h>

#include <cmath>

namespace poolbench {
namespace {

std::vector<UslPoint> exact_points(const UslParameters& truth, const std::vector<double>& pools) {
  std::vector<UslPoint> points;
  for (const double pool : pools)
    points.push_back({pool, usl_throughput(truth, pool)});
  return points;
}

TEST(UslThroughput, IsTheLawItself) {
  // lambda N / (1 + alpha (N-1) + beta N (N-1)) = 100 * 4 / (1 + 0.3 + 0.12) at N = 4.
  EXPECT_DOUBLE_EQ(usl_throughput({100, 0.1, 0.01}, 4), 400 / 1.42);
  EXPECT_DOUBLE_EQ(usl_throughput({100, 0.1, 0.01}, 1), 100);
}

TEST(UslFit, RecoversKnownParametersFromExactData) {
  const UslParameters truth{96.0, 0.05, 0.002};
  const UslFit fit = fit_usl(exact_points(truth, {1, 2, 4, 8, 16, 32, 64}));
  ASSERT_TRUE(fit.fitted) << fit.reason;
  EXPECT_NEAR(fit.parameters.lambda, 96.0, 1e-6);
  EXPECT_NEAR(fit.parameters.alpha, 0.05, 1e-8);
  EXPECT_NEAR(fit.parameters.beta, 0.002, 1e-10);
  ASSERT_TRUE(fit.peak_pool.has_value());
  EXPECT_NEAR(*fit.peak_pool, std::sqrt(0.95 / 0.002), 1e-4);  // 21.79
  ASSERT_TRUE(fit.r2.has_value());
  EXPECT_NEAR(*fit.r2, 1.0, 1e-12);
  ASSERT_EQ(fit.fitted_throughput.size(), 7u);
  EXPECT_NEAR(fit.fitted_throughput[3], usl_throughput(truth, 8), 1e-6);
}

TEST(UslFit, NeedsNoPoolOfOneForLambda) {
  const UslParameters truth{50.0, 0.2, 0.01};
  const UslFit fit = fit_usl(exact_points(truth, {2, 4, 8, 16}));
  ASSERT_TRUE(fit.fitted) << fit.reason;
  EXPECT_NEAR(fit.parameters.lambda, 50.0, 1e-6);
  EXPECT_NEAR(fit.parameters.alpha, 0.2, 1e-8);
  EXPECT_NEAR(fit.parameters.beta, 0.01, 1e-10);
}

TEST(UslFit, NoCoherencyCostMeansNoFinitePeak) {
  // Amdahl's law (beta = 0): throughput levels off at lambda / alpha and never falls.
  const UslFit fit = fit_usl(exact_points({100.0, 0.1, 0.0}, {1, 2, 4, 8, 16, 32}));
  ASSERT_TRUE(fit.fitted) << fit.reason;
  EXPECT_EQ(fit.parameters.beta, 0.0);
  EXPECT_FALSE(fit.peak_pool.has_value());
  EXPECT_NEAR(fit.parameters.alpha, 0.1, 1e-8);
  EXPECT_NEAR(fit.parameters.lambda, 100.0, 1e-6);
}

TEST(UslFit, KeepsAlphaAndBetaNonNegativeForSuperlinearData) {
  // Throughput that grows faster than N (a cache warming up) would need alpha < 0.
  const UslFit fit = fit_usl({{1, 100}, {2, 230}, {4, 520}, {8, 1100}});
  ASSERT_TRUE(fit.fitted) << fit.reason;
  EXPECT_GE(fit.parameters.alpha, 0.0);
  EXPECT_GE(fit.parameters.beta, 0.0);
  EXPECT_GT(fit.parameters.lambda, 100.0);  // the best linear lambda N through the points
}

TEST(UslFit, NoisyDataFitsCloselyWithThePeakNearTheTruePeak) {
  const UslParameters truth{100.0, 0.03, 0.001};
  std::vector<UslPoint> points = exact_points(truth, {1, 2, 4, 8, 16, 32, 64});
  const double noise[] = {1.02, 0.98, 1.01, 0.99, 1.02, 0.97, 1.01};
  for (std::size_t i = 0; i < points.size(); ++i)
    points[i].throughput *= noise[i];
  const UslFit fit = fit_usl(points);
  ASSERT_TRUE(fit.fitted) << fit.reason;
  EXPECT_GT(*fit.r2, 0.98);
  ASSERT_TRUE(fit.peak_pool.has_value());
  EXPECT_NEAR(*fit.peak_pool, std::sqrt(0.97 / 0.001), 6.0);  // 31.1
}

TEST(UslFit, FewerThanThreePoolSizesIsNotFitted) {
  const UslFit fit = fit_usl({{1, 100}, {2, 190}, {2, 185}});
  EXPECT_FALSE(fit.fitted);
  EXPECT_EQ(fit.reason, "fewer than 3 pool sizes with a throughput (2)");
  EXPECT_FALSE(fit.peak_pool.has_value());
}

TEST(UslFit, ANonPositiveThroughputIsRefused) {
  const UslFit fit = fit_usl({{1, 100}, {2, 0}, {4, 300}});
  EXPECT_FALSE(fit.fitted);
  EXPECT_NE(fit.reason.find("positive throughput"), std::string::npos);
}

}  // namespace
}  // namespace poolbench
