// The Universal Scalability Law (Gunther) fitted to throughput against pool size:
//
//   X(N) = lambda N / (1 + alpha (N - 1) + beta N (N - 1))
//
// lambda is the throughput of one worker, alpha the contention (the serial fraction: queueing
// for a shared resource), beta the coherency cost (every pair of workers paying to agree: the
// term that makes throughput fall again past a peak). With beta > 0 the throughput peaks at
// N* = sqrt((1 - alpha) / beta). The recommendation (recommendation.hpp) shows the fit beside
// the SLO capacities as a cross-check: where the measured curve bends, and whether it bends for
// contention (alpha) or falls for coherency (beta). loadgen/README.md §9 describes it.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace poolbench {

struct UslPoint {
  double pool = 0;        // N
  double throughput = 0;  // X(N), requests per second
};

struct UslParameters {
  double lambda = 0;
  double alpha = 0;
  double beta = 0;
};

struct UslFit {
  bool fitted = false;
  std::string reason;  // why not, when !fitted
  UslParameters parameters;
  // N* = sqrt((1 - alpha) / beta), at least 1; nullopt when beta == 0 (no peak: throughput
  // rises, or levels off at lambda / alpha, for ever).
  std::optional<double> peak_pool;
  std::vector<double> fitted_throughput;  // X(N) of the fit at each input point, in input order
  std::optional<double> r2;               // 1 - SSE / SST on X; nullopt when every X is the same
};

inline constexpr int kUslMinimumPoolSizes = 3;

// X(N) for the parameters.
double usl_throughput(const UslParameters& parameters, double pool);

// Least squares fit with alpha, beta >= 0. Needs kUslMinimumPoolSizes distinct pool sizes >= 1
// and positive throughputs, else fitted is false and reason says what is missing.
UslFit fit_usl(const std::vector<UslPoint>& points);

}  // namespace poolbench
