// The books of one generator thread: every request it schedules ends in exactly one of
// completed, errors.requests, timeouts or unfinished, so that for the measured requests
//
//     scheduled = completed + errors.requests + timeouts + unfinished
//
// holds under every path (reply, error reply, timeout in flight or still in the plan, no
// connection left, given up at an interruption). It also keeps the latency histograms, the
// half-window check and the per-interval accumulators. It knows no sockets: the worker
// (worker.hpp) tells it what happened and when, which is what its unit test does too.
//
// A request is *measured* iff its intended time falls in the window [start, end); only measured
// requests enter the counts and histograms. The per-interval series counts everything that
// finished in the interval, measured or not (loadgen/README.md §3, §4).
//
// It also integrates, exactly, how long requests occupied the system during the window: the
// open-loop Little's law check's L (loadgen/README.md §6).
//
// Threading: owned by one worker thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <string_view>
#include <vector>

#include "histogram.hpp"
#include "reference_server/clock.hpp"
#include "run_result.hpp"
#include "settings.hpp"

namespace poolbench {

// The times of one run, fixed before the load starts (the window's end may move earlier: an
// interruption, lost connections, or the --requests budget running out).
struct Timeline {
  TimePoint t0;  // the load starts (warm-up included)
  TimePoint window_start;
  TimePoint window_end;
};

// What finished during one interval of the series, in one thread.
struct IntervalAccumulator {
  std::int64_t index = 0;  // the interval [t0 + index * interval, t0 + (index + 1) * interval)
  Histogram response = make_latency_histogram();
  std::uint64_t completed = 0;
  std::uint64_t errors = 0;
  std::uint64_t timeouts = 0;
};

// A thread's books at the end of the run, handed to the coordinator by value.
struct AccountingTotals {
  RequestCounts counts;
  Histogram half_response[2] = {make_latency_histogram(), make_latency_histogram()};
  std::uint64_t half_count[2] = {0, 0};
  TimePoint last_measured_reply{};
  // Request-seconds spent in the system inside the window: for each request, from its intended
  // time until it finished, clipped to the window (measured or not, warm-up ones included).
  double in_system_s = 0;
  // Connections this thread closed itself and did not reopen (a reply line over the limit).
  std::uint64_t connections_closed_by_loadgen = 0;
};

// The parts of a request the books need.
struct RequestTimes {
  TimePoint intended;
  TimePoint sent;
  bool measured = false;
};

class RequestAccounting {
 public:
  // `assess_halves`: false when the window's middle is unknown in advance (closed loop with a
  // --requests budget), so no half-window check is kept.
  RequestAccounting(const LoadSettings& settings, bool assess_halves);

  void start(const Timeline& timeline);
  // The window ends at `end` if that is earlier than its current end.
  void end_window_at(TimePoint end);
  bool in_window(TimePoint intended) const {
    return intended >= window_start_ && intended < window_end_;
  }
  bool in_warmup(TimePoint intended) const { return intended < window_start_; }
  TimePoint window_start() const { return window_start_; }
  TimePoint window_end() const { return window_end_; }
  TimePoint window_middle() const { return window_start_ + (window_end_ - window_start_) / 2; }
  int half_of(TimePoint intended) const { return intended < window_middle() ? 0 : 1; }

  // --- a request that was written to a connection, and how it ended ---------------------
  void sent(bool measured);
  void completed(const RequestTimes& request, TimePoint now);
  void failed(const RequestTimes& request, std::string_view error, TimePoint now);
  void timed_out(const RequestTimes& request, TimePoint now);
  // Given up on while outstanding (the drain's deadline passed): its slot is no longer ours.
  void abandoned(const RequestTimes& request);
  // After abandoning everything: nothing measured is outstanding any more.
  void forget_outstanding() { measured_outstanding_ = 0; }

  // --- requests the open-loop plan made due but never sent --------------------------------
  // `count` requests waited past the timeout, all measured or none, all in one `half`; all
  // intended in the warm-up if `warmup`.
  void plan_timed_out(std::uint64_t count, bool measured, int half, bool warmup, TimePoint now);
  // `count` measured requests still in the plan when sending stopped.
  void plan_unsent(std::uint64_t count);
  // A due request intended at `intended` found no open connection.
  void no_connection(TimePoint intended, bool measured);
  // A connection was closed by this thread for good (not by the peer).
  void closed_by_loadgen() { ++totals_.connections_closed_by_loadgen; }

  // A reply that belongs to no request.
  void stray_reply(std::string_view error, TimePoint now);

  std::int64_t measured_outstanding() const { return measured_outstanding_; }

  // The interval accumulators with index < `before`, removed from the books.
  std::vector<IntervalAccumulator> take_intervals(std::int64_t before);
  // The totals (once the thread is done).
  AccountingTotals take_totals();

 private:
  // A request intended at `intended` was in the system until `until`: adds the part of that
  // span inside the window to in_system_s.
  void occupied(TimePoint intended, TimePoint until, std::uint64_t count = 1);
  void record_response(std::int64_t value_us, std::int64_t count);
  void record_half(int half, std::int64_t response_us, std::uint64_t count);
  void count_timeouts(std::uint64_t count, bool measured, int half, TimePoint now);
  IntervalAccumulator& interval_at(TimePoint now);

  const std::chrono::nanoseconds interval_;
  const std::int64_t timeout_us_;
  const std::int64_t late_send_us_;
  const std::int64_t expected_interval_us_;  // 0: no correction
  const bool assess_halves_;

  TimePoint t0_{};
  TimePoint window_start_{TimePoint::max()};
  TimePoint window_end_{TimePoint::max()};

  AccountingTotals totals_;
  std::int64_t measured_outstanding_ = 0;
  std::deque<IntervalAccumulator> intervals_;
};

}  // namespace poolbench
