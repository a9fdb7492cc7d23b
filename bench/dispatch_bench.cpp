// The server's dispatch paths, each next to a baseline measured in the same binary, so results
// read as ratios (scripts/bench prints them):
//   inline no-op dispatch                  the floor
//   call-in-thread round trip              vs BM_AsioPostRoundTrip (asio::thread_pool + post back)
//   defer-to-thread round trip, 1/5 steps  vs the same baseline
//   ...Timed                               the same with stage timing on: its overhead
// The benchmark's thread plays the reactor: it dispatches, then runs the io_context until every
// reply has come back.
#include <benchmark/benchmark.h>

#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/thread_pool.hpp>

#include "deferred.hpp"
#include "modes.hpp"

namespace poolbench {
namespace {

const Work kNoWork(WorkSpec::parse("none"), 0);

void BM_InlineDispatch(benchmark::State& state) {
  Reactor reactor;
  ThreadPool pool(1);
  Dispatcher dispatcher(Mode::kInline, reactor, pool, kNoWork);
  std::size_t answered = 0;
  for (auto _ : state)
    dispatcher.dispatch("0123456789abcdef", [&](std::string) { ++answered; });
  benchmark::DoNotOptimize(answered);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_InlineDispatch);

// Stage timing's cost: the same paths with per-request stage histograms (stage_timing.hpp).
void BM_InlineDispatchTimed(benchmark::State& state) {
  Reactor reactor;
  ThreadPool pool(1);
  StageHistograms stages;
  Dispatcher dispatcher(Mode::kInline, reactor, pool, kNoWork, &stages);
  std::size_t answered = 0;
  for (auto _ : state)
    dispatcher.dispatch("0123456789abcdef", [&](std::string) { ++answered; });
  benchmark::DoNotOptimize(answered);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_InlineDispatchTimed);

// Stage timing's whole per-request bookkeeping in isolation (pool modes, the worst case of a
// line alone in its socket read): five clock reads and the four histogram records. Divided by
// a round trip's time this is the overhead, without the scheduling noise of the round trips.
void BM_StageTimingCost(benchmark::State& state) {
  StageHistograms stages;
  for (auto _ : state) {
    StageTimes times;
    times.parsed = Clock::now();
    times.handed = Clock::now();
    times.started = Clock::now();
    times.done = Clock::now();
    times.replied = Clock::now();
    stages.record(times);
  }
  benchmark::DoNotOptimize(stages.count());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_StageTimingCost);

// Dispatches `in_flight` requests, then runs the reactor until all are answered.
void round_trips(benchmark::State& state, Mode mode, bool timed = false) {
  const auto pool_size = static_cast<std::size_t>(state.range(0));
  const auto in_flight = static_cast<std::size_t>(state.range(1));
  Reactor reactor;
  ThreadPool pool(pool_size);
  StageHistograms stages;
  Dispatcher dispatcher(mode, reactor, pool, kNoWork, timed ? &stages : nullptr);
  for (auto _ : state) {
    std::size_t answered = 0;
    // As the server does: one clock read per socket read, shared by the lines it brought.
    const auto read_at = timed ? Clock::now() : TimePoint{};
    for (std::size_t i = 0; i < in_flight; ++i) {
      dispatcher.dispatch(
          "0123456789abcdef", [&](std::string) { ++answered; }, read_at);
    }
    while (answered < in_flight)
      reactor.context().run_one();
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(in_flight));
}

void BM_CallInThreadRoundTrip(benchmark::State& state) {
  round_trips(state, Mode::kCallInThread);
}
void BM_DeferToThreadRoundTrip(benchmark::State& state) {
  round_trips(state, Mode::kDeferToThread);
}
void BM_CallInThreadRoundTripTimed(benchmark::State& state) {
  round_trips(state, Mode::kCallInThread, true);
}
void BM_DeferToThreadRoundTripTimed(benchmark::State& state) {
  round_trips(state, Mode::kDeferToThread, true);
}

// The baseline: the same hand-off with nothing but Asio. A task posted to asio::thread_pool
// posts its answer back to the io_context.
void BM_AsioPostRoundTrip(benchmark::State& state) {
  const auto pool_size = static_cast<std::size_t>(state.range(0));
  const auto in_flight = static_cast<std::size_t>(state.range(1));
  asio::io_context reactor;
  auto keep_running = asio::make_work_guard(reactor);
  asio::thread_pool pool(pool_size);
  for (auto _ : state) {
    std::size_t answered = 0;
    for (std::size_t i = 0; i < in_flight; ++i) {
      asio::post(pool, [&reactor, &answered, line = std::string("0123456789abcdef")] {
        asio::post(reactor, [&answered, reply = "ack:" + line] { ++answered; });
      });
    }
    while (answered < in_flight)
      reactor.run_one();
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(in_flight));
  pool.join();
}

void pool_grid(benchmark::internal::Benchmark* b) {
  b->ArgNames({"pool", "in_flight"});
  for (int pool : {1, 2, 4, 8, 16}) {
    for (int in_flight : {1, 64})
      b->Args({pool, in_flight});
  }
  b->UseRealTime();
}
BENCHMARK(BM_AsioPostRoundTrip)->Apply(pool_grid);
BENCHMARK(BM_CallInThreadRoundTrip)->Apply(pool_grid);
BENCHMARK(BM_DeferToThreadRoundTrip)->Apply(pool_grid);
BENCHMARK(BM_CallInThreadRoundTripTimed)->Apply(pool_grid);
BENCHMARK(BM_DeferToThreadRoundTripTimed)->Apply(pool_grid);

// deferToThread with a chain of N callbacks after the one that writes the reply.
void BM_DeferredChain(benchmark::State& state) {
  const auto steps = state.range(0);
  Reactor reactor;
  ThreadPool pool(1);
  for (auto _ : state) {
    bool done = false;
    auto deferred = defer_to_thread(reactor, pool, [] { return std::string("0123456789abcdef"); });
    for (std::int64_t i = 0; i < steps; ++i) {
      deferred.add_callback([](std::string value) { return value; });
    }
    deferred.add_both([&](Deferred<std::string>::Result result) {
      done = true;
      return result.index() == 0 ? std::get<0>(result) : std::string();
    });
    while (!done)
      reactor.context().run_one();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DeferredChain)->ArgName("callbacks")->Arg(1)->Arg(5)->UseRealTime();

// call_from_thread: producers hand calls to the reactor (this thread) as fast as they can.
void BM_CallFromThread(benchmark::State& state) {
  const auto producers = static_cast<int>(state.range(0));
  constexpr std::int64_t kCallsPerProducer = 10'000;
  Reactor reactor;
  for (auto _ : state) {
    std::int64_t ran = 0;
    std::vector<std::thread> threads;
    for (int p = 0; p < producers; ++p) {
      threads.emplace_back([&] {
        for (std::int64_t i = 0; i < kCallsPerProducer; ++i)
          reactor.call_from_thread([&] { ++ran; });
      });
    }
    while (ran < producers * kCallsPerProducer)
      reactor.context().run_one();
    for (auto& thread : threads)
      thread.join();
  }
  const auto stats = reactor.stats();
  state.counters["calls_per_wakeup"] =
      static_cast<double>(stats.calls) /
      static_cast<double>(std::max<std::uint64_t>(stats.wakeups, 1));
  state.SetItemsProcessed(state.iterations() * producers * kCallsPerProducer);
}
BENCHMARK(BM_CallFromThread)->ArgName("producers")->Arg(1)->Arg(2)->Arg(4)->UseRealTime();

}  // namespace
}  // namespace poolbench
