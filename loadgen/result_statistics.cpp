// Percentile confidence intervals, the histogram summary of the run documents and Student's t
// interval of a mean.
#include "result_statistics.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <utility>

namespace poolbench {
namespace {

using json = nlohmann::json;

struct PercentileName {
  const char* name;
  double percentile;
};
constexpr PercentileName kPercentiles[] = {{"p50", 50}, {"p75", 75},     {"p90", 90},
                                           {"p99", 99}, {"p99_9", 99.9}, {"p99_99", 99.99}};
constexpr PercentileName kCiPercentiles[] = {
    {"p50", 50}, {"p90", 90}, {"p99", 99}, {"p99_9", 99.9}, {"p99_99", 99.99}};

}  // namespace

std::int64_t samples_for_interval(double percentile) {
  // At least one sample must lie beyond the percentile with 95% probability: 1 - p^n >= 0.95.
  return static_cast<std::int64_t>(std::ceil(std::log(0.05) / std::log(percentile / 100.0)));
}

PercentileInterval percentile_ci95(const Histogram& histogram, double percentile) {
  PercentileInterval ci;
  const std::int64_t n = histogram.total_count();
  const double p = percentile / 100.0;
  if (n <= 0 || p <= 0 || p >= 1) return ci;
  if (n < samples_for_interval(percentile)) return ci;
  const double nd = static_cast<double>(n);
  const double spread = 1.959964 * std::sqrt(nd * p * (1 - p));
  const auto low_rank = static_cast<std::int64_t>(std::max(1.0, std::floor(nd * p - spread)));
  const auto high_rank = static_cast<std::int64_t>(std::min(nd, std::ceil(nd * p + spread) + 1));
  auto value_at_rank = [&](std::int64_t rank) {
    return histogram.value_at_percentile(100.0 * static_cast<double>(rank) / nd);
  };
  ci.sufficient = true;
  ci.low = value_at_rank(low_rank);
  ci.high = value_at_rank(high_rank);
  return ci;
}

json histogram_summary(const Histogram& h) {
  const bool empty = h.total_count() == 0;
  json summary = {{"count", h.total_count()},
                  {"min", empty ? 0 : h.min()},
                  {"mean", empty ? 0.0 : h.mean()},
                  {"stdev", empty ? 0.0 : h.stddev()}};
  for (const auto& [name, percentile] : kPercentiles) {
    summary[name] = empty ? 0 : h.value_at_percentile(percentile);
  }
  summary["max"] = empty ? 0 : h.max();
  summary["histogram"] = h.encode_v2_base64();
  json ci = json::object();
  for (const auto& [name, percentile] : kCiPercentiles) {
    const PercentileInterval interval = percentile_ci95(h, percentile);
    ci[name] =
        interval.sufficient ? json::array({interval.low, interval.high}) : json("insufficient");
  }
  summary["ci95"] = std::move(ci);
  return summary;
}

MeanInterval mean_ci95(const std::vector<double>& samples) {
  // The 97.5% quantiles of Student's t for 1 to 30 degrees of freedom; beyond, the normal's.
  constexpr double kT975[] = {12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306,
                              2.262,  2.228, 2.201, 2.179, 2.160, 2.145, 2.131, 2.120,
                              2.110,  2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
                              2.060,  2.056, 2.052, 2.048, 2.045, 2.042};
  const std::size_t n = samples.size();
  double mean = 0;
  for (double sample : samples)
    mean += sample;
  mean /= static_cast<double>(n);
  double squared_deviations = 0;
  for (double sample : samples)
    squared_deviations += (sample - mean) * (sample - mean);
  const double stddev = std::sqrt(squared_deviations / static_cast<double>(n - 1));
  const double t = n - 1 <= 30 ? kT975[n - 2] : 1.96;
  const double half_width = t * stddev / std::sqrt(static_cast<double>(n));
  return {mean, mean - half_width, mean + half_width};
}

}  // namespace poolbench
