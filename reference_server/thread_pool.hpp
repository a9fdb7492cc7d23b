// ThreadPool: the worker pool behind the reactor, with the semantics of Twisted's reactor pool
// (twisted.python.threadpool + twisted._threads, as read from their source; reference_server/
// README.md §4, §7 compare the two):
//
//   - min 0, max N (default 10); no worker exists until work arrives (the starter thread, below,
//     is not a worker);
//   - a thread is created only when a task arrives, no worker is idle and the count is below max;
//   - idle workers are never reaped;
//   - the backlog is unbounded unless a bound is given (then submit() refuses);
//   - the backlog is FIFO per owner (a connection), and owners take turns (fair_queue.hpp);
//   - resize(n) (suggestThreadPoolSize) changes max at runtime: shrinking quits idle workers at
//     once and busy ones once the backlog is empty; growing takes effect as work arrives.
//
// Resource limits: a thread that cannot be created (std::system_error from std::thread: a pids
// or RLIMIT_NPROC limit, no address space for its stack) never escapes to the caller. The pool
// stays at the size it reached, counts the failure, says so once on stderr, and stops trying
// until the next resize(); the task waits for the threads that exist, or is refused (submit()
// returns false) when there is none. max is at most kMaxThreads.
//
// Departures from Twisted, on purpose:
//   - The backlog is shared fairly between owners: one client that pipelines thousands of
//     requests delays another client's request by one of its own per turn, not by all of them.
//     At the bound, the owner holding its fair share or more is refused first (submit()).
//   - Raising max while tasks wait in the backlog starts workers for that backlog at once, so the
//     backlog keeps FIFO order. (Twisted starts nothing; tasks submitted after the raise create
//     workers and overtake the older backlog.) Those workers are created by the pool's starter
//     thread, not by the caller of resize(): creating thousands of threads takes ~0.5 s, which
//     must not stall the reactor. submit() still creates at most one thread, as Twisted does.
//   - A worker marked to quit by a shrink is forgotten if max is raised again before it goes idle
//     (Twisted's _toShrink counter is never reset, so such workers still quit).
//
// Threading: every member below the mutex is guarded by it; workers, submitters and the starter
// thread coordinate only through it. Each worker has its own hand-off slot and condition variable
// (as Twisted's ThreadWorker has its own queue), so a submission wakes exactly the worker it chose,
// after releasing the mutex (notify_mutex_ keeps that worker alive until it is woken).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

#include "fair_queue.hpp"

namespace poolbench {

class ThreadPool {
 public:
  using Task = std::function<void()>;
  using Backlog = FairQueue<Task>;
  using Owner = Backlog::Owner;  // whose task: a connection's key; 0 for anyone
  static constexpr std::size_t kUnboundedQueue = 0;
  // The largest max accepted (--pool-size, POST /pool). Each thread reserves a stack of
  // RLIMIT_STACK (8 MiB by default) of address space and a kernel task; 4096 threads is already
  // 32 GiB of reserved stacks and far beyond the size where more threads help a 2-64 CPU host
  // (the sweep's pool sizes stop at hundreds). Larger requests are typing mistakes.
  static constexpr std::size_t kMaxThreads = 4096;

  struct Stats {
    std::size_t max_threads = 0;
    std::size_t threads = 0;  // live workers, idle + busy
    std::size_t idle = 0;
    std::size_t busy = 0;
    std::size_t queued = 0;
    std::size_t peak_queued = 0;
    std::size_t threads_created = 0;
    std::size_t starting = 0;                 // workers the starter thread is yet to create
    std::uint64_t thread_start_failures = 0;  // std::thread constructions that threw
    std::size_t thread_limit = 0;  // the size reached when a start failed since the last resize
                                   // (0: none failed); the pool grows no further until resized
    std::uint64_t completed = 0;
    std::uint64_t rejected = 0;  // refused because the backlog was at its bound
  };

  // Starts the starter thread (throws std::system_error if it cannot); no worker yet.
  explicit ThreadPool(std::size_t max_threads = 10, std::size_t max_queue = kUnboundedQueue);
  ~ThreadPool();  // stop(StopPolicy::kRunBacklog), unless the pool was abandoned
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Runs `task` on a worker. Returns false, without running it, when the pool is stopping, no
  // worker exists and none can be created, or the backlog is at its bound and `owner` holds its
  // fair share of it (backlog_refuses). A task must not throw; if it does, the exception is
  // reported on stderr and the worker carries on (Twisted logs it the same way).
  bool submit(Task task, Owner owner = 0);

  // Changes the maximum number of threads (Twisted's suggestThreadPoolSize); forgets a thread
  // limit met before, so creation is tried again. Does not wait for threads to be created.
  void resize(std::size_t max_threads);

  enum class StopPolicy { kRunBacklog, kDiscardBacklog };
  // Refuses new work, lets running tasks finish (run_backlog: the backlog too, as Twisted does),
  // and joins every worker. Returns the number of backlogged tasks discarded.
  std::size_t stop(StopPolicy policy = StopPolicy::kRunBacklog);
  struct StopResult {
    std::size_t discarded = 0;  // backlogged tasks dropped
    std::size_t abandoned = 0;  // workers still running a task at the deadline
  };
  // As stop(), but waits for running tasks only until `deadline`. With abandoned > 0 the pool
  // is abandoned: those workers keep running and may still use the pool, so the caller must end
  // the process without destroying it (std::_Exit).
  StopResult stop_until(StopPolicy policy, std::chrono::steady_clock::time_point deadline);

  Stats stats() const;

 private:
  struct Worker {
    std::thread thread;
    std::condition_variable wake;
    Task task;  // hand-off slot: set by whoever wakes this worker
    bool quit = false;
    bool exited = false;
  };

  void work(Worker& self);
  void run_starter();
  // Caller holds the mutex.
  bool backlog_refuses(Owner owner) const;
  bool next_task(Worker& self, std::unique_lock<std::mutex>& lock);
  bool try_start_worker(Task& first_task);  // on failure, first_task is left to the caller
  Worker& add_worker();
  void forget_unstarted_worker(Worker& worker, const std::system_error& why);
  void note_start_failure(const std::system_error& why);
  std::size_t cap() const;        // max, or less when a thread limit was met
  std::size_t startable() const;  // how many more threads may be created now
  void request_starts_for_backlog();
  void quit_idle_workers_above_max();
  std::vector<std::unique_ptr<Worker>> take_exited_workers();
  // Destroys joined workers once no submit() is still waking one of them.
  void forget_workers(std::vector<std::unique_ptr<Worker>>& workers);

  mutable std::mutex mutex_;
  std::mutex notify_mutex_;  // held by submit() from before it releases mutex_ until it has woken
  std::condition_variable worker_exited_;
  std::condition_variable start_wanted_;  // wakes the starter thread
  std::size_t max_threads_;
  const std::size_t max_queue_;
  bool stopping_ = false;
  Backlog backlog_;
  std::vector<Worker*> idle_;  // most recently idle last: reused first, its cache is warm
  std::vector<std::unique_ptr<Worker>> workers_;  // live and exited-but-not-joined
  std::size_t live_ = 0;
  std::size_t busy_ = 0;
  std::size_t peak_queued_ = 0;
  std::size_t threads_created_ = 0;
  std::size_t starting_ = 0;
  std::uint64_t thread_start_failures_ = 0;
  std::size_t thread_limit_ = 0;         // 0: no start failed since the last resize
  bool start_failure_reported_ = false;  // one stderr line per resize (or start)
  std::uint64_t completed_ = 0;
  std::uint64_t rejected_ = 0;
  bool abandoned_ = false;
  std::thread starter_;  // last: started once every member above exists
};

}  // namespace poolbench
