// run_load: the coordinator of one run. It prepares (resolve, connect every worker's
// connections), fixes the timeline, then watches the run from the caller's thread: interval
// boundaries, interruption, lost connections, the --requests budget, the drain and its deadline.
// Threading: worker.hpp's rules; this file is the coordinator they name.
#include "engine.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <future>
#include <limits>
#include <memory>
#include <optional>
#include <thread>

#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>

#include "interval_series.hpp"
#include "reference_server/clock.hpp"
#include "reference_server/process_usage.hpp"
#include "worker.hpp"

namespace poolbench {
namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;

// How often the watch looks at the run between interval boundaries: how late it may notice an
// interruption, lost connections, a spent budget or the drain.
constexpr milliseconds kWatchPeriod{2};

// Runs `fn` on `context`'s thread and returns its result to the calling thread.
template <typename Fn>
auto call_on(asio::io_context& context, Fn fn) -> decltype(fn()) {
  using Result = decltype(fn());
  std::promise<Result> promise;
  auto future = promise.get_future();
  asio::post(context, [&promise, &fn] {
    if constexpr (std::is_void_v<Result>) {
      fn();
      promise.set_value();
    } else {
      promise.set_value(fn());
    }
  });
  return future.get();
}

void raise_fd_limit(int connections) {
  const rlim_t need = static_cast<rlim_t>(connections) + 64;  // plus files, epoll, eventfds
  struct rlimit limit {};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= need) return;
  if (limit.rlim_max != RLIM_INFINITY && limit.rlim_max < need) {
    throw std::invalid_argument(
        std::to_string(connections) + " connections need " + std::to_string(need) +
        " file descriptors, but the hard limit (ulimit -Hn) is " + std::to_string(limit.rlim_max));
  }
  limit.rlim_cur = need;
  if (setrlimit(RLIMIT_NOFILE, &limit) != 0) {
    throw std::invalid_argument("cannot raise RLIMIT_NOFILE to " + std::to_string(need) + ": " +
                                std::strerror(errno));
  }
}

asio::ip::tcp::endpoint resolve(const Endpoint& target) {
  asio::io_context context;
  asio::ip::tcp::resolver resolver(context);
  std::error_code error;
  const auto results = resolver.resolve(target.host, std::to_string(target.port), error);
  if (error || results.empty()) {
    throw ConnectError("cannot resolve '" + target.host +
                       "': " + (error ? error.message() : std::string("no address")));
  }
  for (const auto& entry : results) {
    if (entry.endpoint().address().is_v4()) return entry.endpoint();
  }
  return results.begin()->endpoint();
}

// A server still starting refuses connections: retry one probe connection until it is accepted,
// fails otherwise, or `deadline` passes. The real connects then report whatever is left.
void wait_while_refused(const asio::ip::tcp::endpoint& endpoint, TimePoint deadline) {
  asio::io_context context;
  for (;;) {
    const auto now = Clock::now();
    if (now >= deadline) return;
    std::optional<std::error_code> outcome;
    asio::ip::tcp::socket probe(context);
    probe.async_connect(endpoint, [&outcome](std::error_code error) { outcome = error; });
    context.restart();
    context.run_for(deadline - now);
    if (!outcome || *outcome != asio::error::connection_refused) return;
    std::this_thread::sleep_for(
        std::min<Clock::duration>(milliseconds(50), deadline - Clock::now()));
  }
}

// The settings as run: validated, this process's share of the load, the thread count resolved.
LoadSettings resolved(const LoadSettings& requested) {
  requested.validate();
  LoadSettings settings = requested.share();
  const int cores = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  if (settings.threads == 0) settings.threads = std::min(cores, settings.connections);
  settings.threads = std::min(settings.threads, settings.connections);
  return settings;
}

// The workers, stopped and joined on every way out of run_load (exceptions included).
class WorkerSet {
 public:
  WorkerSet(const LoadSettings& settings, RequestBudget& budget) {
    const int threads = settings.threads;
    for (int t = 0; t < threads; ++t) {
      const int count =
          settings.connections / threads + (t < settings.connections % threads ? 1 : 0);
      workers_.push_back(std::make_unique<Worker>(t, threads, count, settings, budget));
    }
    for (auto& worker : workers_)
      worker->start_thread();
  }
  WorkerSet(const WorkerSet&) = delete;
  WorkerSet& operator=(const WorkerSet&) = delete;
  ~WorkerSet() { stop(); }

  void stop() {
    if (stopped_) return;
    stopped_ = true;
    for (auto& worker : workers_) {
      asio::post(worker->context(), [w = worker.get()] { w->finish(); });
    }
    for (auto& worker : workers_)
      worker->join();
  }

  // Runs `fn(worker)` on each worker's thread in turn, waiting for each.
  template <typename Fn>
  void on_each(Fn fn) {
    for (auto& worker : workers_)
      call_on(worker->context(), [&] { fn(*worker); });
  }
  template <typename Pred>
  bool all(Pred pred) const {
    return std::all_of(workers_.begin(), workers_.end(), [&](auto& w) { return pred(*w); });
  }
  std::vector<std::unique_ptr<Worker>>& workers() { return workers_; }

 private:
  std::vector<std::unique_ptr<Worker>> workers_;
  bool stopped_ = false;  // stop() runs once: explicitly, or on the way out
};

// Connects every worker's connections (concurrently); throws ConnectError unless all succeed.
void connect_all(WorkerSet& set, const asio::ip::tcp::endpoint& endpoint, TimePoint deadline,
                 const LoadSettings& settings) {
  std::vector<std::future<ConnectReport>> connects;
  for (auto& worker : set.workers()) {
    connects.push_back(worker->connect(
        endpoint, std::max<nanoseconds>(deadline - Clock::now(), milliseconds(100))));
  }
  ConnectReport total;
  for (auto& future : connects) {
    const ConnectReport report = future.get();
    total.connected += report.connected;
    total.failed += report.failed;
    if (!total.first_error) total.first_error = report.first_error;
  }
  if (total.failed == 0) return;
  if (total.connected == 0) {
    throw ConnectError("cannot connect to " + settings.target + ": " + total.first_error.message());
  }
  throw ConnectError("only " + std::to_string(total.connected) + " of " +
                     std::to_string(settings.connections) + " connections to " + settings.target +
                     " succeeded within " + std::to_string(seconds_of(settings.connect_timeout)) +
                     " s (first error: " + total.first_error.message() + ")");
}

// The timeline from its start t0 (start_instant()).
Timeline timeline_from(TimePoint t0, const LoadSettings& settings) {
  Timeline timeline;
  timeline.t0 = t0;
  timeline.window_start = timeline.t0 + settings.warmup;
  timeline.window_end = TimePoint::max();
  if (settings.duration.count() > 0)
    timeline.window_end = timeline.window_start + settings.duration;
  if (settings.model() == LoadModel::kOpen && settings.requests > 0) {
    // Exactly `requests` intended times fall in a window of requests / rate seconds.
    const auto length = nanoseconds(static_cast<std::int64_t>(
        std::ceil(static_cast<long double>(settings.requests) * 1e9L / settings.rate)));
    timeline.window_end = std::min(timeline.window_end, timeline.window_start + length);
  }
  return timeline;
}

// t0: a short lead from now, so every worker has the start before it. With --start-at, the
// instant itself on the monotonic clock, after sleeping until the lead before it (waking to
// honour an interruption). Connected already, so a slow connect costs no skew; a share that
// connected only after the instant starts at once, and its skew says so.
TimePoint start_instant(const LoadSettings& settings, const RunHooks& hooks) {
  constexpr nanoseconds kLead = milliseconds(20);
  using SystemClock = std::chrono::system_clock;
  if (!settings.start_at) return Clock::now() + kLead;
  const auto wake = *settings.start_at - duration_cast<SystemClock::duration>(kLead);
  while (SystemClock::now() < wake) {
    if (hooks.stop != nullptr && hooks.stop->load()) break;
    std::this_thread::sleep_until(std::min(wake, SystemClock::now() + milliseconds(100)));
  }
  const TimePoint now = Clock::now();
  const nanoseconds until = *settings.start_at - SystemClock::now();
  return now + std::max<nanoseconds>(until, milliseconds(1));
}

// Where t0 falls on this host's clocks, and its skew from --start-at.
void record_start(RunResult& result, TimePoint t0, const LoadSettings& settings) {
  const auto wall = std::chrono::system_clock::now() +
                    duration_cast<std::chrono::system_clock::duration>(t0 - Clock::now());
  result.start_time = iso8601_utc(wall);
  result.start_epoch_ms = duration_cast<milliseconds>(wall.time_since_epoch()).count();
  result.t0_epoch_s = std::chrono::duration<double>(wall.time_since_epoch()).count();
  result.t0_monotonic_s = std::chrono::duration<double>(t0.time_since_epoch()).count();
  if (settings.start_at) {
    result.start_skew_s = std::chrono::duration<double>(wall - *settings.start_at).count();
  }
}

// How the watch ended.
struct WatchOutcome {
  RunEnd end = RunEnd::kComplete;
  TimePoint window_end;  // the window as it ended (earlier than planned if cut short)
  TimePoint end_time;    // every worker drained, or the drain deadline passed
};

// Watches a started run from the coordinator's thread until it is over (see the file comment).
class RunWatch {
 public:
  RunWatch(const LoadSettings& settings, const RunHooks& hooks, const Timeline& timeline,
           WorkerSet& set, const RequestBudget& budget)
      : settings_(settings),
        hooks_(hooks),
        timeline_(timeline),
        set_(set),
        budget_(budget),
        series_(timeline, settings.interval, hooks.on_interval),
        sweep_period_(timeout_sweep_period(settings)) {
    outcome_.window_end = timeline.window_end;
    deadline_ = drain_deadline(timeline.window_end);
  }

  WatchOutcome watch();
  std::vector<IntervalStats> take_series() { return series_.take(); }

 private:
  TimePoint drain_deadline(TimePoint window_end) const {
    return window_end == TimePoint::max()
               ? TimePoint::max()
               : window_end + settings_.timeout + 2 * sweep_period_ + milliseconds(20);
  }
  void stop_all(TimePoint at, RunEnd why);
  void collect(std::int64_t before, TimePoint end);
  void notice_stops(TimePoint now);
  bool past_deadline(TimePoint now);

  const LoadSettings& settings_;
  const RunHooks& hooks_;
  const Timeline timeline_;
  WorkerSet& set_;
  const RequestBudget& budget_;
  IntervalSeries series_;
  const nanoseconds sweep_period_;
  WatchOutcome outcome_;
  TimePoint deadline_;
  bool stopping_ = false;
  bool swept_ = false;
};

void RunWatch::stop_all(TimePoint at, RunEnd why) {
  stopping_ = true;
  outcome_.end = why;
  outcome_.window_end = std::min(outcome_.window_end, at);
  set_.on_each([at](Worker& worker) { worker.stop_sending(at); });
}

void RunWatch::collect(std::int64_t before, TimePoint end) {
  for (auto& worker : set_.workers()) {
    series_.add(call_on(worker->context(), [&] { return worker->take_intervals(before); }));
  }
  series_.emit_before(before, end);
}

// An interruption, every connection lost, or the --requests budget spent: the window ends.
void RunWatch::notice_stops(TimePoint now) {
  if (!stopping_ && hooks_.stop != nullptr && hooks_.stop->load()) {
    stop_all(now, RunEnd::kInterrupted);
    deadline_ =
        std::min(deadline_, now + std::min<nanoseconds>(settings_.timeout, milliseconds(500)));
  }
  if (!stopping_ && set_.all([](const Worker& w) { return w.all_closed(); })) {
    stop_all(now, RunEnd::kConnectionsLost);
    deadline_ = std::min(deadline_, now + sweep_period_ + milliseconds(20));
  }
  if (budget_.enabled && deadline_ == TimePoint::max()) {
    const std::int64_t ns = budget_.end_ns.load(std::memory_order_acquire);
    if (ns != 0) {
      outcome_.window_end = std::min(outcome_.window_end, TimePoint(nanoseconds(ns)));
      deadline_ = drain_deadline(TimePoint(nanoseconds(ns)));
    }
  }
}

// At the drain deadline: one last timeout sweep, and if that does not drain them within 50 ms,
// the outstanding requests are given up on. True when the watch is over.
bool RunWatch::past_deadline(TimePoint now) {
  if (!swept_) {
    set_.on_each([](Worker& worker) { worker.sweep_now(); });
    swept_ = true;
    deadline_ = now + milliseconds(50);
    return false;
  }
  set_.on_each([](Worker& worker) { worker.abandon(); });
  outcome_.end_time = Clock::now();
  return true;
}

WatchOutcome RunWatch::watch() {
  for (;;) {
    const TimePoint now = Clock::now();
    const TimePoint boundary = timeline_.t0 + settings_.interval * (series_.next() + 1);
    if (now >= boundary) {
      collect(series_.next() + 1, TimePoint::max());
      continue;
    }
    notice_stops(now);
    if (set_.all([](const Worker& w) { return w.drained(); })) {
      outcome_.end_time = now;
      break;
    }
    if (now >= deadline_) {
      if (past_deadline(now)) break;
      continue;
    }
    std::this_thread::sleep_until(std::min(boundary, now + kWatchPeriod));
  }
  if (budget_.enabled && outcome_.window_end == TimePoint::max()) {
    outcome_.window_end = outcome_.end_time;
  }
  series_.set_window_end(outcome_.window_end);
  collect(std::numeric_limits<std::int64_t>::max(), outcome_.end_time);
  return outcome_;
}

// Adds the workers' books (their threads joined) and the watch's outcome into `result`.
void add_up(RunResult& result, std::vector<std::unique_ptr<Worker>>& workers,
            const Timeline& timeline, const WatchOutcome& outcome, bool budget_mode) {
  result.end = outcome.end;
  result.window_s = std::max(0.0, seconds_of(outcome.window_end - timeline.window_start));
  Histogram halves[2] = {make_latency_histogram(), make_latency_histogram()};
  TimePoint last_reply = timeline.window_start;
  double in_system_s = 0;
  for (auto& worker : workers) {
    const AccountingTotals totals = worker->take_totals();
    result.merge(totals.counts);
    for (int h = 0; h < 2; ++h)
      halves[h].merge(totals.half_response[h]);
    result.first_half.count += totals.half_count[0];
    result.second_half.count += totals.half_count[1];
    last_reply = std::max(last_reply, totals.last_measured_reply);
    in_system_s += totals.in_system_s;
    result.connections_closed_by_loadgen += totals.connections_closed_by_loadgen;
  }
  result.reply_span_s = seconds_of(last_reply - timeline.window_start);
  if (result.settings.model() == LoadModel::kOpen && result.window_s > 0) {
    result.mean_in_system = in_system_s / result.window_s;
  }
  if (result.window_s > 0 && !budget_mode && result.end == RunEnd::kComplete) {
    const double half_s = result.window_s / 2;
    result.first_half.throughput_rps = static_cast<double>(result.first_half.count) / half_s;
    result.second_half.throughput_rps = static_cast<double>(result.second_half.count) / half_s;
    result.first_half.p50_us = halves[0].value_at_percentile(50);
    result.second_half.p50_us = halves[1].value_at_percentile(50);
  } else {
    result.first_half = {};
    result.second_half = {};
  }
}

}  // namespace

RunResult run_load(const LoadSettings& requested, const RunHooks& hooks) {
  const LoadSettings settings = resolved(requested);
  raise_fd_limit(settings.connections);
  const asio::ip::tcp::endpoint endpoint = resolve(parse_target(settings.target));
  const auto connect_deadline = Clock::now() + settings.connect_timeout;
  wait_while_refused(endpoint, connect_deadline);

  RequestBudget budget;
  if (settings.model() == LoadModel::kClosed && settings.requests > 0) {
    budget.enabled = true;
    budget.left.store(static_cast<std::int64_t>(settings.requests));
  }
  WorkerSet set(settings, budget);
  connect_all(set, endpoint, connect_deadline, settings);
  RunResult result;
  result.host = host_info();
  result.run_id = new_run_id();
  const Timeline timeline = timeline_from(start_instant(settings, hooks), settings);
  record_start(result, timeline.t0, settings);
  const double cpu_start = own_usage().cpu_s;
  set.on_each([&](Worker& worker) { worker.start(timeline); });

  RunWatch watch(settings, hooks, timeline, set, budget);
  const WatchOutcome outcome = watch.watch();
  set.stop();
  result.cpu_s = own_usage().cpu_s - cpu_start;

  // Every worker thread is joined: their books are ours to read now.
  result.settings = settings;
  add_up(result, set.workers(), timeline, outcome, budget.enabled);
  result.intervals = watch.take_series();
  result.finalize();
  return result;
}

}  // namespace poolbench
