#include "schedule.hpp"

#include <cmath>
#include <stdexcept>
#include <string>

namespace poolbench {

std::string_view to_string(Arrival arrival) {
  return arrival == Arrival::kPoisson ? "poisson" : "uniform";
}

Arrival parse_arrival(std::string_view text) {
  if (text == "uniform" || text == "constant") return Arrival::kUniform;
  if (text == "poisson") return Arrival::kPoisson;
  throw std::invalid_argument("unknown arrival process '" + std::string(text) +
                              "' (expected uniform or poisson)");
}

namespace {

// SplitMix64's output function: a bijection that scatters nearby inputs far apart.
std::uint64_t scramble(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

}  // namespace

std::uint64_t SplitMix64::next() {
  return scramble(state_ += 0x9E3779B97F4A7C15ULL);
}

double SplitMix64::next_unit() {
  return static_cast<double>(next() >> 11) * 0x1.0p-53;
}

ArrivalPlan::ArrivalPlan(Arrival arrival, double rate, int index, int count, std::uint64_t seed)
    : arrival_(arrival),
      rate_(rate),
      index_(static_cast<std::uint64_t>(index)),
      k_(static_cast<std::uint64_t>(index)),
      stride_(static_cast<std::uint64_t>(count)),
      // One stream per seed. The state must be scrambled, not just offset: SplitMix64's state
      // advances by a constant, so seed * constant would make seed s + 1 replay seed s's stream
      // one draw later (the search's trials, seeded s, s + 1, ..., would not be independent).
      rng_(scramble(scramble(seed) + 1)) {
  if (!(rate > 0) || count < 1 || index < 0 || index >= count) {
    throw std::invalid_argument("ArrivalPlan: rate must be > 0 and 0 <= index < count");
  }
}

// t_k = k / R, computed from k each time: no accumulated rounding, no drift.
long double ArrivalPlan::uniform_ns(std::uint64_t k) const {
  return std::round(static_cast<long double>(k) * 1e9L / static_cast<long double>(rate_));
}

// Inverse transform of U in [0, 1): gap = -ln(1 - U) / lambda, never negative or infinite.
long double ArrivalPlan::poisson_gap_ns() {
  const double gap_s = -std::log1p(-rng_.next_unit()) / rate_;
  return static_cast<long double>(gap_s) * 1e9L;
}

long double ArrivalPlan::poisson_draw_to_lane() {
  while (drawn_ <= k_) {
    poisson_ns_ += poisson_gap_ns();
    ++drawn_;
  }
  return poisson_ns_;
}

std::uint64_t ArrivalPlan::lane_count(std::uint64_t from, std::uint64_t to) const {
  // Arrivals k in [0, n) with k % stride == index: ceil((n - index) / stride) when n > index.
  auto below = [this](std::uint64_t n) {
    return n <= index_ ? 0 : (n - index_ + stride_ - 1) / stride_;
  };
  return below(to) - below(from);
}

std::chrono::nanoseconds ArrivalPlan::next() {
  const long double ns = arrival_ == Arrival::kUniform ? uniform_ns(k_) : poisson_draw_to_lane();
  k_ += stride_;
  return std::chrono::nanoseconds(std::llround(ns));
}

std::uint64_t ArrivalPlan::skip_to(std::chrono::nanoseconds t) {
  const long double end_ns = static_cast<long double>(t.count());
  if (arrival_ == Arrival::kUniform) {
    // The first k of the total plan at or after t, from the estimate t * R, then made exact
    // against the very rounding next() uses.
    const long double estimate = std::ceil(end_ns * static_cast<long double>(rate_) / 1e9L);
    std::uint64_t first = estimate <= 0 ? 0 : static_cast<std::uint64_t>(estimate);
    while (first > 0 && uniform_ns(first - 1) >= end_ns)
      --first;
    while (uniform_ns(first) < end_ns)
      ++first;
    if (first <= k_) return 0;
    const std::uint64_t skipped = (first - k_ + stride_ - 1) / stride_;
    k_ += skipped * stride_;
    return skipped;
  }
  // The total plan's arrivals before t: exactly, one draw each, while there are few.
  const std::uint64_t from = k_;
  const long double mean = (end_ns - poisson_ns_) * static_cast<long double>(rate_) / 1e9L;
  if (mean < static_cast<long double>(kExactSkip)) {
    for (;;) {
      // The lane's next arrival: drawn already (drawn_ > k_), or draw up to it.
      if (poisson_draw_to_lane() >= end_ns) break;
      k_ += stride_;
    }
    return lane_count(from, k_);
  }
  // Box-Muller: one standard normal from two uniforms (1 - U keeps the log finite).
  const double z = std::sqrt(-2.0 * std::log1p(-rng_.next_unit())) *
                   std::cos(6.283185307179586 * rng_.next_unit());
  const long double drawn = std::round(mean + std::sqrt(mean) * static_cast<long double>(z));
  drawn_ += drawn <= 0 ? 0 : static_cast<std::uint64_t>(drawn);
  poisson_ns_ = std::max(poisson_ns_, end_ns);
  // The lane's next arrival is the first of its own after those drawn.
  const std::uint64_t next_k =
      drawn_ <= index_ ? index_ : drawn_ + (stride_ - (drawn_ - index_) % stride_) % stride_;
  const std::uint64_t skipped = lane_count(from, next_k);
  k_ = next_k;
  return skipped;
}

}  // namespace poolbench
