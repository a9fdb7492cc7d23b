// Reactor: the event loop. One asio::io_context, run by the thread that calls run() (the main
// thread in reference_server), plus call_from_thread, the way worker threads reach it. (One
// other thread posts to the io_context directly: the admin endpoint's formatter, admin.hpp, so
// that /stats polling does not count in the request path's call_from_thread figures.)
// (reference_server/README.md §2 summarises the threading rules below for the whole server.)
//
// Threading rules (kept by every file in reference_server/):
//   1. Only the reactor thread touches connections: sockets, buffers, per-connection state.
//   2. Worker threads never touch connections; they hand a value or an exception back through
//      call_from_thread, which runs it on the reactor thread.
//   3. A connection may be gone by the time its reply arrives: reply paths hold a weak
//      reference and drop the reply.
//   4. State shared across threads is atomic or guarded by one mutex (the pool's, or the
//      hand-off queue's below); nothing else is shared.
//
// call_from_thread is Twisted's callFromThread: calls run on the reactor thread in the order
// they were made (FIFO across all producers), each batch is a snapshot, and calls made while a
// batch runs go to the next batch. Unlike Twisted, which writes one waker byte per call, a
// wake-up is posted only when the queue goes from empty to non-empty: producers racing with a
// running batch share one wake-up. `Stats::wakeups` vs `Stats::calls` shows the coalescing.
#pragma once

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace poolbench {

class Reactor {
 public:
  using Call = std::function<void()>;

  struct Stats {
    std::uint64_t calls = 0;    // call_from_thread calls run so far
    std::uint64_t wakeups = 0;  // batches posted to the io_context
  };

  Reactor();
  Reactor(const Reactor&) = delete;
  Reactor& operator=(const Reactor&) = delete;

  asio::io_context& context() { return context_; }

  // Runs the loop on the calling thread until stop(). That thread is the reactor thread.
  void run();
  // Thread-safe. Pending calls that have not run are dropped (as in Twisted).
  void stop();

  // Thread-safe: runs `call` on the reactor thread, after every call made before it.
  // An exception escaping `call` is reported on stderr; the remaining calls still run.
  void call_from_thread(Call call);

  bool in_reactor_thread() const { return std::this_thread::get_id() == reactor_thread_.load(); }
  Stats stats() const;

 private:
  void run_batch();

  asio::io_context context_;
  // Keeps run() going while the loop has nothing to do but wait for call_from_thread.
  asio::executor_work_guard<asio::io_context::executor_type> keep_running_;
  std::atomic<std::thread::id> reactor_thread_{};

  mutable std::mutex calls_mutex_;
  std::vector<Call> pending_calls_;  // guarded by calls_mutex_
  std::vector<Call> running_batch_;  // reactor thread only; kept to reuse its capacity
  std::uint64_t calls_run_ = 0;      // guarded by calls_mutex_
  std::uint64_t wakeups_ = 0;        // guarded by calls_mutex_
};

}  // namespace poolbench
