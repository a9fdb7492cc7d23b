#include "reactor.hpp"

#include <gtest/gtest.h>

#include <asio/post.hpp>

#include <thread>
#include <vector>

namespace poolbench {
namespace {

TEST(Reactor, CallsFromOneThreadRunInOrderOnTheReactorThread) {
  Reactor reactor;
  std::vector<int> seen;
  std::thread::id ran_on;
  std::thread producer([&] {
    for (int i = 0; i < 1000; ++i) {
      reactor.call_from_thread([&, i] {
        seen.push_back(i);
        ran_on = std::this_thread::get_id();
      });
    }
    reactor.call_from_thread([&] { reactor.stop(); });
  });
  reactor.run();
  producer.join();
  ASSERT_EQ(seen.size(), 1000u);
  for (int i = 0; i < 1000; ++i)
    ASSERT_EQ(seen[i], i);
  EXPECT_EQ(ran_on, std::this_thread::get_id());
}

TEST(Reactor, CallsFromManyThreadsKeepEachProducersOrderAndAllRun) {
  Reactor reactor;
  constexpr int kProducers = 4;
  constexpr int kCalls = 5000;
  std::vector<std::vector<int>> seen(kProducers);
  int done = 0;
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      for (int i = 0; i < kCalls; ++i)
        reactor.call_from_thread([&, p, i] { seen[p].push_back(i); });
      reactor.call_from_thread([&] {
        if (++done == kProducers) reactor.stop();
      });
    });
  }
  reactor.run();
  for (auto& producer : producers)
    producer.join();
  for (const auto& calls : seen) {
    ASSERT_EQ(calls.size(), static_cast<std::size_t>(kCalls));
    for (int i = 0; i < kCalls; ++i)
      ASSERT_EQ(calls[i], i);
  }
  const auto stats = reactor.stats();
  EXPECT_EQ(stats.calls, static_cast<std::uint64_t>(kProducers * (kCalls + 1)));
  EXPECT_LE(stats.wakeups, stats.calls);
}

TEST(Reactor, CallsQueuedWhileTheLoopIsBusyShareOneWakeup) {
  Reactor reactor;
  int ran = 0;
  // The reactor thread is busy in this handler while 100 calls arrive: one batch runs them.
  asio::post(reactor.context(), [&] {
    std::thread producer([&] {
      for (int i = 0; i < 100; ++i)
        reactor.call_from_thread([&] { ++ran; });
    });
    producer.join();
    reactor.call_from_thread([&] { reactor.stop(); });
  });
  reactor.run();
  EXPECT_EQ(ran, 100);
  EXPECT_EQ(reactor.stats().wakeups, 1u);
}

TEST(Reactor, AnExceptionInOneCallDoesNotStopTheOthers) {
  Reactor reactor;
  bool second_ran = false;
  reactor.call_from_thread([] { throw std::runtime_error("boom"); });
  reactor.call_from_thread([&] {
    second_ran = true;
    reactor.stop();
  });
  reactor.run();
  EXPECT_TRUE(second_ran);
}

}  // namespace
}  // namespace poolbench
