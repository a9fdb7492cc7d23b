// FairQueue<T>: the thread pool's backlog, shared fairly between the clients that fill it.
// Each owner (a connection) has its own FIFO; the queue serves owners in turn (round robin), one
// item per turn. So a request of a client with one request queued waits behind at most one item
// of each other client, not behind everything a greedy client pipelined before it. With a single
// owner (or every item submitted with owner 0) it is a plain FIFO.
//
// Threading: none of its own; ThreadPool guards it with its mutex.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <unordered_map>
#include <utility>

namespace poolbench {

template <class T>
class FairQueue {
 public:
  using Owner = std::uintptr_t;

  bool empty() const { return size_ == 0; }
  std::size_t size() const { return size_; }
  // Owners with at least one item queued.
  std::size_t owners() const { return turns_.size(); }
  std::size_t queued_by(Owner owner) const {
    const auto found = queues_.find(owner);
    return found == queues_.end() ? 0 : found->second.size();
  }

  void push_back(T item, Owner owner = 0) {
    auto& queue = queues_[owner];
    if (queue.empty()) turns_.push_back(owner);
    queue.push_back(std::move(item));
    ++size_;
  }
  // The next item: the oldest of the owner whose turn it is. Not empty() only.
  T& front() { return queues_.find(turns_.front())->second.front(); }
  // Removes front(); that owner's turn passes to the next owner.
  void pop_front() {
    const Owner owner = turns_.front();
    turns_.pop_front();
    const auto queue = queues_.find(owner);
    queue->second.pop_front();
    --size_;
    if (queue->second.empty()) {
      queues_.erase(queue);
    } else {
      turns_.push_back(owner);
    }
  }
  void swap(FairQueue& other) noexcept {
    queues_.swap(other.queues_);
    turns_.swap(other.turns_);
    std::swap(size_, other.size_);
  }

 private:
  std::unordered_map<Owner, std::deque<T>> queues_;  // only owners with items queued
  std::deque<Owner> turns_;                          // those owners, whose turn comes first first
  std::size_t size_ = 0;
};

}  // namespace poolbench
