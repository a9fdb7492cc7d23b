// Open-loop arrival plans: the intended send times of requests, independent of replies
// (loadgen/README.md §2, the intended-time rule).
//
// A plan yields offsets from its start (the start of the load, warm-up included). There is one
// total plan of the requested rate; a plan object yields its lane, every `count`-th arrival of
// the total from arrival `index` on. Each generator thread owns one lane; with --segment i/N, the
// threads of every share together hold the N x T lanes, so the union of the shares' arrivals is
// exactly the single-process plan, whatever the shares' thread counts (loadgen/README.md §2):
//  - uniform: the total plan is t_k = k / R exactly (computed from k, never accumulated, so
//    there is no drift);
//  - poisson: the total plan is one stream of exponential gaps at rate R from one seeded RNG;
//    each lane draws the whole stream and keeps its own arrivals, so that every process computes
//    every arrival's time identically (a draw costs ~20 ns: R x lanes draws per second).
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
  // Lane `index` of `count` of a total plan of `rate` requests/s. `seed` matters for Poisson
  // only (one stream per seed, shared by every lane).
  ArrivalPlan(Arrival arrival, double rate, int index, int count, std::uint64_t seed);

  // The offset of the next arrival from the plan start; non-decreasing.
  std::chrono::nanoseconds next();

  // Drops every arrival next() would yield before offset `t` and returns how many, in O(1)
  // however many that is: a plan far behind an impossible rate is billions of arrivals overdue.
  // Uniform: exact. Poisson: the total plan is stepped through exactly up to kExactSkip
  // arrivals; beyond, their count is drawn from the normal approximation and, the process being
  // memoryless, the plan restarts at t. (Lanes that skipped differently then no longer share
  // one stream: only a plan already hopelessly behind gets there.)
  std::uint64_t skip_to(std::chrono::nanoseconds t);

 private:
  static constexpr std::uint64_t kExactSkip = 1 << 16;
  long double uniform_ns(std::uint64_t k) const;
  long double poisson_gap_ns();
  // Draws the total Poisson plan up to arrival k_ (the lane's next one); its time.
  long double poisson_draw_to_lane();
  // How many of the total plan's arrivals [from, to) are this lane's.
  std::uint64_t lane_count(std::uint64_t from, std::uint64_t to) const;

  Arrival arrival_;
  double rate_;                 // requests/s of the total plan
  std::uint64_t index_;         // the lane
  std::uint64_t k_;             // index of the lane's next arrival in the total plan
  std::uint64_t stride_;        // the number of lanes
  std::uint64_t drawn_ = 0;     // poisson: arrivals of the total plan drawn so far
  long double poisson_ns_ = 0;  // poisson: time of the last arrival drawn, nanoseconds
  SplitMix64 rng_;
};

}  // namespace poolbench
