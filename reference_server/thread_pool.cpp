#include "thread_pool.hpp"

#include <algorithm>
#include <cstdio>
#include <exception>

namespace poolbench {

ThreadPool::ThreadPool(std::size_t max_threads, std::size_t max_queue)
    : max_threads_(max_threads), max_queue_(max_queue) {}

ThreadPool::~ThreadPool() {
  stop(StopPolicy::kRunBacklog);
}

bool ThreadPool::submit(Task task, Owner owner) {
  std::unique_lock lock(mutex_);
  if (stopping_) return false;
  if (!idle_.empty()) {
    Worker* worker = idle_.back();
    idle_.pop_back();
    worker->task = std::move(task);
    ++busy_;
    // Woken under mutex_, the worker would block at once on the mutex we hold (on one CPU it
    // preempts us, then both switch back and forth): wake it after unlocking. The worker cannot
    // be destroyed meanwhile: notify_mutex_ is taken before mutex_ is released, and workers are
    // destroyed only after taking notify_mutex_ (forget_workers).
    std::lock_guard notifying(notify_mutex_);
    lock.unlock();
    worker->wake.notify_one();
    return true;
  }
  if (live_ < max_threads_) {
    start_worker(std::move(task));
    return true;
  }
  if (backlog_refuses(owner)) {
    ++rejected_;
    return false;
  }
  backlog_.push_back(std::move(task), owner);
  peak_queued_ = std::max(peak_queued_, backlog_.size());
  return true;
}

// At its bound the backlog refuses the owner that already holds its fair share of it (the bound
// over the owners with tasks queued, at least 1): the greedy client is refused, not the one
// that asks rarely. An owner below its share is still taken, up to twice the bound in all.
bool ThreadPool::backlog_refuses(Owner owner) const {
  if (max_queue_ == kUnboundedQueue || backlog_.size() < max_queue_) return false;
  if (backlog_.size() >= 2 * max_queue_) return true;
  const std::size_t fair_share = std::max<std::size_t>(1, max_queue_ / backlog_.owners());
  return backlog_.queued_by(owner) >= fair_share;
}

void ThreadPool::start_worker(Task first_task) {
  auto worker = std::make_unique<Worker>();
  worker->task = std::move(first_task);
  Worker& started = *worker;
  workers_.push_back(std::move(worker));
  try {
    started.thread = std::thread([this, &started] { work(started); });
  } catch (...) {
    workers_.pop_back();
    throw;
  }
  ++live_;
  ++busy_;
  ++threads_created_;
}

void ThreadPool::work(Worker& self) {
  std::unique_lock lock(mutex_);
  for (;;) {
    Task task = std::move(self.task);
    self.task = nullptr;
    lock.unlock();
    try {
      task();
    } catch (const std::exception& error) {
      std::fprintf(stderr, "thread pool: unhandled exception in a task: %s\n", error.what());
    } catch (...) {
      std::fprintf(stderr, "thread pool: unhandled non-standard exception in a task\n");
    }
    task = nullptr;  // release what the task captured before taking the lock
    lock.lock();
    ++completed_;
    // The backlog comes first, even for a worker above a lowered max (as in Twisted).
    if (!backlog_.empty()) {
      self.task = std::move(backlog_.front());
      backlog_.pop_front();
      continue;
    }
    --busy_;
    if (stopping_ || live_ > max_threads_) {
      --live_;
      break;
    }
    idle_.push_back(&self);
    self.wake.wait(lock, [&self] { return self.task != nullptr || self.quit; });
    if (self.quit) break;  // whoever set quit took us off idle_ and live_
  }
  self.exited = true;
  worker_exited_.notify_all();
}

void ThreadPool::quit_idle_workers_above_max() {
  while (live_ > max_threads_ && !idle_.empty()) {
    Worker* worker = idle_.back();
    idle_.pop_back();
    worker->quit = true;
    --live_;
    worker->wake.notify_one();
  }
}

std::vector<std::unique_ptr<ThreadPool::Worker>> ThreadPool::take_exited_workers() {
  std::vector<std::unique_ptr<Worker>> exited;
  const auto first_exited = std::stable_partition(workers_.begin(), workers_.end(),
                                                  [](const auto& w) { return !w->exited; });
  std::move(first_exited, workers_.end(), std::back_inserter(exited));
  workers_.erase(first_exited, workers_.end());
  return exited;
}

void ThreadPool::resize(std::size_t max_threads) {
  std::vector<std::unique_ptr<Worker>> exited;
  {
    std::lock_guard lock(mutex_);
    max_threads_ = max_threads;
    quit_idle_workers_above_max();
    // Our departure from Twisted: start workers for the waiting backlog now, oldest task first.
    while (!stopping_ && live_ < max_threads_ && !backlog_.empty()) {
      Task oldest = std::move(backlog_.front());
      backlog_.pop_front();
      start_worker(std::move(oldest));
    }
    exited = take_exited_workers();
  }
  for (auto& worker : exited)
    worker->thread.join();
  forget_workers(exited);
}

void ThreadPool::forget_workers(std::vector<std::unique_ptr<Worker>>& workers) {
  std::lock_guard no_notify_in_flight(notify_mutex_);
  workers.clear();
}

std::size_t ThreadPool::stop(StopPolicy policy) {
  Backlog discarded;
  std::vector<std::unique_ptr<Worker>> workers;
  {
    std::unique_lock lock(mutex_);
    stopping_ = true;
    if (policy == StopPolicy::kDiscardBacklog) discarded.swap(backlog_);
    for (Worker* worker : idle_) {
      worker->quit = true;
      --live_;
      worker->wake.notify_one();
    }
    idle_.clear();
    worker_exited_.wait(lock, [this] {
      return std::all_of(workers_.begin(), workers_.end(), [](const auto& w) { return w->exited; });
    });
    workers.swap(workers_);
  }
  for (auto& worker : workers)
    worker->thread.join();
  forget_workers(workers);
  return discarded.size();
}

ThreadPool::Stats ThreadPool::stats() const {
  std::lock_guard lock(mutex_);
  Stats stats;
  stats.max_threads = max_threads_;
  stats.threads = live_;
  stats.idle = idle_.size();
  stats.busy = busy_;
  stats.queued = backlog_.size();
  stats.peak_queued = peak_queued_;
  stats.threads_created = threads_created_;
  stats.completed = completed_;
  stats.rejected = rejected_;
  return stats;
}

}  // namespace poolbench
