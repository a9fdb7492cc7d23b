// Threading (engine.hpp): each Worker runs one io_context on its own thread and owns
// its connections, timers, counters and histograms. The coordinator (run_load's thread) talks
// to a worker only by posting a handler to its io_context and waiting on a future, and reads a
// worker's members directly only after joining its thread. The only shared state is atomics:
// the --requests budget, the workers' "drained"/"all closed" flags, and the numbers each worker
// publishes for the coordinator's in-system sampler (its count and its plan's next due time).
#include "engine.hpp"

#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <deque>
#include <fstream>
#include <future>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <thread>

#include <asio/executor_work_guard.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>

#include "connection.hpp"

namespace poolbench {
namespace {

using std::chrono::duration_cast;
using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;

std::int64_t to_us(nanoseconds d) {
  // Round to the nearest microsecond; never negative (clock reads are monotonic anyway).
  return std::max<std::int64_t>(0, (d.count() + 500) / 1000);
}

double to_s(nanoseconds d) {
  return std::chrono::duration<double>(d).count();
}

Histogram make_histogram() {
  return Histogram(1, kHistogramHighestUs, 3);
}

// How often workers look for timed-out requests: a timeout is recorded at the timeout value
// whenever it is found, so this only bounds how late the drain can end.
nanoseconds sweep_period_for(const LoadSettings& settings) {
  return std::clamp<nanoseconds>(settings.timeout / 20, milliseconds(5), milliseconds(100));
}

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

struct ConnectReport {
  int connected = 0;
  int failed = 0;
  std::error_code first_error;
};

// Times of one run, fixed before the load starts (window_end may move earlier: interruption,
// lost connections, or the --requests budget running out).
struct Timeline {
  TimePoint t0;
  TimePoint window_start;
  TimePoint window_end;
};

struct SharedState {
  bool budget_mode = false;  // closed loop with --requests
  std::atomic<std::int64_t> budget{0};
  std::atomic<std::int64_t> budget_end_ns{0};  // steady_clock ns of the last ticket; 0 = not yet
};

struct IntervalAccumulator {
  std::int64_t index = 0;
  Histogram response = make_histogram();
  std::uint64_t completed = 0;
  std::uint64_t errors = 0;
  std::uint64_t timeouts = 0;
};

class Worker final : public ConnectionHandler {
 public:
  Worker(int index, int thread_count, int connection_count, const LoadSettings& settings,
         SharedState& shared)
      : settings_(settings),
        shared_(shared),
        context_(1),
        guard_(asio::make_work_guard(context_)),
        schedule_timer_(context_),
        sweep_timer_(context_),
        connect_timer_(context_) {
    const RequestTable prototype(settings.protocol, settings.depth, settings.payload_size,
                                 settings.request, settings.expect);
    // Connection i of the run belongs to worker i % threads; here it is known by its position.
    connections_.reserve(static_cast<std::size_t>(connection_count));
    for (int position = 0; position < connection_count; ++position) {
      connections_.push_back(std::make_unique<Connection>(context_, position, prototype, *this));
    }
    aux_.resize(connections_.size());
    if (settings.think_time.count() > 0) {
      for (auto& aux : aux_)
        aux.think_timer = std::make_unique<asio::steady_timer>(context_);
    }
    if (settings.model() == LoadModel::kOpen) {
      plan_.emplace(settings.arrival, settings.rate, index, thread_count, settings.seed);
    }
    sweep_period_ = sweep_period_for(settings);
    touched_.reserve(connections_.size());
  }

  void start_thread() {
    thread_ = std::thread([this] { context_.run(); });
  }
  void join() {
    if (thread_.joinable()) thread_.join();
  }
  asio::io_context& context() { return context_; }

  // --- called through call_on() from the coordinator ---------------------------------------

  std::future<ConnectReport> connect(const asio::ip::tcp::endpoint& endpoint, nanoseconds timeout) {
    auto promise = std::make_shared<std::promise<ConnectReport>>();
    auto future = promise->get_future();
    asio::post(context_, [this, endpoint, timeout, promise] {
      pending_connects_ = static_cast<int>(connections_.size());
      connect_promise_ = promise;
      if (pending_connects_ == 0) {
        promise->set_value(connect_report_);
        return;
      }
      connect_timer_.expires_after(timeout);
      connect_timer_.async_wait([this](std::error_code error) {
        if (error) return;
        connect_timed_out_ = true;
        for (auto& connection : connections_) {
          if (!connection->is_open()) connection->close();
        }
      });
      for (auto& connection : connections_) {
        connection->connect(endpoint, [this](std::error_code error) { on_connect(error); });
      }
    });
    return future;
  }

  void start(const Timeline& timeline) {
    t0_ = timeline.t0;
    window_start_ = timeline.window_start;
    window_end_ = timeline.window_end;
    started_ = true;
    open_count_ = static_cast<int>(std::count_if(connections_.begin(), connections_.end(),
                                                 [](auto& c) { return c->is_open(); }));
    if (open_count_ == 0) all_closed_.store(true, std::memory_order_release);
    if (plan_) {
      for (auto& connection : connections_) {
        if (connection->can_send()) make_ready(*connection);
      }
    }
    schedule_timer_.expires_at(t0_);
    schedule_timer_.async_wait([this](std::error_code error) {
      if (error) return;
      if (plan_) {
        advance_plan();
        on_schedule();
      } else {
        start_closed_loop();
      }
    });
    arm_sweep();
  }

  // Stops all sending now; measured requests still outstanding may finish (or time out).
  void stop_sending(TimePoint now) {
    stop_sending_ = true;
    next_due_ns_.store(std::numeric_limits<std::int64_t>::max(), std::memory_order_relaxed);
    window_end_ = std::min(window_end_, now);
    schedule_timer_.cancel();
    for (auto& aux : aux_) {
      if (aux.think_timer) aux.think_timer->cancel();
      aux.think_due.clear();
    }
    // Requests the plan made due that were never sent: measured ones are given up on.
    if (plan_) {
      take_plan_before(now + nanoseconds(1), [&](std::uint64_t count, bool measured, int) {
        if (!measured) return;
        counts_.scheduled += count;
        counts_.unfinished += count;
      });
    }
    check_drained(now);
  }

  // Runs the timeout sweep now (the coordinator's safety net at the drain deadline).
  void sweep_now() { sweep(Clock::now()); }

  // Gives up on every measured request still outstanding: counted as unfinished.
  void abandon() {
    for (auto& connection : connections_) {
      RequestTable& table = connection->table();
      for (int slot = 0; slot < table.depth(); ++slot) {
        const RequestSlot& request = table.slot(slot);
        if (request.state == SlotState::kFree || request.state == SlotState::kExpired) continue;
        if (request.measured) {
          ++counts_.unfinished;
          --measured_outstanding_;
        }
        table.expire(slot);  // no longer ours to count
      }
    }
    stop_sending(Clock::now());
    measured_outstanding_ = 0;
    drained_.store(true, std::memory_order_release);
  }

  // The intervals with index < `before`, removed from the worker.
  std::vector<IntervalAccumulator> take_intervals(std::int64_t before) {
    std::vector<IntervalAccumulator> taken;
    while (!intervals_.empty() && intervals_.front().index < before) {
      taken.push_back(std::move(intervals_.front()));
      intervals_.pop_front();
    }
    return taken;
  }

  void finish() {
    finished_ = true;
    schedule_timer_.cancel();
    sweep_timer_.cancel();
    connect_timer_.cancel();
    for (auto& aux : aux_) {
      if (aux.think_timer) aux.think_timer->cancel();
    }
    for (auto& connection : connections_)
      connection->close();
    guard_.reset();
    context_.stop();
  }

  // --- read by the coordinator (atomics any time, the rest after join()) ------------------

  bool drained() const { return drained_.load(std::memory_order_acquire); }
  bool all_closed() const { return all_closed_.load(std::memory_order_acquire); }
  // Requests created and not finished (measured or not), as last published by the worker,
  // plus an estimate of those already due by the plan but not yet dispatched (a worker behind
  // its plan: timer slack or a stall), at `per_thread_rate` requests/s.
  double in_system(TimePoint now, double per_thread_rate) const {
    double count = static_cast<double>(in_system_published_.load(std::memory_order_relaxed));
    const std::int64_t due = next_due_ns_.load(std::memory_order_relaxed);
    const std::int64_t late_ns = now.time_since_epoch().count() - due;
    if (late_ns >= 0) count += 1 + static_cast<double>(late_ns) * 1e-9 * per_thread_rate;
    return count;
  }

  RequestCounts counts_;
  Histogram half_response_[2] = {make_histogram(), make_histogram()};
  std::uint64_t half_count_[2] = {0, 0};
  TimePoint last_measured_reply_{};

  // --- ConnectionHandler -----------------------------------------------------------------

  void on_reply(Connection& connection, const ReplyMatch& match, TimePoint now) override {
    if (match.kind == ReplyMatch::Kind::kStray) {
      if (started_ && now >= window_start_) counts_.errors.add(match.error, 1, true);
      interval_at(now).errors++;
      return;
    }
    const RequestSlot& request = connection.table().slot(match.slot);
    if (match.kind != ReplyMatch::Kind::kLate) {
      finish_request(request, match, now);
    }
    if (settings_.think_time.count() > 0 && settings_.model() == LoadModel::kClosed) {
      think(connection, now + settings_.think_time);
    }
  }

  void on_capacity(Connection& connection, TimePoint now) override {
    if (stop_sending_ || !started_) return;
    if (plan_) {
      make_ready(connection);
      if (next_intended_ <= now) {
        dispatch_due(now);  // the plan was blocked on capacity: resume it
        flush_touched();
        arm_schedule(now);
      }
    } else if (settings_.think_time.count() == 0) {
      while (connection.can_send())
        create(connection, now);
    }
  }

  void on_closed(Connection& connection, std::error_code) override {
    (void)connection;
    if (finished_ || !started_) return;  // before start(), start() counts the open ones
    if (--open_count_ > 0) return;
    // Nothing left to send on: the plan's due requests fail now, later ones when due.
    const TimePoint now = Clock::now();
    if (plan_ && !stop_sending_) {
      dispatch_due(now);
      arm_schedule(now);
    }
    all_closed_.store(true, std::memory_order_release);
    check_drained(now);
  }

 private:
  struct ConnectionAux {
    bool ready = false;  // in ready_ (open loop)
    std::deque<TimePoint> think_due;
    std::unique_ptr<asio::steady_timer> think_timer;
  };

  void on_connect(std::error_code error) {
    if (error) {
      ++connect_report_.failed;
      if (!connect_report_.first_error) {
        // Our deadline closed the socket: say "timed out", not "operation aborted".
        connect_report_.first_error = connect_timed_out_ && error == asio::error::operation_aborted
                                          ? std::make_error_code(std::errc::timed_out)
                                          : error;
      }
    } else {
      ++connect_report_.connected;
    }
    if (--pending_connects_ == 0) {
      connect_timer_.cancel();
      connect_promise_->set_value(connect_report_);
      connect_promise_.reset();
    }
  }

  // Is a request intended at `intended` measured? Takes a --requests ticket if so.
  bool is_measured(TimePoint intended) {
    if (intended < window_start_ || intended >= window_end_) return false;
    if (!shared_.budget_mode) return true;
    const std::int64_t left = shared_.budget.fetch_sub(1, std::memory_order_relaxed);
    if (left > 0) {
      if (left == 1) {
        shared_.budget_end_ns.store(intended.time_since_epoch().count(), std::memory_order_release);
      }
      return true;
    }
    window_end_ = intended;  // the budget is spent: this thread's window is over
    return false;
  }

  bool window_over(TimePoint now) const {
    if (now >= window_end_) return true;
    return shared_.budget_mode && shared_.budget.load(std::memory_order_relaxed) <= 0;
  }

  void check_drained(TimePoint now) {
    // Open loop: the plan must also have passed the window (its due requests sent or failed).
    const bool plan_done = !plan_ || stop_sending_ || next_intended_ >= window_end_;
    if (measured_outstanding_ == 0 && plan_done && window_over(now) && !drained()) {
      drained_.store(true, std::memory_order_release);
    }
  }

  void create(Connection& connection, TimePoint intended) {
    const bool measured = is_measured(intended);
    connection.send(intended, measured);
    ++counts_.requests_sent;
    ++in_system_;
    publish_in_system();
    if (measured) {
      ++counts_.scheduled;
      ++measured_outstanding_;
    }
  }

  void finish_request(const RequestSlot& request, const ReplyMatch& match, TimePoint now) {
    --in_system_;
    publish_in_system();
    IntervalAccumulator& interval = interval_at(now);
    const bool ok = match.kind == ReplyMatch::Kind::kCompleted;
    const std::int64_t response_us = to_us(now - request.intended);
    if (ok) {
      interval.response.record(response_us);
      interval.completed++;
    } else {
      interval.errors++;
    }
    if (!request.measured) return;
    --measured_outstanding_;
    last_measured_reply_ = std::max(last_measured_reply_, now);
    if (ok) {
      ++counts_.completed;
      record_response(response_us);
      counts_.service_time.record(to_us(now - request.sent));
      const std::int64_t lag_us = to_us(request.sent - request.intended);
      counts_.schedule_lag.record(lag_us);
      if (lag_us > kLateSendUs) ++counts_.late_sends;
      record_half(request.intended, response_us);
    } else {
      counts_.errors.add(match.error, 1, false);
    }
    check_drained(now);
  }

  // `count` responses of `value_us` each.
  void record_response(std::int64_t value_us, std::int64_t count = 1) {
    counts_.response_time.record_n(value_us, count);
    const std::int64_t expected = to_us(settings_.expected_interval);
    if (expected <= 0 || plan_) return;
    // HdrHistogram's recordValueWithExpectedInterval: closed loop only, opt-in.
    for (std::int64_t missing = value_us - expected; missing >= expected; missing -= expected) {
      counts_.response_time.record_n(missing, count);
    }
  }

  TimePoint window_middle() const { return window_start_ + (window_end_ - window_start_) / 2; }

  void record_half(TimePoint intended, std::int64_t response_us) {
    record_half_n(intended < window_middle() ? 0 : 1, response_us, 1);
  }

  void record_half_n(int half, std::int64_t response_us, std::uint64_t count) {
    if (shared_.budget_mode) return;  // the window's middle is unknown in advance
    half_response_[half].record_n(response_us, static_cast<std::int64_t>(count));
    half_count_[half] += count;
  }

  // A request that was sent (or taken from the plan) and is now given up on.
  void count_timeout(bool measured, TimePoint intended, TimePoint now) {
    --in_system_;
    publish_in_system();
    if (measured) --measured_outstanding_;
    count_timeouts(1, measured, intended < window_middle() ? 0 : 1, now);
  }

  // `count` requests that timed out together, all measured or none, all in one half.
  void count_timeouts(std::uint64_t count, bool measured, int half, TimePoint now) {
    const std::int64_t timeout_us = to_us(settings_.timeout);
    IntervalAccumulator& interval = interval_at(now);
    interval.timeouts += count;
    interval.response.record_n(timeout_us, static_cast<std::int64_t>(count));
    if (!measured) return;
    counts_.timeouts += count;
    record_response(timeout_us, static_cast<std::int64_t>(count));
    record_half_n(half, timeout_us, count);
    last_measured_reply_ = std::max(last_measured_reply_, now);
  }

  // The coordinator samples this (open-loop Little's law): a plain store, no contention.
  void publish_in_system() { in_system_published_.store(in_system_, std::memory_order_relaxed); }

  IntervalAccumulator& interval_at(TimePoint now) {
    const std::int64_t index = now <= t0_ ? 0 : (now - t0_).count() / settings_.interval.count();
    if (!intervals_.empty() && intervals_.back().index == index) return intervals_.back();
    for (auto it = intervals_.rbegin(); it != intervals_.rend(); ++it) {
      if (it->index == index) return *it;
      if (it->index < index) break;
    }
    // Normally the newest; an older index (coordinator already took it) lands in the newest.
    if (!intervals_.empty() && intervals_.back().index > index) return intervals_.back();
    intervals_.emplace_back();
    intervals_.back().index = index;
    return intervals_.back();
  }

  // --- closed loop ----------------------------------------------------------------------

  void start_closed_loop() {
    const TimePoint now = Clock::now();
    for (auto& connection : connections_) {
      while (connection->can_send())
        create(*connection, now);
      connection->flush();
    }
  }

  void think(Connection& connection, TimePoint due) {
    if (stop_sending_) return;
    ConnectionAux& aux = aux_of(connection);
    aux.think_due.push_back(due);
    if (aux.think_due.size() == 1) arm_think(connection, aux);
  }

  ConnectionAux& aux_of(const Connection& connection) {
    return aux_[static_cast<std::size_t>(connection.index())];
  }

  void arm_think(Connection& connection, ConnectionAux& aux) {
    aux.think_timer->expires_at(aux.think_due.front());
    aux.think_timer->async_wait([this, &connection, &aux](std::error_code error) {
      if (error || stop_sending_) return;
      const TimePoint now = Clock::now();
      while (!aux.think_due.empty() && aux.think_due.front() <= now && connection.can_send()) {
        create(connection, aux.think_due.front());  // intended: when the think time ended
        aux.think_due.pop_front();
      }
      connection.flush();
      if (!aux.think_due.empty() && connection.is_open()) arm_think(connection, aux);
    });
  }

  // --- open loop ------------------------------------------------------------------------
  // The plan is consumed lazily: a due request that finds every connection of this thread at
  // --depth stays in the plan (next_intended_ in the past) until a slot frees or it times out.
  // The generator's queue therefore costs no memory however far behind the plan it falls, and
  // its wait is charged to response time and schedule lag all the same.

  void on_schedule() {
    schedule_armed_ = false;
    if (stop_sending_) return;
    run_plan(Clock::now());
  }

  // Sends what is due, then waits for what is next.
  void run_plan(TimePoint now) {
    dispatch_due(now);
    flush_touched();
    arm_schedule(now);
  }

  // Waits for the next intended time, unless the plan is blocked on capacity (on_capacity
  // resumes it then) or the timer is already set.
  void arm_schedule(TimePoint now) {
    if (schedule_armed_ || stop_sending_ || next_intended_ <= now) return;
    schedule_armed_ = true;
    schedule_timer_.expires_at(next_intended_);
    schedule_timer_.async_wait([this](std::error_code error) {
      if (!error) on_schedule();
    });
  }

  // Sends every due request on a free connection, round robin; times out or fails those that
  // cannot be sent. Stops when no connection has a free slot.
  //
  // A plan far behind (an impossible --rate) has more overdue requests than the machine can even
  // count: after kMaxDuePerPass of them it yields, so replies, sweeps and the stop still run on
  // this thread, and resumes from a posted call.
  static constexpr int kMaxDuePerPass = 4096;

  void dispatch_due(TimePoint now) {
    for (int n = 0; next_intended_ <= now; ++n) {
      if (n == kMaxDuePerPass) {
        resume_later();
        break;
      }
      const TimePoint intended = next_intended_;
      if (now - intended >= settings_.timeout) {
        time_out_plan_before(now - settings_.timeout + nanoseconds(1), now);
        continue;
      }
      Connection* connection = next_ready();
      if (connection == nullptr) {
        if (open_count_ > 0) break;  // blocked: every connection is at depth
        if (is_measured(intended)) {
          ++counts_.scheduled;
          counts_.errors.add("no_connection", 1, false);
        }
        advance_plan();
        continue;
      }
      create(*connection, intended);
      touched_.push_back(connection);
      if (connection->can_send()) make_ready(*connection);  // round robin: to the back
      advance_plan();
    }
    check_drained(now);
  }

  void resume_later() {
    if (resume_posted_) return;
    resume_posted_ = true;
    asio::post(context_, [this] {
      resume_posted_ = false;
      if (!stop_sending_) run_plan(Clock::now());
    });
  }

  // Times out every request the plan intended before `end` without sending it.
  void time_out_plan_before(TimePoint end, TimePoint now) {
    take_plan_before(end, [&](std::uint64_t count, bool measured, int half) {
      if (measured) counts_.scheduled += count;
      count_timeouts(count, measured, half, now);
    });
  }

  // Takes every request intended before `end` out of the plan at once, however many (an
  // impossible --rate leaves billions overdue), and hands them to on_run(count, measured, half)
  // in runs that share whether they are measured and which half of the window they are in.
  // (A plan means open loop, where no --requests budget decides what is measured.)
  template <typename OnRun>
  void take_plan_before(TimePoint end, OnRun on_run) {
    const TimePoint bounds[] = {window_start_, window_middle(), window_end_, end};
    for (int run = 0; run < 4; ++run) {
      const TimePoint until = std::min(bounds[run], end);
      if (next_intended_ >= until) continue;
      const std::uint64_t count = 1 + plan_->skip_to(until - t0_);
      advance_plan();
      on_run(count, run == 1 || run == 2, run == 2 ? 1 : 0);
    }
  }

  void advance_plan() {
    next_intended_ = t0_ + plan_->next();
    next_due_ns_.store(next_intended_.time_since_epoch().count(), std::memory_order_relaxed);
  }

  Connection* next_ready() {
    while (!ready_.empty()) {
      Connection* connection = ready_.front();
      ready_.pop_front();
      aux_of(*connection).ready = false;
      if (connection->can_send()) return connection;
    }
    return nullptr;
  }

  void make_ready(Connection& connection) {
    ConnectionAux& aux = aux_of(connection);
    if (aux.ready || !connection.can_send()) return;
    aux.ready = true;
    ready_.push_back(&connection);
  }

  void flush_touched() {
    for (Connection* connection : touched_)
      connection->flush();
    touched_.clear();
  }

  // --- timers -----------------------------------------------------------------------------

  void arm_sweep() {
    sweep_timer_.expires_after(sweep_period_);
    sweep_timer_.async_wait([this](std::error_code error) {
      if (error) return;
      sweep(Clock::now());
      arm_sweep();
    });
  }

  // Times out every request older than the timeout: in flight, or still waiting in the plan.
  void sweep(TimePoint now) {
    const nanoseconds timeout = settings_.timeout;
    for (auto& connection : connections_) {
      RequestTable& table = connection->table();
      if (table.occupied() == 0) continue;
      for (int slot = 0; slot < table.depth(); ++slot) {
        const RequestSlot& request = table.slot(slot);
        if (request.state != SlotState::kQueued && request.state != SlotState::kInFlight) continue;
        if (now - request.intended < timeout) continue;
        table.expire(slot);
        count_timeout(request.measured, request.intended, now);
      }
    }
    if (plan_ && !stop_sending_ && started_ && now - next_intended_ >= timeout) {
      run_plan(now);  // times out what waited too long in the plan
    }
    check_drained(now);
  }

  const LoadSettings& settings_;
  SharedState& shared_;
  asio::io_context context_;
  asio::executor_work_guard<asio::io_context::executor_type> guard_;
  std::vector<std::unique_ptr<Connection>> connections_;
  std::vector<ConnectionAux> aux_;
  asio::steady_timer schedule_timer_;
  asio::steady_timer sweep_timer_;
  asio::steady_timer connect_timer_;
  std::thread thread_;

  std::optional<ArrivalPlan> plan_;
  TimePoint next_intended_{TimePoint::max()};  // the plan's next request; max until it starts
  std::deque<Connection*> ready_;
  std::vector<Connection*> touched_;
  nanoseconds sweep_period_{};

  TimePoint t0_{};
  TimePoint window_start_{TimePoint::max()};
  TimePoint window_end_{TimePoint::max()};
  bool started_ = false;
  bool resume_posted_ = false;  // dispatch_due yielded: a call to resume it is queued
  bool schedule_armed_ = false;
  bool stop_sending_ = false;
  bool finished_ = false;
  int open_count_ = 0;
  std::int64_t measured_outstanding_ = 0;
  std::int64_t in_system_ = 0;
  std::deque<IntervalAccumulator> intervals_;

  int pending_connects_ = 0;
  bool connect_timed_out_ = false;
  ConnectReport connect_report_;
  std::shared_ptr<std::promise<ConnectReport>> connect_promise_;

  std::atomic<bool> drained_{false};
  std::atomic<std::int64_t> in_system_published_{0};
  std::atomic<std::int64_t> next_due_ns_{std::numeric_limits<std::int64_t>::max()};
  std::atomic<bool> all_closed_{false};
};

}  // namespace

std::string_view to_string(Protocol protocol) {
  return protocol == Protocol::kRaw ? "raw" : "ack";
}

Protocol parse_protocol(std::string_view text) {
  if (text == "ack") return Protocol::kAck;
  if (text == "raw") return Protocol::kRaw;
  throw std::invalid_argument("unknown protocol '" + std::string(text) + "' (expected ack or raw)");
}

std::string_view to_string(LoadModel model) {
  return model == LoadModel::kOpen ? "open" : "closed";
}

std::string_view to_string(Phase phase) {
  switch (phase) {
    case Phase::kWarmup:
      return "warmup";
    case Phase::kMeasure:
      return "measure";
    case Phase::kDrain:
      return "drain";
  }
  return "?";
}

std::string_view to_string(RunEnd end) {
  switch (end) {
    case RunEnd::kComplete:
      return "complete";
    case RunEnd::kInterrupted:
      return "interrupted";
    case RunEnd::kConnectionsLost:
      return "connections_lost";
  }
  return "?";
}

Endpoint parse_target(std::string_view target) {
  const auto colon = target.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == target.size()) {
    throw std::invalid_argument("target '" + std::string(target) +
                                "' is not host:port (e.g. 127.0.0.1:9090)");
  }
  Endpoint endpoint;
  endpoint.host = std::string(target.substr(0, colon));
  if (endpoint.host.size() > 2 && endpoint.host.front() == '[' && endpoint.host.back() == ']') {
    endpoint.host = endpoint.host.substr(1, endpoint.host.size() - 2);
  }
  const std::string_view port = target.substr(colon + 1);
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535) {
    throw std::invalid_argument("target '" + std::string(target) + "' has no valid port");
  }
  endpoint.port = static_cast<std::uint16_t>(value);
  return endpoint;
}

void LoadSettings::validate() const {
  auto fail = [](const std::string& message) { throw std::invalid_argument(message); };
  parse_target(target);
  if (connections < 1) fail("--connections must be at least 1");
  if (depth < 1) fail("--depth must be at least 1");
  if (threads < 0) fail("--threads must be at least 1 (or 0 for the default)");
  if (rate < 0 || !std::isfinite(rate)) fail("--rate must be a positive number of requests/s");
  // Intended times are in nanoseconds: a faster schedule would not advance.
  if (rate > 1e9) fail("--rate must be at most 1e9 requests/s (one per nanosecond)");
  if (duration.count() < 0) fail("--duration must be positive");
  if (duration.count() == 0 && requests == 0) fail("give --duration or --requests");
  if (warmup.count() < 0) fail("--warmup must not be negative");
  if (timeout.count() <= 0) fail("--timeout must be positive");
  if (connect_timeout.count() <= 0) fail("--connect-timeout must be positive");
  if (think_time.count() < 0) fail("--think-time must not be negative");
  if (think_time.count() > 0 && rate > 0) fail("--think-time applies to the closed loop only");
  if (interval < std::chrono::milliseconds(10)) fail("--interval must be at least 10ms");
  if (payload_size < 1 || payload_size > (1 << 20)) fail("--payload-size must be 1..1048576");
  if (protocol == Protocol::kRaw && request.empty()) fail("--request must not be empty");
  if (request.find_first_of("\r\n") != std::string::npos) fail("--request must be one line");
  if (expected_interval.count() < 0) fail("--expected-interval must not be negative");
  if (expected_interval.count() > 0 && rate > 0) {
    fail(
        "--expected-interval is for the closed loop only: open-loop latencies are already "
        "measured from intended times (correcting them again would count stalls twice)");
  }
  if (expected_interval.count() > 0 && expected_interval < std::chrono::microseconds(10)) {
    fail("--expected-interval must be at least 10us");
  }
}

void ErrorCounts::add(std::string_view kind, std::uint64_t count, bool stray_reply) {
  (stray_reply ? stray : requests) += count;
  // Server error texts are unbounded; keep the kinds readable (and the map small).
  kind = kind.substr(0, 64);
  auto it = by_kind.find(kind);
  if (it == by_kind.end()) it = by_kind.emplace(std::string(kind), 0).first;
  it->second += count;
}

void ErrorCounts::merge(const ErrorCounts& other) {
  requests += other.requests;
  stray += other.stray;
  for (const auto& [kind, count] : other.by_kind)
    by_kind[kind] += count;
}

HostInfo host_info() {
  HostInfo host;
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) == 0) host.hostname = name;
  struct utsname uts {};
  if (uname(&uts) == 0) {
    host.os = uts.sysname;
    host.kernel = uts.release;
    host.machine = uts.machine;
  }
  host.cores = static_cast<int>(std::thread::hardware_concurrency());
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos)
        host.cpu_model = line.substr(line.find_first_not_of(' ', colon + 1));
      break;
    }
  }
  return host;
}

void RequestCounts::merge(const RequestCounts& other) {
  scheduled += other.scheduled;
  completed += other.completed;
  timeouts += other.timeouts;
  unfinished += other.unfinished;
  late_sends += other.late_sends;
  errors.merge(other.errors);
  response_time.merge(other.response_time);
  service_time.merge(other.service_time);
  schedule_lag.merge(other.schedule_lag);
  requests_sent += other.requests_sent;
}

void RunResult::finalize() {
  model = settings.model();
  threads = settings.threads;
  throughput_rps = window_s > 0 ? static_cast<double>(completed) / window_s : 0;
  requested_rps = model == LoadModel::kOpen ? settings.rate : 0;
  const double span = std::max(window_s, reply_span_s);
  achieved_rps = span > 0 ? static_cast<double>(completed + errors.requests) / span : 0;
  // Little's law over the response-time population: completed requests and timeouts (which
  // occupied the system until the timeout, and are recorded at it).
  const double mean_response_s = response_time.mean() / 1e6;
  const double departures_rps =
      window_s > 0 ? static_cast<double>(completed + timeouts) / window_s : 0;
  little_ratio = 0;
  if (settings.expected_interval.count() > 0) {
    // The correction adds synthetic values: the histogram's mean is no longer the requests'.
  } else if (model == LoadModel::kClosed) {
    const double in_flight = static_cast<double>(settings.connections) * settings.depth;
    little_ratio = departures_rps * (mean_response_s + to_s(settings.think_time)) / in_flight;
  } else if (mean_in_system > 0) {
    little_ratio = departures_rps * mean_response_s / mean_in_system;
  }
  cpu_us_per_request = requests_sent > 0 ? cpu_s * 1e6 / static_cast<double>(requests_sent) : 0;

  reasons.clear();
  if (end == RunEnd::kInterrupted) reasons.emplace_back("interrupted");
  if (end == RunEnd::kConnectionsLost) reasons.emplace_back("connections_lost");
  if (completed == 0) reasons.emplace_back("no_completions");
  if (model == LoadModel::kOpen && completed > 0) {
    if (std::abs(achieved_rps / requested_rps - 1) > 0.10)
      reasons.emplace_back("rate_not_achieved");
    if (static_cast<double>(late_sends) > 0.01 * static_cast<double>(scheduled)) {
      reasons.emplace_back("schedule_lag_exceeded");
    }
  }
  if (completed > 0 && little_ratio > 0 && std::abs(little_ratio - 1) > 0.05) {
    reasons.emplace_back("little_law");
  }
  constexpr std::uint64_t kMinHalf = 200;
  if (first_half.count >= kMinHalf && second_half.count >= kMinHalf) {
    const double a = static_cast<double>(first_half.p50_us);
    const double b = static_cast<double>(second_half.p50_us);
    // p50 within 5% (with a 20 us floor: loopback jitter), closed-loop throughput within 2%.
    bool unstable = std::abs(a - b) > std::max(0.05 * std::max(a, b), 20.0);
    if (model == LoadModel::kClosed && second_half.throughput_rps > 0 &&
        std::abs(first_half.throughput_rps / second_half.throughput_rps - 1) > 0.02) {
      unstable = true;
    }
    if (unstable) reasons.emplace_back("unstable");
  }
  if (timeouts > 0) reasons.emplace_back("timeouts");
  for (const auto& [kind, count] : errors.by_kind) {
    if (kind.rfind("err:", 0) != 0 && kind != "connection_closed" && kind != "no_connection") {
      reasons.emplace_back("protocol_errors");
      break;
    }
  }
  // A 95% interval for p99 needs a sample beyond it: n >= 299.
  if (completed > 0 && response_time.total_count() < 299) {
    reasons.emplace_back("insufficient_samples");
  }
  if (response_time.saturated_count() > 0) reasons.emplace_back("histogram_saturated");
  valid = reasons.empty();
}

int exit_code_for(const RunResult& result) {
  switch (result.end) {
    case RunEnd::kComplete:
      return 0;
    case RunEnd::kConnectionsLost:
      return 1;
    case RunEnd::kInterrupted:
      return 130;
  }
  return 1;
}

namespace {

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

double cpu_seconds() {
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

std::string iso8601_utc(std::chrono::system_clock::time_point when) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(when);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &utc);
  const auto ms = duration_cast<milliseconds>(when.time_since_epoch()).count() % 1000;
  char result[40];
  std::snprintf(result, sizeof result, "%s.%03dZ", text, static_cast<int>(ms));
  return result;
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

// Stops and joins every worker on every way out of run_load (exceptions included).
struct WorkerSet {
  std::vector<std::unique_ptr<Worker>> workers;
  ~WorkerSet() { stop(); }
  void stop() {
    for (auto& worker : workers) {
      if (worker) asio::post(worker->context(), [w = worker.get()] { w->finish(); });
    }
    for (auto& worker : workers) {
      if (worker) worker->join();
    }
  }
};

// Combines the workers' accumulators of one interval into its series entry.
class IntervalSeries {
 public:
  IntervalSeries(const Timeline& timeline, nanoseconds interval, const RunHooks& hooks)
      : timeline_(timeline), interval_(interval), hooks_(hooks) {}

  void add(std::vector<IntervalAccumulator> parts) {
    for (auto& part : parts) {
      auto [it, inserted] = pending_.try_emplace(part.index);
      if (inserted) {
        it->second = std::move(part);
      } else {
        it->second.response.merge(part.response);
        it->second.completed += part.completed;
        it->second.errors += part.errors;
        it->second.timeouts += part.timeouts;
      }
    }
  }

  // Emits every interval with index < `before` (the last one ends at `end` if earlier).
  void emit_before(std::int64_t before, TimePoint end) {
    for (; next_ < before; ++next_) {
      const TimePoint start = timeline_.t0 + interval_ * next_;
      if (start >= end) break;
      IntervalStats stats;
      stats.start_s = to_s(start - timeline_.t0);
      stats.length_s = to_s(std::min(end, start + interval_) - start);
      stats.phase = start < timeline_.window_start ? Phase::kWarmup
                    : start < timeline_.window_end ? Phase::kMeasure
                                                   : Phase::kDrain;
      auto it = pending_.find(next_);
      if (it != pending_.end()) {
        const IntervalAccumulator& acc = it->second;
        stats.completed = acc.completed;
        stats.errors = acc.errors;
        stats.timeouts = acc.timeouts;
        stats.p50_us = acc.response.value_at_percentile(50);
        stats.p99_us = acc.response.value_at_percentile(99);
        stats.max_us = acc.response.max();
        stats.histogram = acc.response.encode_v2_base64();
        pending_.erase(it);
      } else {
        stats.histogram = empty_histogram_;
      }
      stats.throughput_rps =
          stats.length_s > 0 ? static_cast<double>(stats.completed) / stats.length_s : 0;
      series_.push_back(stats);
      if (hooks_.on_interval) hooks_.on_interval(stats);
    }
  }

  std::int64_t next() const { return next_; }
  std::vector<IntervalStats> take() { return std::move(series_); }
  void set_window_end(TimePoint end) { timeline_.window_end = end; }

 private:
  Timeline timeline_;
  nanoseconds interval_;
  const RunHooks& hooks_;
  const std::string empty_histogram_ = make_histogram().encode_v2_base64();  // idle intervals
  std::map<std::int64_t, IntervalAccumulator> pending_;
  std::int64_t next_ = 0;
  std::vector<IntervalStats> series_;
};

// A server still starting refuses connections: retry one probe connection until it is accepted,
// fails otherwise, or `deadline` passes. The real connects then report whatever is left.
void wait_while_refused(const asio::ip::tcp::endpoint& endpoint, Clock::time_point deadline) {
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

}  // namespace

RunResult run_load(const LoadSettings& requested, const RunHooks& hooks) {
  LoadSettings settings = requested;
  settings.validate();
  const int cores = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  if (settings.threads == 0) settings.threads = std::min(cores, settings.connections);
  settings.threads = std::min(settings.threads, settings.connections);
  raise_fd_limit(settings.connections);
  const asio::ip::tcp::endpoint endpoint = resolve(parse_target(settings.target));
  const auto connect_deadline = Clock::now() + settings.connect_timeout;
  wait_while_refused(endpoint, connect_deadline);

  SharedState shared;
  if (settings.model() == LoadModel::kClosed && settings.requests > 0) {
    shared.budget_mode = true;
    shared.budget.store(static_cast<std::int64_t>(settings.requests));
  }

  WorkerSet set;
  const int threads = settings.threads;
  for (int t = 0; t < threads; ++t) {
    const int count = settings.connections / threads + (t < settings.connections % threads ? 1 : 0);
    set.workers.push_back(std::make_unique<Worker>(t, threads, count, settings, shared));
  }
  for (auto& worker : set.workers)
    worker->start_thread();

  // Connect everything (each worker its own connections, concurrently).
  std::vector<std::future<ConnectReport>> connects;
  for (auto& worker : set.workers)
    connects.push_back(worker->connect(
        endpoint, std::max<nanoseconds>(connect_deadline - Clock::now(), milliseconds(100))));
  ConnectReport total;
  for (auto& future : connects) {
    const ConnectReport report = future.get();
    total.connected += report.connected;
    total.failed += report.failed;
    if (!total.first_error) total.first_error = report.first_error;
  }
  if (total.failed > 0) {
    std::string message =
        "cannot connect to " + settings.target + ": " + total.first_error.message();
    if (total.connected > 0) {
      message = "only " + std::to_string(total.connected) + " of " +
                std::to_string(settings.connections) + " connections to " + settings.target +
                " succeeded within " + std::to_string(to_s(settings.connect_timeout)) +
                " s (first error: " + total.first_error.message() + ")";
    }
    throw ConnectError(message);
  }

  RunResult result;
  result.host = host_info();

  // The timeline: a short lead so every worker has the start before t0.
  const TimePoint now = Clock::now();
  Timeline timeline;
  timeline.t0 = now + milliseconds(20);
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
  const auto t0_wall = std::chrono::system_clock::now() +
                       duration_cast<std::chrono::system_clock::duration>(timeline.t0 - now);
  result.start_time = iso8601_utc(t0_wall);
  result.start_epoch_ms = duration_cast<milliseconds>(t0_wall.time_since_epoch()).count();
  const double cpu_start = cpu_seconds();
  for (auto& worker : set.workers) {
    call_on(worker->context(), [&] { worker->start(timeline); });
  }

  // Coordinate: interval boundaries, interruption, lost connections, the drain.
  IntervalSeries series(timeline, settings.interval, hooks);
  const nanoseconds sweep_period = sweep_period_for(settings);
  auto drain_deadline = [&](TimePoint window_end) {
    return window_end == TimePoint::max()
               ? TimePoint::max()
               : window_end + settings.timeout + 2 * sweep_period + milliseconds(20);
  };
  TimePoint deadline = drain_deadline(timeline.window_end);
  TimePoint window_end = timeline.window_end;
  bool stopping = false;
  bool swept = false;
  auto stop_all = [&](TimePoint at, RunEnd why) {
    stopping = true;
    result.end = why;
    window_end = std::min(window_end, at);
    for (auto& worker : set.workers)
      call_on(worker->context(), [&] { worker->stop_sending(at); });
  };
  auto collect = [&](std::int64_t before, TimePoint end) {
    for (auto& worker : set.workers) {
      series.add(call_on(worker->context(), [&] { return worker->take_intervals(before); }));
    }
    series.emit_before(before, end);
  };

  // Open loop: the number in the system, sampled at jittered times from this thread, which is
  // independent of the workers' event loops (a stalled worker does not stall the sampler).
  struct {
    double sum = 0;
    std::uint64_t count = 0;
    SplitMix64 rng{0x5EED};
  } sampler;
  const bool sample = settings.model() == LoadModel::kOpen;

  TimePoint end_time;
  for (;;) {
    const TimePoint current = Clock::now();
    if (sample && current >= timeline.window_start && current < window_end) {
      const double per_thread_rate = settings.rate / threads;
      for (auto& worker : set.workers)
        sampler.sum += worker->in_system(current, per_thread_rate);
      ++sampler.count;
    }
    const TimePoint boundary = timeline.t0 + settings.interval * (series.next() + 1);
    if (current >= boundary) {
      collect(series.next() + 1, TimePoint::max());
      continue;
    }
    if (!stopping && hooks.stop != nullptr && hooks.stop->load()) {
      stop_all(current, RunEnd::kInterrupted);
      deadline =
          std::min(deadline, current + std::min<nanoseconds>(settings.timeout, milliseconds(500)));
    }
    if (!stopping && std::all_of(set.workers.begin(), set.workers.end(),
                                 [](auto& w) { return w->all_closed(); })) {
      stop_all(current, RunEnd::kConnectionsLost);
      deadline = std::min(deadline, current + sweep_period + milliseconds(20));
    }
    if (shared.budget_mode && deadline == TimePoint::max()) {
      const std::int64_t ns = shared.budget_end_ns.load(std::memory_order_acquire);
      if (ns != 0) {
        window_end = std::min(window_end, TimePoint(nanoseconds(ns)));
        deadline = drain_deadline(TimePoint(nanoseconds(ns)));
      }
    }
    if (std::all_of(set.workers.begin(), set.workers.end(), [](auto& w) { return w->drained(); })) {
      end_time = current;
      break;
    }
    if (current >= deadline) {
      if (!swept) {
        for (auto& worker : set.workers)
          call_on(worker->context(), [&] { worker->sweep_now(); });
        swept = true;
        deadline = current + milliseconds(50);
        continue;
      }
      for (auto& worker : set.workers)
        call_on(worker->context(), [&] { worker->abandon(); });
      end_time = Clock::now();
      break;
    }
    // Wake every 2-6 ms (jittered: no aliasing with a uniform arrival plan).
    const auto pause =
        microseconds(2000 + static_cast<std::int64_t>(sampler.rng.next_unit() * 4000));
    std::this_thread::sleep_until(std::min(boundary, current + pause));
  }
  if (shared.budget_mode && window_end == TimePoint::max()) window_end = end_time;
  series.set_window_end(window_end);
  collect(std::numeric_limits<std::int64_t>::max(), end_time);
  set.stop();
  result.cpu_s = cpu_seconds() - cpu_start;

  // Every worker thread is joined: their members are ours to read now.
  result.settings = settings;
  result.window_s = std::max(0.0, to_s(window_end - timeline.window_start));
  Histogram halves[2] = {make_histogram(), make_histogram()};
  TimePoint last_reply = timeline.window_start;
  for (auto& worker : set.workers) {
    const Worker& w = *worker;
    result.merge(w.counts_);
    for (int h = 0; h < 2; ++h) {
      halves[h].merge(w.half_response_[h]);
    }
    result.first_half.count += w.half_count_[0];
    result.second_half.count += w.half_count_[1];
    last_reply = std::max(last_reply, w.last_measured_reply_);
  }
  result.reply_span_s = to_s(last_reply - timeline.window_start);
  if (sampler.count > 0) {
    result.mean_in_system = sampler.sum / static_cast<double>(sampler.count);
    result.in_system_samples = sampler.count;
  }
  if (result.window_s > 0 && !shared.budget_mode && result.end == RunEnd::kComplete) {
    const double half_s = result.window_s / 2;
    result.first_half.throughput_rps = static_cast<double>(result.first_half.count) / half_s;
    result.second_half.throughput_rps = static_cast<double>(result.second_half.count) / half_s;
    result.first_half.p50_us = halves[0].value_at_percentile(50);
    result.second_half.p50_us = halves[1].value_at_percentile(50);
  } else {
    result.first_half = {};
    result.second_half = {};
  }
  result.intervals = series.take();
  result.finalize();
  return result;
}

}  // namespace poolbench
