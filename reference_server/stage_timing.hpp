// Stage timing: where a request's time goes inside the server, per request, per stage
// (reference_server/README.md §6).
//
//   dispatch     line read (the socket read that brought it: one clock read per read, shared
//                by its lines, so pipelined lines include the dispatch of those before them)
//                -> handed to the pool (just before the task is built and submitted) or,
//                inline, the work starts
//   queue_wait   handed to the pool -> a worker starts it (0 inline)
//   service      the work itself, on the worker (inline: on the reactor)
//   return_hop   work done -> the reply callback runs on the reactor thread, which queues the
//                reply for writing (0 inline: the reply follows the work at once)
//
// Unit: NANOSECONDS. The dispatch stage and an idle pool's queue wait are well below a
// microsecond-to-a-few-microseconds; microsecond bins would put them all in 0 or 1.
// Histograms: 1 ns .. 1 h, 3 significant digits (HdrHistogram-compatible, V2 encodable).
//
// Threading: the timestamps travel with the request (taken on the reactor thread and on the
// worker, handed back through call_from_thread, whose mutex orders them), and StageHistograms
// is touched on the reactor thread only, at reply time: no lock, no atomic on the hot path.
// Readers (the admin endpoint) run on the reactor thread too.
//
// A request is recorded once its work ran (ok or failed): each stage's count equals
// Server's answered requests minus those refused with err:busy (whose work never ran).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <string_view>

#include "clock.hpp"
#include "loadgen/histogram.hpp"

namespace poolbench {

struct StageTimes {
  TimePoint parsed;
  TimePoint handed;
  TimePoint started;
  TimePoint done;
  TimePoint replied;
};

enum class Stage { kDispatch, kQueueWait, kService, kReturnHop };
inline constexpr std::array<Stage, 4> kStages = {Stage::kDispatch, Stage::kQueueWait,
                                                 Stage::kService, Stage::kReturnHop};
std::string_view to_string(Stage stage);  // "dispatch", "queue_wait", "service", "return_hop"

class StageHistograms {
 public:
  static constexpr std::int64_t kHighestNs = 3'600'000'000'000;  // 1 hour

  StageHistograms();

  // Reactor thread only. Negative spans (impossible with steady_clock) are recorded as 0.
  void record(const StageTimes& times);

  const Histogram& histogram(Stage stage) const { return stages_[index(stage)].histogram; }
  // Exact sum of the recorded values (nanoseconds), for Prometheus' _sum.
  std::int64_t sum_ns(Stage stage) const { return stages_[index(stage)].sum_ns; }
  std::uint64_t count() const {
    return static_cast<std::uint64_t>(stages_[0].histogram.total_count());
  }

 private:
  struct One {
    Histogram histogram;
    std::int64_t sum_ns = 0;
  };
  static std::size_t index(Stage stage) { return static_cast<std::size_t>(stage); }
  void add(Stage stage, Clock::duration span);

  std::array<One, kStages.size()> stages_;
};

}  // namespace poolbench
