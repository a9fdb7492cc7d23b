#include "deferred.hpp"

#include <gtest/gtest.h>

#include <thread>

namespace poolbench {
namespace {

using Strings = std::vector<std::string>;

TEST(Deferred, CallbacksRunInOrderAndTheResultFlowsDownTheChain) {
  Deferred<std::string> deferred;
  Strings trace;
  deferred.add_callback([&](std::string v) {
    trace.push_back("first:" + v);
    return v + "1";
  });
  deferred.add_callback([&](std::string v) {
    trace.push_back("second:" + v);
    return v + "2";
  });
  EXPECT_TRUE(trace.empty());  // nothing runs before it fires
  deferred.callback("x");
  EXPECT_EQ(trace, (Strings{"first:x", "second:x1"}));
}

TEST(Deferred, AnExceptionSwitchesToTheErrbackPathAndARecoverySwitchesBack) {
  Deferred<std::string> deferred;
  Strings trace;
  deferred.add_callback([&](std::string) -> std::string { throw std::runtime_error("db down"); })
      .add_callback([&](std::string v) {
        trace.push_back("skipped callback");
        return v;
      })
      .add_errback([&](std::exception_ptr e) {
        trace.push_back("errback:" + describe_exception(e));
        return std::string("recovered");
      })
      .add_errback([&](std::exception_ptr) {
        trace.push_back("skipped errback");
        return std::string();
      })
      .add_callback([&](std::string v) {
        trace.push_back("callback:" + v);
        return v;
      });
  deferred.callback("x");
  EXPECT_EQ(trace, (Strings{"errback:db down", "callback:recovered"}));
}

TEST(Deferred, ErrbackFiresTheErrorPath) {
  Deferred<int> deferred;
  std::string seen;
  deferred.add_callback([](int v) { return v; }).add_errback([&](std::exception_ptr e) {
    seen = describe_exception(e);
    return 0;
  });
  deferred.errback(std::make_exception_ptr(std::runtime_error("nope")));
  EXPECT_EQ(seen, "nope");
}

TEST(Deferred, AddCallbacksIsOneStep) {
  // Twisted's addCallbacks(f, g): g does not see f's exception; the next errback does.
  Deferred<int> deferred;
  Strings trace;
  deferred
      .add_callbacks([](int) -> int { throw std::runtime_error("from f"); },
                     [&](std::exception_ptr) {
                       trace.push_back("g");
                       return 0;
                     })
      .add_errback([&](std::exception_ptr e) {
        trace.push_back("next:" + describe_exception(e));
        return 0;
      });
  deferred.callback(1);
  EXPECT_EQ(trace, (Strings{"next:from f"}));
}

TEST(Deferred, AddBothSeesValuesAndErrors) {
  for (bool fail : {false, true}) {
    Deferred<std::string> deferred;
    std::string seen;
    deferred.add_both([&](Deferred<std::string>::Result result) {
      seen = result.index() == 0 ? std::get<0>(result)
                                 : "error:" + describe_exception(std::get<1>(result));
      return seen;
    });
    if (fail) {
      deferred.errback(std::make_exception_ptr(std::runtime_error("e")));
      EXPECT_EQ(seen, "error:e");
    } else {
      deferred.callback("v");
      EXPECT_EQ(seen, "v");
    }
  }
}

TEST(Deferred, StepsAddedAfterFiringRunAtOnce) {
  Deferred<int> deferred;
  deferred.callback(41);
  int seen = 0;
  deferred.add_callback([&](int v) {
    seen = v + 1;
    return v;
  });
  EXPECT_EQ(seen, 42);
}

TEST(Deferred, FiringTwiceThrows) {
  Deferred<int> deferred;
  deferred.callback(1);
  EXPECT_THROW(deferred.callback(2), AlreadyCalledError);
  EXPECT_THROW(deferred.errback(std::make_exception_ptr(std::runtime_error("x"))),
               AlreadyCalledError);
}

TEST(DeferToThread, RunsTheWorkOnThePoolAndTheCallbacksOnTheReactorThread) {
  Reactor reactor;
  ThreadPool pool(2);
  std::thread::id work_thread, callback_thread, errback_thread;
  int answered = 0;
  auto stop_after_two = [&] {
    if (++answered == 2) reactor.stop();
  };
  defer_to_thread(reactor, pool, [&] {
    work_thread = std::this_thread::get_id();
    return std::string("ok");
  }).add_callback([&](std::string v) {
    callback_thread = std::this_thread::get_id();
    stop_after_two();
    return v;
  });
  defer_to_thread(reactor, pool, []() -> std::string {
    throw std::runtime_error("failed");
  }).add_errback([&](std::exception_ptr e) {
    EXPECT_EQ(describe_exception(e), "failed");
    errback_thread = std::this_thread::get_id();
    stop_after_two();
    return std::string();
  });
  reactor.run();
  pool.stop();
  EXPECT_NE(work_thread, std::this_thread::get_id());
  EXPECT_EQ(callback_thread, std::this_thread::get_id());
  EXPECT_EQ(errback_thread, std::this_thread::get_id());
}

TEST(DeferToThread, FailsAtOnceWithBusyWhenThePoolRefuses) {
  Reactor reactor;
  ThreadPool pool(0, 1);  // no worker, room for one
  auto first = defer_to_thread(reactor, pool, [] { return 1; });
  EXPECT_FALSE(first.called());
  std::string seen;
  defer_to_thread(reactor, pool, [] { return 2; }).add_errback([&](std::exception_ptr e) {
    seen = describe_exception(e);
    return 0;
  });
  EXPECT_EQ(seen, "busy");
  pool.stop(ThreadPool::StopPolicy::kDiscardBacklog);
}

}  // namespace
}  // namespace poolbench
