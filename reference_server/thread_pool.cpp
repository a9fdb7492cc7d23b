#include "thread_pool.hpp"

#include <algorithm>
#include <cstdio>
#include <exception>
#include <optional>

namespace poolbench {

ThreadPool::ThreadPool(std::size_t max_threads, std::size_t max_queue)
    : max_threads_(max_threads), max_queue_(max_queue), starter_([this] { run_starter(); }) {}

ThreadPool::~ThreadPool() {
  if (!abandoned_) stop(StopPolicy::kRunBacklog);
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
  if (startable() > 0) {
    if (try_start_worker(task)) return true;
    if (live_ == 0) {  // nobody could ever run it
      ++rejected_;
      return false;
    }
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

std::size_t ThreadPool::cap() const {
  return thread_limit_ > 0 ? std::min(max_threads_, thread_limit_) : max_threads_;
}

std::size_t ThreadPool::startable() const {
  const std::size_t planned = live_ + starting_;
  return planned < cap() ? cap() - planned : 0;
}

// Registered before its thread exists, so stop() waits for it; live and busy until it finds
// nothing to do.
ThreadPool::Worker& ThreadPool::add_worker() {
  workers_.push_back(std::make_unique<Worker>());
  ++live_;
  ++busy_;
  return *workers_.back();
}

void ThreadPool::forget_unstarted_worker(Worker& worker, const std::system_error& why) {
  std::erase_if(workers_, [&worker](const auto& w) { return w.get() == &worker; });
  --live_;
  --busy_;
  note_start_failure(why);
  worker_exited_.notify_all();  // stop() may be waiting for it
}

bool ThreadPool::try_start_worker(Task& first_task) {
  Worker& worker = add_worker();
  worker.task = std::move(first_task);
  try {
    worker.thread = std::thread([this, &worker] { work(worker); });
  } catch (const std::system_error& error) {
    first_task = std::move(worker.task);
    forget_unstarted_worker(worker, error);
    return false;
  }
  ++threads_created_;
  return true;
}

// The pool stays at the size it reached (see the top of thread_pool.hpp).
void ThreadPool::note_start_failure(const std::system_error& why) {
  ++thread_start_failures_;
  if (live_ > 0) thread_limit_ = live_;
  starting_ = 0;
  if (start_failure_reported_) return;
  start_failure_reported_ = true;
  std::fprintf(stderr,
               "thread pool: cannot create a worker thread (%s): running with %zu of %zu "
               "threads until the next resize\n",
               why.what(), live_, max_threads_);
}

// The starter thread: creates the workers resize() asked for, one at a time and without holding
// the mutex while the kernel creates each, so submitters and the reactor never wait for a batch.
void ThreadPool::run_starter() {
  std::unique_lock lock(mutex_);
  for (;;) {
    start_wanted_.wait(lock, [this] { return stopping_ || starting_ > 0; });
    if (stopping_) return;
    --starting_;
    if (live_ + starting_ >= cap()) {  // shrunk, or a limit met, meanwhile
      starting_ = 0;
      continue;
    }
    Worker& worker = add_worker();
    lock.unlock();
    std::thread thread;
    std::optional<std::system_error> failure;
    try {
      thread = std::thread([this, &worker] { work(worker); });
    } catch (const std::system_error& error) {
      failure = error;
    }
    lock.lock();
    if (failure) {
      forget_unstarted_worker(worker, *failure);
      continue;
    }
    worker.thread = std::move(thread);
    ++threads_created_;
  }
}

void ThreadPool::work(Worker& self) {
  std::unique_lock lock(mutex_);
  while (next_task(self, lock)) {
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
  }
  self.exited = true;
  worker_exited_.notify_all();
}

// Gives `self` its next task: the one handed to it, else the oldest in the backlog (first even
// for a worker above a lowered max, as in Twisted), else one handed over while it idles. False:
// the worker must exit.
bool ThreadPool::next_task(Worker& self, std::unique_lock<std::mutex>& lock) {
  if (self.task) return true;
  if (!backlog_.empty()) {
    self.task = std::move(backlog_.front());
    backlog_.pop_front();
    return true;
  }
  --busy_;
  if (stopping_ || live_ > max_threads_) {
    --live_;
    return false;
  }
  idle_.push_back(&self);
  self.wake.wait(lock, [&self] { return self.task != nullptr || self.quit; });
  return !self.quit;  // whoever set quit took us off idle_ and live_
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
  const auto first_exited =
      std::stable_partition(workers_.begin(), workers_.end(),
                            [](const auto& w) { return !w->exited || !w->thread.joinable(); });
  std::move(first_exited, workers_.end(), std::back_inserter(exited));
  workers_.erase(first_exited, workers_.end());
  return exited;
}

void ThreadPool::resize(std::size_t max_threads) {
  std::vector<std::unique_ptr<Worker>> exited;
  {
    std::lock_guard lock(mutex_);
    max_threads_ = max_threads;
    thread_limit_ = 0;  // the last size asked is tried again
    start_failure_reported_ = false;
    quit_idle_workers_above_max();
    request_starts_for_backlog();
    exited = take_exited_workers();
  }
  for (auto& worker : exited)
    worker->thread.join();
  forget_workers(exited);
}

// Our departure from Twisted: workers for the waiting backlog, started now (by the starter
// thread); each takes the oldest task, so the backlog keeps its order.
void ThreadPool::request_starts_for_backlog() {
  if (stopping_) return;
  const std::size_t unclaimed = backlog_.size() > starting_ ? backlog_.size() - starting_ : 0;
  const std::size_t more = std::min(unclaimed, startable());
  if (more == 0) return;
  starting_ += more;
  start_wanted_.notify_one();
}

void ThreadPool::forget_workers(std::vector<std::unique_ptr<Worker>>& workers) {
  std::lock_guard no_notify_in_flight(notify_mutex_);
  workers.clear();
}

std::size_t ThreadPool::stop(StopPolicy policy) {
  return stop_until(policy, std::chrono::steady_clock::time_point::max()).discarded;
}

ThreadPool::StopResult ThreadPool::stop_until(StopPolicy policy,
                                              std::chrono::steady_clock::time_point deadline) {
  Backlog discarded;
  std::vector<std::unique_ptr<Worker>> workers;
  {
    std::unique_lock lock(mutex_);
    stopping_ = true;
    starting_ = 0;
    start_wanted_.notify_one();
  }
  // Before the workers: the starter may be handing a new worker its thread object.
  if (starter_.joinable()) starter_.join();
  {
    std::unique_lock lock(mutex_);
    if (policy == StopPolicy::kDiscardBacklog) discarded.swap(backlog_);
    for (Worker* worker : idle_) {
      worker->quit = true;
      --live_;
      worker->wake.notify_one();
    }
    idle_.clear();
    const auto all_exited = [this] {
      return std::all_of(workers_.begin(), workers_.end(), [](const auto& w) { return w->exited; });
    };
    // Once no worker runs a task, the rest only have to notice they quit: that wait is short.
    // (No timed wait without a deadline: max() overflows some clocks.)
    if (deadline != std::chrono::steady_clock::time_point::max() &&
        !worker_exited_.wait_until(lock, deadline, [this] { return busy_ == 0; })) {
      abandoned_ = true;
      return {discarded.size(), busy_};
    }
    worker_exited_.wait(lock, all_exited);
    workers.swap(workers_);
  }
  for (auto& worker : workers)
    worker->thread.join();
  forget_workers(workers);
  return {discarded.size(), 0};
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
  stats.starting = starting_;
  stats.thread_start_failures = thread_start_failures_;
  stats.thread_limit = thread_limit_;
  stats.completed = completed_;
  stats.rejected = rejected_;
  return stats;
}

}  // namespace poolbench
