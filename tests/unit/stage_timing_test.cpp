// Stage timing through the Dispatcher: one record per request whose work ran, in every mode,
// with the stages where the work was (service) and nothing recorded for refused requests.
#include <gtest/gtest.h>

#include <string>

#include "modes.hpp"
#include "stage_timing.hpp"

namespace poolbench {
namespace {

struct Answers {
  int ok = 0;
  int errors = 0;
};

// Dispatches `n` requests on this thread (the reactor) and runs the loop until all are answered.
Answers run(Mode mode, const Work& work, StageHistograms* stages, int n, std::size_t pool_size = 2,
            std::size_t max_queue = ThreadPool::kUnboundedQueue) {
  Reactor reactor;
  ThreadPool pool(pool_size, max_queue);
  Dispatcher dispatcher(mode, reactor, pool, work, stages);
  Answers answers;
  for (int i = 0; i < n; ++i) {
    dispatcher.dispatch("r" + std::to_string(i), [&](std::string reply) {
      ++(reply.starts_with("ack:") ? answers.ok : answers.errors);
    });
  }
  while (answers.ok + answers.errors < n)
    reactor.context().run_one();
  return answers;
}

class EveryMode : public ::testing::TestWithParam<Mode> {};
INSTANTIATE_TEST_SUITE_P(Stages, EveryMode,
                         ::testing::Values(Mode::kInline, Mode::kCallInThread,
                                           Mode::kDeferToThread),
                         [](const auto& info) {
                           std::string name(to_string(info.param));
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

TEST_P(EveryMode, OneRecordPerRequestAndServiceHoldsTheWork) {
  const Work work(WorkSpec::parse("sleep:2ms"), 0);
  StageHistograms stages;
  const Answers answers = run(GetParam(), work, &stages, 20);
  EXPECT_EQ(answers.ok, 20);
  for (Stage stage : kStages) {
    EXPECT_EQ(stages.histogram(stage).total_count(), 20) << to_string(stage);
  }
  EXPECT_EQ(stages.count(), 20u);
  // Service: the 2 ms sleep (ns); the other stages are far shorter than the work in total.
  EXPECT_GE(stages.histogram(Stage::kService).min(), 1'900'000);
  EXPECT_LT(stages.histogram(Stage::kDispatch).value_at_percentile(50), 1'000'000);
  EXPECT_EQ(stages.sum_ns(Stage::kService) >= 20 * 1'900'000, true);
  if (GetParam() == Mode::kInline) {
    EXPECT_EQ(stages.histogram(Stage::kQueueWait).max(), 0);
    EXPECT_EQ(stages.histogram(Stage::kReturnHop).max(), 0);
  } else {
    // 20 requests on 2 workers: the last ones wait for ~9 services in the backlog.
    EXPECT_GE(stages.histogram(Stage::kQueueWait).max(), 8 * 1'900'000);
  }
}

TEST_P(EveryMode, FailedWorkIsRecordedToo) {
  const Work work(WorkSpec::parse("none"), 1.0);
  StageHistograms stages;
  const Answers answers = run(GetParam(), work, &stages, 5);
  EXPECT_EQ(answers.errors, 5);
  EXPECT_EQ(stages.count(), 5u);
}

TEST_P(EveryMode, WithoutHistogramsNothingIsRecordedAndRepliesAreTheSame) {
  const Work work(WorkSpec::parse("none"), 0);
  EXPECT_EQ(run(GetParam(), work, nullptr, 10).ok, 10);
}

TEST(Stages, RefusedRequestsAreNotRecorded) {
  // One worker, backlog of one: of 6 requests sent at once, 2 run (worker + backlog) and 4 get
  // err:busy without running.
  const Work work(WorkSpec::parse("sleep:20ms"), 0);
  for (Mode mode : {Mode::kCallInThread, Mode::kDeferToThread}) {
    StageHistograms stages;
    const Answers answers = run(mode, work, &stages, 6, 1, 1);
    EXPECT_EQ(answers.ok, 2) << to_string(mode);
    EXPECT_EQ(answers.errors, 4) << to_string(mode);
    EXPECT_EQ(stages.count(), 2u) << to_string(mode);
  }
}

TEST(Stages, Names) {
  EXPECT_EQ(to_string(Stage::kDispatch), "dispatch");
  EXPECT_EQ(to_string(Stage::kQueueWait), "queue_wait");
  EXPECT_EQ(to_string(Stage::kService), "service");
  EXPECT_EQ(to_string(Stage::kReturnHop), "return_hop");
}

}  // namespace
}  // namespace poolbench
