// Open-loop arrival plans: the intended send times of requests, independent of replies
// (loadgen/README.md §2, the intended-time rule).
//
// A plan yields offsets from its start (the start of the load, warm-up included). Each
// generator thread owns one plan; the threads' plans interleave into the requested total rate:
//  - uniform: the total plan is t_k = k / R exactly (computed from k, never accumulated, so
//    there is no drift); thread j of T takes k = j, j + T, j + 2T, ...
//  - poisson: each thread draws exponential gaps at rate R / T from its own seeded RNG; the
//    superposition of independent Poisson processes is Poisson at rate R.
// Closed loop has no plan: a request's intended time is the moment it is created.
#pragma once

#include <chrono>
#include <cstdint>
#include <string_view>

namespace poolbench {

enum class Arrival { kUniform, kPoisson };

std::string_view to_string(Arrival arrival);
// "uniform" | "constant" | "poisson"; throws std::invalid_argument otherwise.
Arrival parse_arrival(std::string_view text);

// A small, seeded, reproducible PRNG (SplitMix64): the same seed gives the same plan on every
// platform, unlike the std distributions whose algorithms are implementation-defined.
class SplitMix64 {
 public:
  explicit SplitMix64(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next();
  // Uniform in [0, 1) with 53 random bits.
  double next_unit();

 private:
  std::uint64_t state_;
};

class ArrivalPlan {
 public:
  // The share of thread `index` of `count` threads in a plan of `rate` requests/s in total.
  // `seed` matters for Poisson only (each thread mixes in its index).
  ArrivalPlan(Arrival arrival, double rate, int index, int count, std::uint64_t seed);

  // The offset of the next arrival from the plan start; non-decreasing.
  std::chrono::nanoseconds next();

  // Drops every arrival next() would yield before offset `t` and returns how many, in O(1)
  // however many that is: a plan far behind an impossible rate is billions of arrivals overdue.
  // Uniform: exact. Poisson: the count is drawn (exactly below a few dozen, from the normal
  // approximation above) and, the process being memoryless, the next arrival is t plus a gap.
  std::uint64_t skip_to(std::chrono::nanoseconds t);

 private:
  long double uniform_ns(std::uint64_t k) const;

  Arrival arrival_;
  double rate_;             // requests/s in total (uniform) or of this thread (poisson)
  std::uint64_t k_;         // uniform: index of the next arrival in the total plan
  std::uint64_t stride_;    // uniform: number of threads
  long double poisson_ns_;  // poisson: time of the last arrival, nanoseconds
  SplitMix64 rng_;
};

}  // namespace poolbench
