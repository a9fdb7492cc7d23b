// What one run measured: its counts, histograms, per-interval series and the numbers derived
// from them, with the run's validity (finalize()). `loadgen run` writes it as JSON (result.hpp);
// `loadgen merge` adds runs together with RequestCounts::merge and finalizes the sum.
//
// The four quantities (microseconds; loadgen/README.md §1, §2):
//   response time  = reply fully read - intended send time   (coordinated-omission free)
//   service time   = reply fully read - actual send time
//   schedule lag   = actual send time - intended send time
// Closed loop: intended = the moment the request is created (after the think time).
// Open loop: intended = the plan's time (schedule.hpp); a request that finds every connection of
// its thread at --depth waits in the thread's queue, and the wait is charged to response time.
//
// Accounting, always (request_accounting.hpp): scheduled = completed + errors.requests +
// timeouts + unfinished. A timed-out request is recorded in the response-time histogram at the
// timeout value.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "histogram.hpp"
#include "host_info.hpp"
#include "settings.hpp"

namespace poolbench {

constexpr std::int64_t kHistogramHighestUs = 3'600'000'000;  // 1 hour, microseconds
// Fewer measured requests make a run invalid ("insufficient_samples"): a 95% interval for p99
// needs a sample beyond it, n >= log(0.05) / log(0.99).
constexpr std::int64_t kMinSamples = 299;

// The layout of every latency histogram of a run: 1 us to an hour, 3 significant digits.
inline Histogram make_latency_histogram() {
  return Histogram(1, kHistogramHighestUs, 3);
}

// A duration in the result's unit: rounded to the nearest microsecond, never negative.
inline std::int64_t rounded_us(std::chrono::nanoseconds d) {
  return d.count() < 0 ? 0 : (d.count() + 500) / 1000;
}
inline double seconds_of(std::chrono::nanoseconds d) {
  return std::chrono::duration<double>(d).count();
}

enum class Phase { kWarmup, kMeasure, kDrain };
std::string_view to_string(Phase phase);
Phase parse_phase(std::string_view text);  // throws std::invalid_argument

// One entry of the per-interval series: everything that *finished* during the interval
// (completion time), measured or not, so the warm-up and the drain are visible too.
struct IntervalStats {
  double start_s = 0;            // seconds since t0 (load start, warm-up included)
  double length_s = 0;           // the last interval may be shorter
  Phase phase = Phase::kWarmup;  // phase at the interval's start
  std::uint64_t completed = 0;
  std::uint64_t errors = 0;  // request errors and stray replies
  std::uint64_t timeouts = 0;
  double throughput_rps = 0;  // completed / length_s
  // Response time of completed and timed-out requests finishing in the interval; 0 if none.
  std::int64_t p50_us = 0;
  std::int64_t p99_us = 0;
  std::int64_t max_us = 0;
  // Those response times as a histogram (V2 compressed, base64; empty histogram if none): the
  // lines of the .hlog interval log.
  std::string histogram;
};

struct ErrorCounts {
  std::uint64_t requests = 0;  // requests that ended in an error (part of the accounting)
  std::uint64_t stray = 0;     // replies that belong to no request (unknown id, malformed)
  // Kinds: "mismatch", "unknown_id", "malformed", "unexpected_reply", "reply_too_long",
  // "connection_closed", "no_connection", "closed_after_timeout" (raw protocol: lost when its
  // connection was reopened after a timeout), and "err:<what>" for the server's error replies.
  std::map<std::string, std::uint64_t, std::less<>> by_kind;

  std::uint64_t total() const { return requests + stray; }
  void add(std::string_view kind, std::uint64_t count, bool stray_reply);
  void merge(const ErrorCounts& other);
};

enum class RunEnd {
  kComplete,         // the window and its drain finished
  kInterrupted,      // RunHooks::stop was set (SIGINT)
  kConnectionsLost,  // every connection was closed by the peer or failed
};
std::string_view to_string(RunEnd end);

// The half-window stationarity check, by intended time.
struct HalfStats {
  std::uint64_t count = 0;  // measured requests intended in this half that completed
  double throughput_rps = 0;
  std::int64_t p50_us = 0;
};

// What the requests add up to: each generator thread keeps one, a run sums its threads', and
// `loadgen merge` sums runs, all by merge().
struct RequestCounts {
  // Counts of measured requests.
  std::uint64_t scheduled = 0;
  std::uint64_t completed = 0;
  std::uint64_t timeouts = 0;
  std::uint64_t unfinished = 0;  // still outstanding when an interrupted run gave up on them
  std::uint64_t late_sends = 0;  // schedule lag > LoadSettings::late_send
  ErrorCounts errors;

  // Microseconds. Response time includes timeouts (at the timeout value); service time and
  // schedule lag only requests that were sent and answered.
  Histogram response_time = make_latency_histogram();
  Histogram service_time = make_latency_histogram();
  Histogram schedule_lag = make_latency_histogram();

  std::uint64_t requests_sent = 0;  // all requests written, warm-up and drain included
  // Requests intended in the warm-up (so not measured) that ended in an error or timed out.
  std::uint64_t warmup_errors = 0;
  std::uint64_t warmup_timeouts = 0;

  void merge(const RequestCounts& other);
};

struct RunResult : RequestCounts {
  LoadSettings settings;            // as run (threads resolved)
  std::string run_id;               // new_run_id(); empty when read from an older file
  std::string start_time;           // ISO 8601 UTC of t0
  std::int64_t start_epoch_ms = 0;  // t0 again, for the .hlog (not in the JSON: start_time is)
  // t0 on this host's clocks, to line up the shares of one load (loadgen/README.md §11): the
  // wall clock (epoch seconds) and the monotonic clock (seconds since boot).
  double t0_epoch_s = 0;
  double t0_monotonic_s = 0;
  std::optional<double> start_skew_s;  // with --start-at: t0 - start_at on the wall clock
  HostInfo host;
  LoadModel model = LoadModel::kClosed;
  RunEnd end = RunEnd::kComplete;

  std::vector<IntervalStats> intervals;
  HalfStats first_half;
  HalfStats second_half;  // both zero when not assessed (closed loop stopped by --requests)

  double window_s = 0;        // window length in seconds (truncated by an interruption)
  double reply_span_s = 0;    // window start -> last measured reply (>= the drain's end part)
  double mean_in_system = 0;  // open loop: time-average requests in the system (intended ->
                              // finished), exact over the window

  int threads = 0;
  double cpu_s = 0;  // generator CPU (user + system), t0 -> end
  // Connections loadgen closed itself and did not reopen (for the message; not in the JSON).
  std::uint64_t connections_closed_by_loadgen = 0;

  // Derived by run_load() (see finalize()).
  double throughput_rps = 0;  // completed / window_s
  double requested_rps = 0;   // open loop: the rate; closed loop: 0
  double achieved_rps = 0;    // (completed + errors.requests) / max(window_s, reply_span_s)
  double little_ratio = 0;    // closed: X*(mean R + Z)/(C*D); open: X*mean R / mean in system
  double cpu_us_per_request = 0;
  bool valid = false;
  std::vector<std::string> reasons;  // why not valid (stable codes, documented in results/)

  // Recomputes the derived fields from the others (merge uses it as well).
  void finalize();
  // A check made outside the load itself failed (the server's view, "server_stats_incomplete"):
  // one more reason, and not valid. finalize() does not keep it.
  void add_reason(std::string code) {
    reasons.push_back(std::move(code));
    valid = false;
  }
};

// Why a run ended `connections_lost`, in words that say who closed them: the server, unless
// loadgen closed some itself (a reply line over 1 MiB, `reply_too_long`).
std::string connections_lost_cause(const RunResult& result);

// The process exit code for a result: 0 complete, 1 connections lost, 130 interrupted.
int exit_code_for(const RunResult& result);

}  // namespace poolbench
