// ThreadPool: the worker pool behind the reactor, with the semantics of Twisted's reactor pool
// (twisted.python.threadpool + twisted._threads, as read from their source; reference_server/
// README.md §4, §7 compare the two):
//
//   - min 0, max N (default 10); no thread exists until work arrives;
//   - a thread is created only when a task arrives, no worker is idle and the count is below max;
//   - idle workers are never reaped;
//   - the backlog is unbounded unless a bound is given (then submit() refuses);
//   - the backlog is FIFO per owner (a connection), and owners take turns (fair_queue.hpp);
//   - resize(n) (suggestThreadPoolSize) changes max at runtime: shrinking quits idle workers at
//     once and busy ones once the backlog is empty; growing takes effect as work arrives.
//
// Departures from Twisted, on purpose:
//   - The backlog is shared fairly between owners: one client that pipelines thousands of
//     requests delays another client's request by one of its own per turn, not by all of them.
//     At the bound, the owner holding its fair share or more is refused first (submit()).
//   - Raising max while tasks wait in the backlog starts workers for that backlog at once, so the
//     backlog keeps FIFO order. (Twisted starts nothing; tasks submitted after the raise create
//     workers and overtake the older backlog.)
//   - A worker marked to quit by a shrink is forgotten if max is raised again before it goes idle
//     (Twisted's _toShrink counter is never reset, so such workers still quit).
//
// Threading: every member below the mutex is guarded by it; workers and submitters coordinate
// only through it. Each worker has its own hand-off slot and condition variable (as Twisted's
// ThreadWorker has its own queue), so a submission wakes exactly the worker it chose, after
// releasing the mutex (notify_mutex_ keeps that worker alive until it is woken).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
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

  struct Stats {
    std::size_t max_threads = 0;
    std::size_t threads = 0;  // live workers, idle + busy
    std::size_t idle = 0;
    std::size_t busy = 0;
    std::size_t queued = 0;
    std::size_t peak_queued = 0;
    std::size_t threads_created = 0;
    std::uint64_t completed = 0;
    std::uint64_t rejected = 0;  // refused because the backlog was at its bound
  };

  explicit ThreadPool(std::size_t max_threads = 10, std::size_t max_queue = kUnboundedQueue);
  ~ThreadPool();  // stop(StopPolicy::kRunBacklog)
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Runs `task` on a worker. Returns false, without running it, when the pool is stopping or
  // the backlog is at its bound and `owner` holds its fair share of it (backlog_refuses). A task
  // must not throw; if it does, the exception is reported on stderr and the worker carries on
  // (Twisted logs it the same way).
  bool submit(Task task, Owner owner = 0);

  // Changes the maximum number of threads (Twisted's suggestThreadPoolSize).
  void resize(std::size_t max_threads);

  enum class StopPolicy { kRunBacklog, kDiscardBacklog };
  // Refuses new work, lets running tasks finish (run_backlog: the backlog too, as Twisted does),
  // and joins every worker. Returns the number of backlogged tasks discarded.
  std::size_t stop(StopPolicy policy = StopPolicy::kRunBacklog);

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
  // Caller holds the mutex.
  bool backlog_refuses(Owner owner) const;
  void start_worker(Task first_task);
  void quit_idle_workers_above_max();
  std::vector<std::unique_ptr<Worker>> take_exited_workers();
  // Destroys joined workers once no submit() is still waking one of them.
  void forget_workers(std::vector<std::unique_ptr<Worker>>& workers);

  mutable std::mutex mutex_;
  std::mutex notify_mutex_;  // held by submit() from before it releases mutex_ until it has woken
  std::condition_variable worker_exited_;
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
  std::uint64_t completed_ = 0;
  std::uint64_t rejected_ = 0;
};

}  // namespace poolbench
