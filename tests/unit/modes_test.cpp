// The reply rules every mode shares: an err: reply's text never holds the separator or a line
// break, and a line holding a bare LF is answered as an error on one line, its work not run.
#include <gtest/gtest.h>

#include <string>

#include "modes.hpp"

namespace poolbench {
namespace {

TEST(Replies, ErrorTextNeverHoldsTheSeparatorOrALineBreak) {
  EXPECT_EQ(error_reply("bad|worse\r\nworst", "a|b"), "err:bad/worse//worst|a|b");
  // So a client splits at the first '|': the rest is the line, whatever it holds.
  const std::string reply = error_reply("x|y", "1|2");
  EXPECT_EQ(reply.substr(reply.find('|') + 1), "1|2");
}

TEST(Replies, ALineWithABareLfIsAnsweredErrWithTheLfWrittenOut) {
  Reactor reactor;
  ThreadPool pool(1);
  const Work work(WorkSpec::parse("none"), 0);
  for (const Mode mode : {Mode::kInline, Mode::kCallInThread, Mode::kDeferToThread}) {
    Dispatcher dispatcher(mode, reactor, pool, work);
    std::string reply;
    dispatcher.dispatch("one\ntwo\n", [&](std::string r) { reply = std::move(r); });
    EXPECT_EQ(reply, "err:bare LF in line|one\\ntwo\\n") << to_string(mode);  // at once
    EXPECT_EQ(pool.stats().completed, 0u) << "its work ran";
  }
}

}  // namespace
}  // namespace poolbench
