#include "reactor.hpp"

#include <asio/post.hpp>

#include <cstdio>
#include <exception>

namespace poolbench {

Reactor::Reactor() : keep_running_(asio::make_work_guard(context_)) {}

void Reactor::run() {
  reactor_thread_ = std::this_thread::get_id();
  context_.run();
  reactor_thread_ = std::thread::id{};
}

void Reactor::stop() {
  context_.stop();
}

void Reactor::call_from_thread(Call call) {
  bool was_empty;
  {
    std::lock_guard lock(calls_mutex_);
    was_empty = pending_calls_.empty();
    pending_calls_.push_back(std::move(call));
    if (was_empty) ++wakeups_;
  }
  if (was_empty) asio::post(context_, [this] { run_batch(); });
}

void Reactor::run_batch() {
  {
    std::lock_guard lock(calls_mutex_);
    running_batch_.swap(pending_calls_);
    calls_run_ += running_batch_.size();
  }
  for (auto& call : running_batch_) {
    try {
      call();
    } catch (const std::exception& error) {
      std::fprintf(stderr, "reactor: exception in a call from a thread: %s\n", error.what());
    } catch (...) {
      std::fprintf(stderr, "reactor: non-standard exception in a call from a thread\n");
    }
  }
  running_batch_.clear();
}

Reactor::Stats Reactor::stats() const {
  std::lock_guard lock(calls_mutex_);
  return Stats{calls_run_, wakeups_};
}

}  // namespace poolbench
