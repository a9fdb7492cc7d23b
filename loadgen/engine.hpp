// The load engine: threads x connections driving a line-protocol server, measured as
// results/README.md describes. This is the library API behind `loadgen run`; `loadgen sweep` calls
// it once per grid point.
//
//   poolbench::LoadSettings settings;            // or fill it from the CLI (cli.hpp)
//   settings.target = "127.0.0.1:9090";
//   settings.connections = 16;
//   poolbench::RunResult result = poolbench::run_load(settings, {});
//   nlohmann::json doc = poolbench::to_json(result);   // result.hpp; add your own fields
//   poolbench::write_json_atomically("out.json", doc);
//
// Timeline of one run (all times on steady_clock; "intended" = intended send time):
//   connect all -> t0: load starts (warm-up) -> window start = t0 + warmup
//   -> window end = window start + duration (or when --requests measured requests exist)
//   -> drain: requests intended inside the window are waited for, up to the timeout, while the
//      load goes on unmeasured (so the last measured requests see the same load) -> stop.
// A request is *measured* iff its intended time falls inside the window; only measured requests
// enter the counts, histograms and derived numbers (the per-interval series excepted, see
// IntervalStats).
//
// The four quantities (microseconds):
//   response time  = reply fully read - intended send time   (coordinated-omission free)
//   service time   = reply fully read - actual send time
//   schedule lag   = actual send time - intended send time
// Closed loop: intended = the moment the request is created (after the think time).
// Open loop: intended = the plan's time (schedule.hpp); a request that finds every connection of
// its thread at --depth waits in the thread's queue, and the wait is charged to response time.
//
// Accounting, always: scheduled = completed + errors.requests + timeouts + unfinished.
// A timed-out request is recorded in the response-time histogram at the timeout value. Its late
// reply, if any, is dropped (its slot stays occupied until then: the server still has it).
//
// Threading: run_load() runs on the caller's thread (the coordinator) and starts `threads`
// workers. Each worker owns an io_context, its connections and its histograms (nothing is
// shared between workers); the coordinator merges worker data only at interval boundaries and at
// the end, by posting to the worker's io_context and waiting for the answer.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "histogram.hpp"
#include "schedule.hpp"

namespace poolbench {

enum class Protocol {
  kAck,  // request "<id> <padding>", reply "ack:<request>" or "err:<what>|<request>"
  kRaw,  // request = LoadSettings::request, any one line back (optionally with a prefix)
};
std::string_view to_string(Protocol protocol);
Protocol parse_protocol(std::string_view text);  // throws std::invalid_argument

enum class LoadModel { kClosed, kOpen };
std::string_view to_string(LoadModel model);  // "closed" | "open"

struct LoadSettings {
  std::string target = "127.0.0.1:9090";  // host:port ([v6]:port allowed)
  int connections = 16;
  int depth = 1;    // requests in flight per connection (open loop: the cap per connection)
  int threads = 0;  // 0: min(hardware threads, connections)
  double rate = 0;  // open loop when > 0: requests/s in total
  Arrival arrival = Arrival::kUniform;
  std::uint64_t seed = 1;                                       // Poisson arrivals
  std::chrono::nanoseconds duration{std::chrono::seconds(10)};  // window; 0: until `requests`
  std::uint64_t requests = 0;  // stop after this many measured requests; 0 = none
  std::chrono::nanoseconds warmup{std::chrono::seconds(1)};
  std::chrono::nanoseconds timeout{std::chrono::seconds(5)};  // per request, from intended
  std::chrono::nanoseconds connect_timeout{std::chrono::seconds(3)};
  std::chrono::nanoseconds think_time{0};  // closed loop: pause between reply and next request
  std::chrono::nanoseconds interval{std::chrono::seconds(1)};  // per-interval series, status
  Protocol protocol = Protocol::kAck;
  int payload_size = 16;         // ack: request line length without CRLF (at least the id's digits)
  std::string request = "PING";  // raw: the request line (CRLF added)
  std::string expect;            // raw: a reply must start with this ("" = any line)
  // Closed loop only, opt-in: HdrHistogram's expected-interval correction.
  std::chrono::nanoseconds expected_interval{0};
  std::vector<std::string> argv;  // the exact command line, for the record

  LoadModel model() const { return rate > 0 ? LoadModel::kOpen : LoadModel::kClosed; }
  // Throws std::invalid_argument naming the bad setting.
  void validate() const;
};

// "host:port" -> parts; throws std::invalid_argument.
struct Endpoint {
  std::string host;
  std::uint16_t port = 0;
};
Endpoint parse_target(std::string_view target);

enum class Phase { kWarmup, kMeasure, kDrain };
std::string_view to_string(Phase phase);

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
  // "connection_closed", "no_connection", and "err:<what>" for the server's error replies.
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

struct HostInfo {
  std::string hostname;
  std::string os;       // uname sysname
  std::string kernel;   // uname release
  std::string machine;  // uname machine
  std::string cpu_model;
  int cores = 0;
};
HostInfo host_info();

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
  std::uint64_t late_sends = 0;  // schedule lag > kLateSendUs
  ErrorCounts errors;

  // Microseconds. Response time includes timeouts (at the timeout value); service time and
  // schedule lag only requests that were sent and answered.
  Histogram response_time;
  Histogram service_time;
  Histogram schedule_lag;

  std::uint64_t requests_sent = 0;  // all requests written, warm-up and drain included

  void merge(const RequestCounts& other);
};

struct RunResult : RequestCounts {
  LoadSettings settings;            // as run (threads resolved)
  std::string start_time;           // ISO 8601 UTC of t0
  std::int64_t start_epoch_ms = 0;  // t0 again, for the .hlog (not in the JSON: start_time is)
  HostInfo host;
  LoadModel model = LoadModel::kClosed;
  RunEnd end = RunEnd::kComplete;

  std::vector<IntervalStats> intervals;
  HalfStats first_half;
  HalfStats second_half;  // both zero when not assessed (closed loop stopped by --requests)

  double window_s = 0;        // window length in seconds (truncated by an interruption)
  double reply_span_s = 0;    // window start -> last measured reply (>= the drain's end part)
  double mean_in_system = 0;  // open loop: time-average requests in the generator+server
  std::uint64_t in_system_samples = 0;

  int threads = 0;
  double cpu_s = 0;  // generator CPU (user + system), t0 -> end

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
};

constexpr std::int64_t kLateSendUs = 1000;  // a send more than this behind its intended time
constexpr std::int64_t kHistogramHighestUs = 3'600'000'000;  // 1 hour, microseconds

struct RunHooks {
  // Called on the coordinator (caller's) thread once per interval, with the interval just ended
  // and the seconds since t0. For the live status line.
  std::function<void(const IntervalStats&)> on_interval;
  // When it becomes true (e.g. set by a SIGINT handler): stop sending, wait briefly for
  // measured requests in flight, return what was measured (end = kInterrupted).
  const std::atomic<bool>* stop = nullptr;
};

// Nothing accepted the connections (or not all of them) within the connect timeout.
class ConnectError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Runs one load. Throws std::invalid_argument for bad settings and ConnectError when the target
// is unreachable; a server that dies mid-run is not an exception (end = kConnectionsLost).
// Raises RLIMIT_NOFILE as far as the hard limit allows when many connections are asked for.
RunResult run_load(const LoadSettings& settings, const RunHooks& hooks);

// The process exit code for a result: 0 complete, 1 connections lost, 130 interrupted.
int exit_code_for(const RunResult& result);

}  // namespace poolbench
