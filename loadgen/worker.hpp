// One generator thread: its io_context, its connections, the open-loop plan or the closed loop
// that feeds them, reply matching (through connection.hpp) and the timeout sweep. Its books are a
// RequestAccounting (request_accounting.hpp), which it hands over by value after join().
//
// Closed loop, a timeout: the connection is retired (no new request on it) and, once nothing is
// live on it, reopened, which frees the slots of the timed-out requests (loadgen/README.md §4).
//
// Threading:
//  1. A Worker runs one io_context on its own thread and owns its connections, timers and books;
//     nothing of it is touched from another thread while that thread runs, except (2) and (3).
//  2. The coordinator (engine.cpp) calls connect/start/stop_sending/sweep_now/abandon/
//     take_intervals/finish only through a handler posted to context() (connect() posts itself).
//  3. The coordinator may read drained() and all_closed() at any time: atomics.
//  4. take_totals() only after join().
//  5. The only state shared between workers is a RequestBudget (atomics).
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <future>
#include <memory>
#include <optional>
#include <system_error>
#include <thread>
#include <vector>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

#include "connection.hpp"
#include "reference_server/clock.hpp"
#include "request_accounting.hpp"
#include "schedule.hpp"
#include "settings.hpp"

namespace poolbench {

struct ConnectReport {
  int connected = 0;
  int failed = 0;
  std::error_code first_error;
};

// Closed loop with --requests: the measured requests are tickets taken from one budget by every
// thread; the thread taking the last one records when, which ends the window.
struct RequestBudget {
  bool enabled = false;
  std::atomic<std::int64_t> left{0};
  std::atomic<std::int64_t> end_ns{0};  // steady_clock ns of the last ticket; 0 = not yet
};

class Worker final : public ConnectionHandler {
 public:
  // Worker `index` of `thread_count`, with `connection_count` connections.
  Worker(int index, int thread_count, int connection_count, const LoadSettings& settings,
         RequestBudget& budget);

  void start_thread();
  void join();
  asio::io_context& context() { return context_; }

  // --- on the worker's thread (rule 2) ------------------------------------------------------
  std::future<ConnectReport> connect(const asio::ip::tcp::endpoint& endpoint,
                                     std::chrono::nanoseconds timeout);
  void start(const Timeline& timeline);
  // Stops all sending now; measured requests still outstanding may finish (or time out).
  void stop_sending(TimePoint now);
  // Runs the timeout sweep now (the coordinator's safety net at the drain deadline).
  void sweep_now() { sweep(Clock::now()); }
  // Gives up on every measured request still outstanding: counted as unfinished.
  void abandon();
  // The intervals with index < `before`, removed from the worker.
  std::vector<IntervalAccumulator> take_intervals(std::int64_t before) {
    return books_.take_intervals(before);
  }
  void finish();

  // --- any thread (rule 3) --------------------------------------------------------------------
  bool drained() const { return drained_.load(std::memory_order_acquire); }
  bool all_closed() const { return all_closed_.load(std::memory_order_acquire); }

  // --- after join() (rule 4) ------------------------------------------------------------------
  AccountingTotals take_totals() { return books_.take_totals(); }

  // --- ConnectionHandler ------------------------------------------------------------------
  void on_reply(Connection& connection, const ReplyMatch& match, TimePoint now) override;
  void on_capacity(Connection& connection, TimePoint now) override;
  void on_closed(Connection& connection, std::error_code error) override;

 private:
  struct ConnectionAux {
    bool ready = false;  // in ready_ (open loop)
    std::deque<TimePoint> think_due;
    std::unique_ptr<asio::steady_timer> think_timer;
  };

  void on_connect(std::error_code error);
  bool is_measured(TimePoint intended);
  bool window_over(TimePoint now) const;
  void check_drained(TimePoint now);
  void create(Connection& connection, TimePoint intended);
  ConnectionAux& aux_of(const Connection& connection) {
    return aux_[static_cast<std::size_t>(connection.index())];
  }

  // closed loop
  void start_closed_loop();
  void think(Connection& connection, TimePoint due);
  void arm_think(Connection& connection, ConnectionAux& aux);

  // open loop
  void on_schedule();
  void run_plan(TimePoint now);
  void arm_schedule(TimePoint now);
  void dispatch_due(TimePoint now);
  void resume_later();
  void time_out_plan_before(TimePoint end, TimePoint now);
  template <typename OnRun>
  void take_plan_before(TimePoint end, OnRun on_run);
  void advance_plan();
  Connection* next_ready();
  void make_ready(Connection& connection);
  void flush_touched();

  // timeouts
  void arm_sweep();
  void sweep(TimePoint now);
  void retire_after_timeout(Connection& connection, TimePoint now);
  void reopen_if_idle(Connection& connection);
  void on_reopened(Connection& connection, std::error_code error);

  const LoadSettings& settings_;
  RequestBudget& budget_;
  asio::io_context context_;
  asio::executor_work_guard<asio::io_context::executor_type> guard_;
  std::vector<std::unique_ptr<Connection>> connections_;
  std::vector<ConnectionAux> aux_;
  asio::ip::tcp::endpoint endpoint_;  // where the connections go (and are reopened to)
  asio::steady_timer schedule_timer_;
  asio::steady_timer sweep_timer_;
  asio::steady_timer connect_timer_;
  std::thread thread_;
  RequestAccounting books_;

  std::optional<ArrivalPlan> plan_;
  TimePoint next_intended_{TimePoint::max()};  // the plan's next request; max until it starts
  std::deque<Connection*> ready_;
  std::vector<Connection*> touched_;
  std::chrono::nanoseconds sweep_period_{};

  TimePoint t0_{};
  bool started_ = false;
  bool resume_posted_ = false;  // dispatch_due yielded: a call to resume it is queued
  bool schedule_armed_ = false;
  bool stop_sending_ = false;
  bool finished_ = false;
  int open_count_ = 0;

  int pending_connects_ = 0;
  bool connect_timed_out_ = false;
  ConnectReport connect_report_;
  std::shared_ptr<std::promise<ConnectReport>> connect_promise_;

  std::atomic<bool> drained_{false};
  std::atomic<bool> all_closed_{false};
};

}  // namespace poolbench
