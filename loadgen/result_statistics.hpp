// Statistics for the run documents: the summary of one histogram (count, moments, percentiles
// and their 95% confidence intervals) and the 95% confidence interval of a mean over repeated
// runs.
//
// Use: doc["latency_us"] = histogram_summary(h); percentile_ci95(h, 99.0) for one percentile's
// interval; mean_ci95(throughputs) for repetitions of one experiment.
#pragma once

#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

#include "histogram.hpp"

namespace poolbench {

// {count, min, mean, stdev, p50, p75, p90, p99, p99_9, p99_99, max, histogram (V2 base64),
//  ci95: {p50, p90, p99, p99_9, p99_99: [low, high] or "insufficient"}}, values in the
// histogram's unit (microseconds here). An empty histogram gives zeros.
nlohmann::json histogram_summary(const Histogram& histogram);

// A 95% distribution-free confidence interval for a percentile from binomial order statistics
// (normal approximation to the ranks); nullopt-like `insufficient` when the sample is too small
// to put any sample beyond the percentile (n < log(0.05)/log(p), e.g. p99: n < 299).
// The fewest samples for which that interval exists at all: one sample beyond the percentile
// with 95% probability, n >= log(0.05) / log(p) (299 for p99).
std::int64_t samples_for_interval(double percentile);

struct PercentileInterval {
  bool sufficient = false;
  std::int64_t low = 0;
  std::int64_t high = 0;
};
PercentileInterval percentile_ci95(const Histogram& histogram, double percentile);

// The mean of `samples` and its 95% interval mean +- t * s / sqrt(n), s the sample standard
// deviation and t the 97.5% quantile of Student's t with n - 1 degrees of freedom. Needs at
// least two samples.
struct MeanInterval {
  double mean = 0;
  double low = 0;
  double high = 0;
};
MeanInterval mean_ci95(const std::vector<double>& samples);

}  // namespace poolbench
