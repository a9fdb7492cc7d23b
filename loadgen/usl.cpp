// The fit in two steps.
//
// 1. A start that needs no guess. N / X(N) = (1 + alpha (N-1) + beta N (N-1)) / lambda is
//    linear in a = 1 / lambda, b = alpha / lambda, c = beta / lambda, so ordinary least squares
//    of N / X on the columns 1, N - 1, N (N - 1) gives all three at once, without taking lambda
//    from X(1) (which a noisy or missing pool-1 point would carry into alpha and beta). The
//    constraint alpha, beta >= 0 is kept by trying every subset of {b, c} free (the others 0)
//    and keeping the best feasible one: with two constrained coefficients that is exact.
// 2. A refinement on X itself. Step 1 minimises errors in N / X, which weights the large pools
//    (large N / X) most; the question asked of the fit is about throughput, so damped
//    Gauss-Newton then minimises the squared errors of X, each step projected onto
//    alpha, beta >= 0 and kept only if it lowers the error (so the result is never worse than
//    the start). Exact USL data is already exact after step 1.
#include "usl.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <set>

namespace poolbench {
namespace {

using Vector3 = std::array<double, 3>;
using Matrix3 = std::array<Vector3, 3>;

// Solves a x = b for the first `size` unknowns (Gaussian elimination, partial pivoting).
std::optional<Vector3> solve(Matrix3 a, Vector3 b, int size) {
  for (int column = 0; column < size; ++column) {
    int pivot = column;
    for (int row = column + 1; row < size; ++row) {
      if (std::abs(a[row][column]) > std::abs(a[pivot][column])) pivot = row;
    }
    if (std::abs(a[pivot][column]) < 1e-300) return std::nullopt;
    std::swap(a[column], a[pivot]);
    std::swap(b[column], b[pivot]);
    for (int row = column + 1; row < size; ++row) {
      const double factor = a[row][column] / a[column][column];
      for (int k = column; k < size; ++k)
        a[row][k] -= factor * a[column][k];
      b[row] -= factor * b[column];
    }
  }
  Vector3 x{};
  for (int row = size - 1; row >= 0; --row) {
    double sum = b[row];
    for (int k = row + 1; k < size; ++k)
      sum -= a[row][k] * x[k];
    x[row] = sum / a[row][row];
  }
  return x;
}

double sum_of_squares(const std::vector<UslPoint>& points, const UslParameters& parameters) {
  double sse = 0;
  for (const UslPoint& p : points) {
    const double error = p.throughput - usl_throughput(parameters, p.pool);
    sse += error * error;
  }
  return sse;
}

// Step 1 with the columns in `free_columns` (0: 1, 1: N - 1, 2: N (N - 1)) fitted, the others 0.
std::optional<Vector3> reciprocal_fit(const std::vector<UslPoint>& points,
                                      const std::vector<int>& free_columns) {
  const int size = static_cast<int>(free_columns.size());
  Matrix3 normal{};
  Vector3 right{};
  for (const UslPoint& p : points) {
    const Vector3 row{1.0, p.pool - 1, p.pool * (p.pool - 1)};
    const double y = p.pool / p.throughput;
    for (int i = 0; i < size; ++i) {
      right[i] += row[free_columns[i]] * y;
      for (int j = 0; j < size; ++j)
        normal[i][j] += row[free_columns[i]] * row[free_columns[j]];
    }
  }
  const auto solution = solve(normal, right, size);
  if (!solution) return std::nullopt;
  Vector3 coefficients{};
  for (int i = 0; i < size; ++i)
    coefficients[free_columns[i]] = (*solution)[i];
  return coefficients;
}

// Step 1: the best feasible (a > 0, b >= 0, c >= 0) subset fit, judged on X.
UslParameters linear_start(const std::vector<UslPoint>& points) {
  std::optional<UslParameters> best;
  double best_sse = 0;
  for (const std::vector<int>& free_columns : {std::vector<int>{0, 1, 2}, std::vector<int>{0, 1},
                                               std::vector<int>{0, 2}, std::vector<int>{0}}) {
    const auto c = reciprocal_fit(points, free_columns);
    if (!c || (*c)[0] <= 0 || (*c)[1] < 0 || (*c)[2] < 0) continue;
    const UslParameters candidate{1 / (*c)[0], (*c)[1] / (*c)[0], (*c)[2] / (*c)[0]};
    const double sse = sum_of_squares(points, candidate);
    if (!best || sse < best_sse) {
      best = candidate;
      best_sse = sse;
    }
  }
  return *best;  // {0} alone is the mean of N / X > 0: always feasible
}

// One damped Gauss-Newton direction for (lambda, alpha, beta) on the errors of X.
std::optional<Vector3> gauss_newton_step(const std::vector<UslPoint>& points,
                                         const UslParameters& q, double damping) {
  Matrix3 normal{};
  Vector3 right{};
  for (const UslPoint& p : points) {
    const double n = p.pool;
    const double denominator = 1 + q.alpha * (n - 1) + q.beta * n * (n - 1);
    const double fitted = q.lambda * n / denominator;
    const Vector3 gradient{n / denominator, -fitted * (n - 1) / denominator,
                           -fitted * n * (n - 1) / denominator};
    for (int i = 0; i < 3; ++i) {
      right[i] += gradient[i] * (p.throughput - fitted);
      for (int j = 0; j < 3; ++j)
        normal[i][j] += gradient[i] * gradient[j];
    }
  }
  for (int i = 0; i < 3; ++i)
    normal[i][i] *= 1 + damping;
  return solve(normal, right, 3);
}

// Step 2: accepted steps only, halving a step (up to 30 times) that does not lower the error;
// stops when a step gains less than a relative 1e-12.
UslParameters refine(const std::vector<UslPoint>& points, UslParameters q) {
  double sse = sum_of_squares(points, q);
  for (int iteration = 0; iteration < 100 && sse > 0; ++iteration) {
    const auto step = gauss_newton_step(points, q, 1e-9);
    if (!step) break;
    const double previous_sse = sse;
    for (double t = 1; t > 1e-9; t /= 2) {
      const UslParameters trial{std::max(q.lambda + t * (*step)[0], 1e-300),
                                std::max(q.alpha + t * (*step)[1], 0.0),
                                std::max(q.beta + t * (*step)[2], 0.0)};
      const double trial_sse = sum_of_squares(points, trial);
      if (trial_sse < sse) {
        q = trial;
        sse = trial_sse;
        break;
      }
    }
    if (previous_sse - sse <= 1e-12 * previous_sse) break;
  }
  return q;
}

// A beta whose term changes X at the largest measured pool by less than a part in 1e9 is
// round-off from the fit, not a coherency cost the data shows: it would report a peak
// thousands of times beyond the grid. It is set to 0 (no peak).
void drop_round_off_beta(const std::vector<UslPoint>& points, UslParameters& q) {
  double largest = 0;
  for (const UslPoint& p : points)
    largest = std::max(largest, p.pool);
  const double coherency = q.beta * largest * (largest - 1);
  if (coherency < 1e-9 * (1 + q.alpha * (largest - 1))) q.beta = 0;
}

std::optional<std::string> unusable(const std::vector<UslPoint>& points) {
  std::set<double> pools;
  for (const UslPoint& p : points) {
    if (!(p.pool >= 1) || !(p.throughput > 0) || !std::isfinite(p.throughput)) {
      return "every point needs a pool size >= 1 and a positive throughput";
    }
    pools.insert(p.pool);
  }
  if (static_cast<int>(pools.size()) < kUslMinimumPoolSizes) {
    return "fewer than " + std::to_string(kUslMinimumPoolSizes) +
           " pool sizes with a throughput (" + std::to_string(pools.size()) + ")";
  }
  return std::nullopt;
}

}  // namespace

double usl_throughput(const UslParameters& parameters, double pool) {
  return parameters.lambda * pool /
         (1 + parameters.alpha * (pool - 1) + parameters.beta * pool * (pool - 1));
}

UslFit fit_usl(const std::vector<UslPoint>& points) {
  UslFit fit;
  if (const auto reason = unusable(points)) {
    fit.reason = *reason;
    return fit;
  }
  fit.fitted = true;
  fit.parameters = refine(points, linear_start(points));
  drop_round_off_beta(points, fit.parameters);
  const UslParameters& q = fit.parameters;
  if (q.beta > 0) fit.peak_pool = std::max(1.0, std::sqrt(std::max(0.0, 1 - q.alpha) / q.beta));
  double mean = 0;
  for (const UslPoint& p : points)
    mean += p.throughput / points.size();
  double total = 0;
  for (const UslPoint& p : points) {
    fit.fitted_throughput.push_back(usl_throughput(q, p.pool));
    total += (p.throughput - mean) * (p.throughput - mean);
  }
  if (total > 0) fit.r2 = 1 - sum_of_squares(points, q) / total;
  return fit;
}

}  // namespace poolbench
