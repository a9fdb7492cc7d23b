#include "thread_pool.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace poolbench {
namespace {

using namespace std::chrono_literals;

// Tasks that block until the test opens the gate (or lets one through), so the pool's state
// can be read exactly.
class Gate {
 public:
  void wait() {
    std::unique_lock lock(mutex_);
    ++waiting_;
    changed_.notify_all();
    changed_.wait(lock, [this] { return open_ || passes_ > 0; });
    if (!open_) --passes_;
    --waiting_;
    changed_.notify_all();
  }
  void open() {
    std::lock_guard lock(mutex_);
    open_ = true;
    changed_.notify_all();
  }
  // Lets exactly one waiting task through.
  void pass_one() {
    std::lock_guard lock(mutex_);
    ++passes_;
    changed_.notify_all();
  }
  // Waits until `n` tasks are blocked in wait() and every pass has been used.
  bool await_waiting(int n) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, 5s, [&] { return waiting_ == n && passes_ == 0; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  bool open_ = false;
  int passes_ = 0;
  int waiting_ = 0;
};

// Records the order in which tasks start.
struct StartOrder {
  std::mutex mutex;
  std::vector<int> started;
  void add(int id) {
    std::lock_guard lock(mutex);
    started.push_back(id);
  }
};

bool eventually(const std::function<bool()>& condition) {
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

TEST(ThreadPool, StartsWithNoThreadAndCreatesOneWhenWorkArrives) {
  Gate gate;  // declared before the pool, so it outlives the workers the pool joins
  ThreadPool pool(10);
  EXPECT_EQ(pool.stats().threads, 0u);
  pool.submit([&] { gate.wait(); });
  ASSERT_TRUE(gate.await_waiting(1));
  EXPECT_EQ(pool.stats().threads, 1u);
  EXPECT_EQ(pool.stats().busy, 1u);
  gate.open();
}

TEST(ThreadPool, ReusesAnIdleWorkerInsteadOfCreatingOne) {
  ThreadPool pool(10);
  for (int i = 0; i < 20; ++i) {
    pool.submit([] {});
    ASSERT_TRUE(eventually([&] { return pool.stats().idle == 1; }));
  }
  EXPECT_EQ(pool.stats().threads_created, 1u);
  EXPECT_EQ(pool.stats().completed, 20u);
}

TEST(ThreadPool, NeverMoreThanMaxThreadsAndTheRestWaitsInTheBacklog) {
  Gate gate;
  ThreadPool pool(10);
  for (int i = 0; i < 25; ++i)
    pool.submit([&] { gate.wait(); });
  ASSERT_TRUE(gate.await_waiting(10));
  auto stats = pool.stats();
  EXPECT_EQ(stats.threads, 10u);
  EXPECT_EQ(stats.busy, 10u);
  EXPECT_EQ(stats.idle, 0u);
  EXPECT_EQ(stats.queued, 15u);
  EXPECT_EQ(stats.peak_queued, 15u);
  gate.open();
  ASSERT_TRUE(eventually([&] { return pool.stats().completed == 25; }));
  stats = pool.stats();
  EXPECT_EQ(stats.threads_created, 10u);
  EXPECT_EQ(stats.idle, 10u);  // idle workers are not reaped
  EXPECT_EQ(stats.queued, 0u);
}

TEST(ThreadPool, BacklogRunsInFifoOrder) {
  Gate gate;
  StartOrder order;
  ThreadPool pool(1);
  pool.submit([&] { gate.wait(); });
  ASSERT_TRUE(gate.await_waiting(1));
  for (int i = 0; i < 50; ++i)
    pool.submit([&order, i] { order.add(i); });
  gate.open();
  ASSERT_TRUE(eventually([&] { return pool.stats().completed == 51; }));
  std::vector<int> expected(50);
  for (int i = 0; i < 50; ++i)
    expected[i] = i;
  EXPECT_EQ(order.started, expected);
}

TEST(ThreadPool, RaisingMaxStartsWorkersForTheBacklogAndKeepsFifo) {
  // Twisted's own test case: pool 1, tasks 0..5 queued, suggestThreadPoolSize(4), then tasks
  // 100..102. Twisted starts [0, 100, 101, 102, 1, ...]; we start the backlog first.
  Gate gate;
  StartOrder order;
  ThreadPool pool(1);
  for (int i = 0; i < 6; ++i) {
    pool.submit([&, i] {
      order.add(i);
      gate.wait();
    });
  }
  ASSERT_TRUE(gate.await_waiting(1));
  pool.resize(4);
  ASSERT_TRUE(gate.await_waiting(4));  // workers started for the backlog at once
  EXPECT_EQ(pool.stats().threads, 4u);
  for (int i = 100; i < 103; ++i) {
    pool.submit([&, i] {
      order.add(i);
      gate.wait();
    });
  }
  // Free one worker at a time, so the order of starts is the order the backlog hands out.
  for (int i = 0; i < 5; ++i) {
    gate.pass_one();
    ASSERT_TRUE(gate.await_waiting(4));
  }
  gate.open();
  ASSERT_TRUE(eventually([&] { return pool.stats().completed == 9; }));
  std::vector<int> first_four(order.started.begin(), order.started.begin() + 4);
  std::sort(first_four.begin(), first_four.end());
  EXPECT_EQ(first_four, (std::vector<int>{0, 1, 2, 3}));  // started concurrently by the resize
  EXPECT_EQ(std::vector<int>(order.started.begin() + 4, order.started.end()),
            (std::vector<int>{4, 5, 100, 101, 102}));
}

TEST(ThreadPool, ShrinkingQuitsIdleWorkersAtOnce) {
  Gate gate;
  ThreadPool pool(4);
  for (int i = 0; i < 4; ++i)
    pool.submit([&] { gate.wait(); });
  ASSERT_TRUE(gate.await_waiting(4));
  gate.open();
  ASSERT_TRUE(eventually([&] { return pool.stats().idle == 4; }));
  pool.resize(1);
  const auto stats = pool.stats();
  EXPECT_EQ(stats.threads, 1u);
  EXPECT_EQ(stats.idle, 1u);
  EXPECT_EQ(stats.max_threads, 1u);
}

TEST(ThreadPool, ShrinkingLetsBusyWorkersDrainTheBacklogFirst) {
  // Twisted: 3 busy workers plus 3 backlogged tasks, max set to 1: all three finish the
  // backlog, then two of them exit.
  Gate gate;
  ThreadPool pool(3);
  for (int i = 0; i < 6; ++i)
    pool.submit([&] { gate.wait(); });
  ASSERT_TRUE(gate.await_waiting(3));
  EXPECT_EQ(pool.stats().queued, 3u);
  pool.resize(1);
  EXPECT_EQ(pool.stats().threads, 3u);  // busy workers are not interrupted
  gate.open();
  ASSERT_TRUE(eventually([&] { return pool.stats().completed == 6; }));
  ASSERT_TRUE(eventually([&] { return pool.stats().threads == 1; }));
  EXPECT_EQ(pool.stats().threads_created, 3u);  // the backlog needed no new thread
}

TEST(ThreadPool, GrowingAgainAfterAShrinkKeepsTheBusyWorkers) {
  Gate gate;
  ThreadPool pool(3);
  for (int i = 0; i < 3; ++i)
    pool.submit([&] { gate.wait(); });
  ASSERT_TRUE(gate.await_waiting(3));
  pool.resize(1);
  pool.resize(3);  // Twisted would still quit two workers here (_toShrink is never reset)
  gate.open();
  ASSERT_TRUE(eventually([&] { return pool.stats().idle == 3; }));
  EXPECT_EQ(pool.stats().threads, 3u);
}

TEST(ThreadPool, ABoundedBacklogRefusesWorkBeyondItsBound) {
  Gate gate;
  ThreadPool pool(1, 2);
  EXPECT_TRUE(pool.submit([&] { gate.wait(); }));
  ASSERT_TRUE(gate.await_waiting(1));
  EXPECT_TRUE(pool.submit([] {}));
  EXPECT_TRUE(pool.submit([] {}));
  EXPECT_FALSE(pool.submit([] {}));
  EXPECT_EQ(pool.stats().rejected, 1u);
  gate.open();
}

TEST(ThreadPool, TheBacklogServesOwnersInTurnEachInItsOwnOrder) {
  Gate gate;
  StartOrder order;
  ThreadPool pool(1);
  pool.submit([&] { gate.wait(); });
  ASSERT_TRUE(gate.await_waiting(1));
  for (int i = 0; i < 6; ++i)  // a greedy owner, 1, queues six before the polite one, 2
    pool.submit([&order, i] { order.add(10 + i); }, 1);
  pool.submit([&order] { order.add(20); }, 2);
  pool.submit([&order] { order.add(21); }, 2);
  gate.open();
  ASSERT_TRUE(eventually([&] { return pool.stats().completed == 9; }));
  EXPECT_EQ(order.started, (std::vector<int>{10, 20, 11, 21, 12, 13, 14, 15}));
}

TEST(ThreadPool, AtItsBoundTheBacklogRefusesTheOwnerHoldingItsFairShare) {
  Gate gate;
  ThreadPool pool(1, 4);
  EXPECT_TRUE(pool.submit([&] { gate.wait(); }));
  ASSERT_TRUE(gate.await_waiting(1));
  for (int i = 0; i < 4; ++i)
    EXPECT_TRUE(pool.submit([] {}, 1));
  EXPECT_FALSE(pool.submit([] {}, 1)) << "the greedy owner, holding the whole backlog";
  EXPECT_TRUE(pool.submit([] {}, 2)) << "a newcomer, below its share (4 / 1 owner)";
  EXPECT_TRUE(pool.submit([] {}, 3)) << "share now 4 / 2 owners: 3 holds none";
  EXPECT_FALSE(pool.submit([] {}, 1));
  EXPECT_EQ(pool.stats().rejected, 2u);
  EXPECT_EQ(pool.stats().queued, 6u);
  gate.open();
}

TEST(ThreadPool, StopRunsTheBacklogToCompletionByDefault) {
  std::atomic<int> ran{0};
  ThreadPool pool(2);
  for (int i = 0; i < 20; ++i) {
    pool.submit([&] {
      std::this_thread::sleep_for(1ms);
      ++ran;
    });
  }
  EXPECT_EQ(pool.stop(), 0u);
  EXPECT_EQ(ran.load(), 20);
  EXPECT_FALSE(pool.submit([] {}));  // stopped: refuses
}

TEST(ThreadPool, StopCanDiscardTheBacklog) {
  Gate gate;
  std::atomic<int> ran{0};
  ThreadPool pool(1);
  pool.submit([&] { gate.wait(); });
  ASSERT_TRUE(gate.await_waiting(1));
  for (int i = 0; i < 5; ++i)
    pool.submit([&] { ++ran; });
  std::thread opener([&] {
    std::this_thread::sleep_for(20ms);
    gate.open();
  });
  EXPECT_EQ(pool.stop(ThreadPool::StopPolicy::kDiscardBacklog), 5u);
  opener.join();
  EXPECT_EQ(ran.load(), 0);
}

TEST(ThreadPool, ATaskThatThrowsDoesNotKillItsWorker) {
  std::atomic<bool> ran{false};
  ThreadPool pool(1);
  pool.submit([] { throw std::runtime_error("boom"); });
  pool.submit([&] { ran = true; });
  ASSERT_TRUE(eventually([&] { return ran.load(); }));
  EXPECT_EQ(pool.stats().threads_created, 1u);
}

TEST(ThreadPool, SizeZeroKeepsEverythingInTheBacklogUntilGrown) {
  std::atomic<int> ran{0};
  ThreadPool pool(0);
  for (int i = 0; i < 3; ++i)
    pool.submit([&] { ++ran; });
  EXPECT_EQ(pool.stats().threads, 0u);
  EXPECT_EQ(pool.stats().queued, 3u);
  pool.resize(2);
  ASSERT_TRUE(eventually([&] { return ran == 3; }));
}

// Four producers keep the pool saturated while another thread resizes it between 0 and 8 as
// fast as it can: every task runs exactly once, the thread count never exceeds the largest max
// asked for, and the pool ends at the last size asked with everything done.
TEST(ThreadPool, ResizingWhileSaturatedLosesAndDuplicatesNothing) {
  constexpr int kProducers = 4, kTasksEach = 5000;
  std::vector<std::atomic<int>> runs(kProducers * kTasksEach);
  std::atomic<bool> producing{true};
  std::atomic<std::size_t> most_threads{0};
  ThreadPool pool(4);
  std::thread resizer([&] {
    std::size_t size = 0;
    while (producing) {
      pool.resize(size);
      size = (size * 5 + 3) % 9;  // 0..8 in a scrambled order
      std::size_t seen = pool.stats().threads;
      for (std::size_t prior = most_threads; seen > prior;)
        if (most_threads.compare_exchange_weak(prior, seen)) break;
      std::this_thread::yield();
    }
    pool.resize(3);
  });
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      for (int i = 0; i < kTasksEach; ++i) {
        const int id = p * kTasksEach + i;
        ASSERT_TRUE(pool.submit([&runs, id] {
          runs[id].fetch_add(1);
          if (id % 64 == 0) std::this_thread::sleep_for(50us);  // keep a backlog
        }));
      }
    });
  }
  for (auto& producer : producers)
    producer.join();
  producing = false;
  resizer.join();
  ASSERT_TRUE(eventually([&] { return pool.stats().completed == runs.size(); }));
  for (std::size_t id = 0; id < runs.size(); ++id)
    ASSERT_EQ(runs[id].load(), 1) << "task " << id;
  EXPECT_LE(most_threads.load(), 8u);
  EXPECT_EQ(pool.stats().max_threads, 3u);
  EXPECT_EQ(pool.stats().queued, 0u);
  EXPECT_TRUE(eventually([&] { return pool.stats().threads <= 3; }))
      << pool.stats().threads << " threads";
}

}  // namespace
}  // namespace poolbench
