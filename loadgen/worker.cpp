#include "worker.hpp"

#include <algorithm>
#include <limits>

#include <asio/error.hpp>
#include <asio/post.hpp>

namespace poolbench {

using std::chrono::nanoseconds;

namespace {

RequestTimes times_of(const RequestSlot& request) {
  return {request.intended, request.sent, request.measured};
}

}  // namespace

Worker::Worker(int index, int thread_count, int connection_count, const LoadSettings& settings,
               RequestBudget& budget)
    : settings_(settings),
      budget_(budget),
      context_(1),
      guard_(asio::make_work_guard(context_)),
      schedule_timer_(context_),
      sweep_timer_(context_),
      connect_timer_(context_),
      books_(settings, !budget.enabled),
      sweep_period_(timeout_sweep_period(settings)) {
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
    // This thread's lane of the one plan (schedule.hpp): lanes of a share are N apart.
    const Segment& share = settings.segment;
    plan_.emplace(settings.arrival, settings.rate, share.index + share.count * index,
                  share.count * thread_count, settings.seed);
  }
  touched_.reserve(connections_.size());
}

void Worker::start_thread() {
  thread_ = std::thread([this] { context_.run(); });
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

std::future<ConnectReport> Worker::connect(const asio::ip::tcp::endpoint& endpoint,
                                           nanoseconds timeout) {
  auto promise = std::make_shared<std::promise<ConnectReport>>();
  auto future = promise->get_future();
  asio::post(context_, [this, endpoint, timeout, promise] {
    endpoint_ = endpoint;
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

void Worker::on_connect(std::error_code error) {
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

void Worker::start(const Timeline& timeline) {
  t0_ = timeline.t0;
  books_.start(timeline);
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

void Worker::stop_sending(TimePoint now) {
  stop_sending_ = true;
  books_.end_window_at(now);
  schedule_timer_.cancel();
  for (auto& aux : aux_) {
    if (aux.think_timer) aux.think_timer->cancel();
    aux.think_due.clear();
  }
  // Requests the plan made due that were never sent: measured ones are given up on.
  if (plan_) {
    take_plan_before(now + nanoseconds(1), [&](std::uint64_t count, bool measured, int, bool) {
      if (measured) books_.plan_unsent(count);
    });
  }
  check_drained(now);
}

void Worker::abandon() {
  for (auto& connection : connections_) {
    RequestTable& table = connection->table();
    for (int slot = 0; slot < table.depth(); ++slot) {
      const RequestSlot& request = table.slot(slot);
      if (request.state == SlotState::kFree || request.state == SlotState::kExpired) continue;
      books_.abandoned(times_of(request));
      table.expire(slot);  // no longer ours to count
    }
  }
  stop_sending(Clock::now());
  books_.forget_outstanding();
  drained_.store(true, std::memory_order_release);
}

void Worker::finish() {
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

void Worker::on_reply(Connection& connection, const ReplyMatch& match, TimePoint now) {
  if (match.kind == ReplyMatch::Kind::kStray) {
    books_.stray_reply(match.error, now);
    return;
  }
  const RequestSlot& request = connection.table().slot(match.slot);
  if (match.kind == ReplyMatch::Kind::kCompleted) {
    books_.completed(times_of(request), now);
    check_drained(now);
  } else if (match.kind == ReplyMatch::Kind::kFailed) {
    books_.failed(times_of(request), match.error, now);
    check_drained(now);
  }
  if (settings_.think_time.count() > 0 && settings_.model() == LoadModel::kClosed) {
    think(connection, now + settings_.think_time);
  }
}

void Worker::on_capacity(Connection& connection, TimePoint now) {
  if (connection.retiring()) {
    reopen_if_idle(connection);
    return;
  }
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

void Worker::on_closed(Connection&, std::error_code error) {
  if (finished_ || !started_) return;  // before start(), start() counts the open ones
  // A reply line over the limit: the only close that is loadgen's decision, not the peer's.
  if (error == asio::error::message_size) books_.closed_by_loadgen();
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

// Is a request intended at `intended` measured? Takes a --requests ticket if so.
bool Worker::is_measured(TimePoint intended) {
  if (!books_.in_window(intended)) return false;
  if (!budget_.enabled) return true;
  const std::int64_t left = budget_.left.fetch_sub(1, std::memory_order_relaxed);
  if (left > 0) {
    if (left == 1) {
      budget_.end_ns.store(intended.time_since_epoch().count(), std::memory_order_release);
    }
    return true;
  }
  books_.end_window_at(intended);  // the budget is spent: this thread's window is over
  return false;
}

bool Worker::window_over(TimePoint now) const {
  if (now >= books_.window_end()) return true;
  return budget_.enabled && budget_.left.load(std::memory_order_relaxed) <= 0;
}

void Worker::check_drained(TimePoint now) {
  // Open loop: the plan must also have passed the window (its due requests sent or failed).
  const bool plan_done = !plan_ || stop_sending_ || next_intended_ >= books_.window_end();
  if (books_.measured_outstanding() == 0 && plan_done && window_over(now) && !drained()) {
    drained_.store(true, std::memory_order_release);
  }
}

void Worker::create(Connection& connection, TimePoint intended) {
  const bool measured = is_measured(intended);
  connection.send(intended, measured);
  books_.sent(measured);
}

// --- closed loop ------------------------------------------------------------------------

void Worker::start_closed_loop() {
  const TimePoint now = Clock::now();
  for (auto& connection : connections_) {
    while (connection->can_send())
      create(*connection, now);
    connection->flush();
  }
}

void Worker::think(Connection& connection, TimePoint due) {
  if (stop_sending_ || connection.retiring()) return;  // a retired one refills when reopened
  ConnectionAux& aux = aux_of(connection);
  aux.think_due.push_back(due);
  if (aux.think_due.size() == 1) arm_think(connection, aux);
}

void Worker::arm_think(Connection& connection, ConnectionAux& aux) {
  aux.think_timer->expires_at(aux.think_due.front());
  aux.think_timer->async_wait([this, &connection, &aux](std::error_code error) {
    if (error || stop_sending_ || connection.retiring()) return;
    const TimePoint now = Clock::now();
    while (!aux.think_due.empty() && aux.think_due.front() <= now && connection.can_send()) {
      create(connection, aux.think_due.front());  // intended: when the think time ended
      aux.think_due.pop_front();
    }
    connection.flush();
    if (!aux.think_due.empty() && connection.is_open()) arm_think(connection, aux);
  });
}

// --- open loop (loadgen/README.md §2) ------------------------------------------------
// The plan is consumed lazily: a due request that finds every connection of this thread at
// --depth stays in the plan (next_intended_ in the past) until a slot frees or it times out.
// The generator's queue therefore costs no memory however far behind the plan it falls, and
// its wait is charged to response time and schedule lag all the same.

void Worker::on_schedule() {
  schedule_armed_ = false;
  if (stop_sending_) return;
  run_plan(Clock::now());
}

// Sends what is due, then waits for what is next.
void Worker::run_plan(TimePoint now) {
  dispatch_due(now);
  flush_touched();
  arm_schedule(now);
}

// Waits for the next intended time, unless the plan is blocked on capacity (on_capacity
// resumes it then) or the timer is already set.
void Worker::arm_schedule(TimePoint now) {
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
void Worker::dispatch_due(TimePoint now) {
  constexpr int kMaxDuePerPass = 4096;
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
      books_.no_connection(intended, is_measured(intended));
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

void Worker::resume_later() {
  if (resume_posted_) return;
  resume_posted_ = true;
  asio::post(context_, [this] {
    resume_posted_ = false;
    if (!stop_sending_) run_plan(Clock::now());
  });
}

// Times out every request the plan intended before `end` without sending it.
void Worker::time_out_plan_before(TimePoint end, TimePoint now) {
  take_plan_before(end, [&](std::uint64_t count, bool measured, int half, bool warmup) {
    books_.plan_timed_out(count, measured, half, warmup, now);
  });
}

// Takes every request intended before `end` out of the plan at once, however many (an
// impossible --rate leaves billions overdue), and hands them to on_run(count, measured, half,
// warmup) in runs that share whether they are measured, which half of the window they are in,
// and whether they were intended in the warm-up.
// (A plan means open loop, where no --requests budget decides what is measured.)
template <typename OnRun>
void Worker::take_plan_before(TimePoint end, OnRun on_run) {
  const TimePoint bounds[] = {books_.window_start(), books_.window_middle(), books_.window_end(),
                              end};
  for (int run = 0; run < 4; ++run) {
    const TimePoint until = std::min(bounds[run], end);
    if (next_intended_ >= until) continue;
    const std::uint64_t count = 1 + plan_->skip_to(until - t0_);
    advance_plan();
    on_run(count, run == 1 || run == 2, run == 2 ? 1 : 0, run == 0);
  }
}

void Worker::advance_plan() {
  next_intended_ = t0_ + plan_->next();
}

Connection* Worker::next_ready() {
  while (!ready_.empty()) {
    Connection* connection = ready_.front();
    ready_.pop_front();
    aux_of(*connection).ready = false;
    if (connection->can_send()) return connection;
  }
  return nullptr;
}

void Worker::make_ready(Connection& connection) {
  ConnectionAux& aux = aux_of(connection);
  if (aux.ready || !connection.can_send()) return;
  aux.ready = true;
  ready_.push_back(&connection);
}

void Worker::flush_touched() {
  for (Connection* connection : touched_)
    connection->flush();
  touched_.clear();
}

// --- timeouts ---------------------------------------------------------------------------

void Worker::arm_sweep() {
  sweep_timer_.expires_after(sweep_period_);
  sweep_timer_.async_wait([this](std::error_code error) {
    if (error) return;
    sweep(Clock::now());
    arm_sweep();
  });
}

// Times out every request older than the timeout: in flight, or still waiting in the plan.
void Worker::sweep(TimePoint now) {
  const nanoseconds timeout = settings_.timeout;
  for (auto& connection : connections_) {
    RequestTable& table = connection->table();
    if (table.occupied() == 0) continue;
    bool expired = false;
    for (int slot = 0; slot < table.depth(); ++slot) {
      const RequestSlot& request = table.slot(slot);
      if (request.state != SlotState::kQueued && request.state != SlotState::kInFlight) continue;
      if (now - request.intended < timeout) continue;
      table.expire(slot);
      books_.timed_out(times_of(request), now);
      expired = true;
    }
    if (expired && !plan_) retire_after_timeout(*connection, now);
  }
  if (plan_ && !stop_sending_ && started_ && now - next_intended_ >= timeout) {
    run_plan(now);  // times out what waited too long in the plan
  }
  check_drained(now);
}

// Closed loop: a timed-out request would hold its slot for the rest of the run if the server
// never answers, so its connection is retired and reopened. Ack protocol: the other requests
// on it are still matched by id, so it waits for them (answered or timed out) first. Raw
// protocol: replies carry no id and a late one would be taken for the next request's, so the
// others cannot be matched any more: they fail as "closed_after_timeout" and it reopens now.
void Worker::retire_after_timeout(Connection& connection, TimePoint now) {
  if (!connection.is_open()) return;
  connection.retire();
  if (settings_.protocol == Protocol::kRaw) {
    const RequestTable& table = connection.table();
    for (int slot = 0; slot < table.depth(); ++slot) {
      const RequestSlot& request = table.slot(slot);
      if (request.state != SlotState::kQueued && request.state != SlotState::kInFlight) continue;
      books_.failed(times_of(request), "closed_after_timeout", now);
      connection.table().expire(slot);
    }
  }
  reopen_if_idle(connection);
}

void Worker::reopen_if_idle(Connection& connection) {
  if (!connection.is_open() || connection.table().live() > 0 || stop_sending_ || finished_) {
    return;
  }
  connection.reopen(endpoint_,
                    [this, &connection](std::error_code error) { on_reopened(connection, error); });
}

void Worker::on_reopened(Connection& connection, std::error_code error) {
  if (finished_) return;
  if (error) {
    on_closed(connection, error);  // the server is gone: this connection is lost
    return;
  }
  aux_of(connection).think_due.clear();  // think timers of the old socket: start afresh
  if (stop_sending_) return;
  const TimePoint now = Clock::now();
  while (connection.can_send())
    create(connection, now);
  connection.flush();
}

}  // namespace poolbench
