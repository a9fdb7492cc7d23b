// The request table: ids in request lines, replies matched by id in any order, errors
// attributed to their request, stray lines counted apart; the raw protocol's FIFO matching.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "connection.hpp"

namespace poolbench {
namespace {

using Kind = ReplyMatch::Kind;

// Splits "a\r\nb\r\n" into {"a", "b"}.
std::vector<std::string> lines_of(const std::string& wire) {
  std::vector<std::string> lines;
  std::size_t begin = 0;
  for (std::size_t end; (end = wire.find("\r\n", begin)) != std::string::npos; begin = end + 2) {
    lines.push_back(wire.substr(begin, end - begin));
  }
  EXPECT_EQ(begin, wire.size()) << "every request ends with CRLF";
  return lines;
}

TEST(RequestLine, IsTheIdPaddedToThePayloadSize) {
  RequestTable table(Protocol::kAck, 4, 16, "", "");
  EXPECT_EQ(table.request_line(0), "0 xxxxxxxxxxxxxx");
  EXPECT_EQ(table.request_line(123456), "123456 xxxxxxxxx");
  EXPECT_EQ(table.request_line(0).size(), 16u);
  RequestTable tight(Protocol::kAck, 1, 2, "", "");
  EXPECT_EQ(tight.request_line(7), "7x");         // no room for the space
  EXPECT_EQ(tight.request_line(12), "12");        // exactly the id
  EXPECT_EQ(tight.request_line(12345), "12345");  // the id always fits
}

TEST(AckMatching, RepliesInAnyOrderFindTheirRequests) {
  RequestTable table(Protocol::kAck, 4, 16, "", "");
  std::string wire;
  const TimePoint t0 = Clock::now();
  std::vector<int> slots;
  for (int i = 0; i < 4; ++i)
    slots.push_back(table.add(wire, t0 + std::chrono::milliseconds(i), true));
  EXPECT_FALSE(table.has_free());
  table.mark_sent(t0 + std::chrono::milliseconds(10));
  const std::vector<std::string> sent = lines_of(wire);
  ASSERT_EQ(sent.size(), 4u);
  for (int i : {3, 1, 0, 2}) {
    const ReplyMatch m = table.match("ack:" + sent[static_cast<std::size_t>(i)]);
    EXPECT_EQ(m.kind, Kind::kCompleted);
    ASSERT_EQ(m.slot, slots[static_cast<std::size_t>(i)]);
    EXPECT_EQ(table.slot(m.slot).intended, t0 + std::chrono::milliseconds(i));
    EXPECT_EQ(table.slot(m.slot).sent, t0 + std::chrono::milliseconds(10));
    table.release(m.slot);
  }
  EXPECT_EQ(table.occupied(), 0);
}

TEST(AckMatching, AReusedSlotGetsANewIdSoAStaleReplyIsUnknown) {
  RequestTable table(Protocol::kAck, 1, 16, "", "");
  std::string wire;
  table.add(wire, Clock::now(), true);
  table.mark_sent(Clock::now());
  const std::string first = lines_of(wire)[0];
  table.release(table.match("ack:" + first).slot);
  wire.clear();
  table.add(wire, Clock::now(), true);
  table.mark_sent(Clock::now());
  const std::string second = lines_of(wire)[0];
  EXPECT_NE(first, second);
  const ReplyMatch stale = table.match("ack:" + first);  // e.g. a duplicated reply
  EXPECT_EQ(stale.kind, Kind::kStray);
  EXPECT_EQ(stale.error, "unknown_id");
  EXPECT_EQ(table.match("ack:" + second).kind, Kind::kCompleted);
}

TEST(AckMatching, AWrongEchoIsThatRequestsMismatch) {
  RequestTable table(Protocol::kAck, 2, 16, "", "");
  std::string wire;
  const int slot = table.add(wire, Clock::now(), true);
  table.mark_sent(Clock::now());
  const ReplyMatch m = table.match("ack:0 xxxxyxxxxxxxx");
  EXPECT_EQ(m.kind, Kind::kFailed);
  EXPECT_EQ(m.error, "mismatch");
  EXPECT_EQ(m.slot, slot);
  EXPECT_EQ(table.match("ack:0 xxx").kind, Kind::kFailed);  // truncated echo
}

TEST(AckMatching, UnknownIdsAndGarbageAreStray) {
  RequestTable table(Protocol::kAck, 2, 16, "", "");
  std::string wire;
  table.add(wire, Clock::now(), true);
  table.mark_sent(Clock::now());
  for (const char* line : {"ack:1 xxxxxxxxxxxxxx", "ack:99 xxxxxxxxxxxxx"}) {
    const ReplyMatch m = table.match(line);  // id 1: slot 1 is free; 99: never sent
    EXPECT_EQ(m.kind, Kind::kStray) << line;
    EXPECT_EQ(m.error, "unknown_id") << line;
    EXPECT_EQ(m.slot, -1);
  }
  for (const char* line : {"hello", "", "ack:", "ack:xyz", "ACK:0 xxxxxxxxxxxxxx"}) {
    const ReplyMatch m = table.match(line);
    EXPECT_EQ(m.kind, Kind::kStray) << line;
    EXPECT_EQ(m.error, "malformed") << line;
  }
  EXPECT_EQ(table.occupied(), 1);  // nothing was released by stray lines
}

TEST(AckMatching, AnErrReplyWithTheRequestLineIsThatRequestsError) {
  RequestTable table(Protocol::kAck, 3, 16, "", "");
  std::string wire;
  table.add(wire, Clock::now(), true);
  const int second = table.add(wire, Clock::now(), true);
  table.mark_sent(Clock::now());
  const std::string line = lines_of(wire)[1];
  const std::string busy = "err:busy|" + line;  // match() points into the reply line
  const ReplyMatch m = table.match(busy);
  EXPECT_EQ(m.kind, Kind::kFailed);
  EXPECT_EQ(m.slot, second);
  EXPECT_EQ(m.error, "err:busy");
}

// The server's rule: the text of err:<text>|<line> never contains '|', the echoed line may. The
// split is at the first '|': what follows it must be the request line exactly.
TEST(AckMatching, AnErrReplySplitsAtTheFirstBar) {
  RequestTable table(Protocol::kAck, 2, 16, "", "");
  std::string wire;
  const int first = table.add(wire, Clock::now(), true);
  table.mark_sent(Clock::now());
  const std::string line = lines_of(wire)[0];
  const std::string echoed = "err:busy|" + line;
  const ReplyMatch m = table.match(echoed);
  EXPECT_EQ(m.kind, Kind::kFailed);
  EXPECT_EQ(m.slot, first);
  EXPECT_EQ(m.error, "err:busy");
  // Splitting at the last '|' would take "err:busy|extra" as the text and match the request;
  // at the first, the echo is "extra|<line>", which is no request of ours.
  const std::string piped = "err:busy|extra|" + line;
  const ReplyMatch e = table.match(piped);
  EXPECT_EQ(e.kind, Kind::kStray);
  EXPECT_EQ(e.error, "unknown_id");
  EXPECT_EQ(table.match("err:busy|").error, "unknown_id");  // an empty echo is no request
}

TEST(AckMatching, AConnectionLevelErrBelongsToNoRequest) {
  RequestTable table(Protocol::kAck, 1, 16, "", "");
  std::string wire;
  table.add(wire, Clock::now(), true);
  table.mark_sent(Clock::now());
  const ReplyMatch m = table.match("err:line too long");
  EXPECT_EQ(m.kind, Kind::kStray);
  EXPECT_EQ(m.error, "err:line too long");
  EXPECT_EQ(table.match("err:busy|42 xxxxxxxxxxxxx").error, "unknown_id");
}

TEST(AckMatching, AReplyToATimedOutRequestIsLate) {
  RequestTable table(Protocol::kAck, 2, 16, "", "");
  std::string wire;
  const int slot = table.add(wire, Clock::now(), true);
  table.mark_sent(Clock::now());
  table.expire(slot);
  EXPECT_EQ(table.occupied(), 1);  // the server still holds it: the slot stays taken
  const ReplyMatch m = table.match("ack:" + lines_of(wire)[0]);
  EXPECT_EQ(m.kind, Kind::kLate);
  EXPECT_EQ(m.slot, slot);
  table.release(slot);
  EXPECT_EQ(table.occupied(), 0);
}

// A retired connection is reopened once nothing on it is live (worker.cpp): live() leaves the
// timed-out requests out, and clear() frees every slot for the new socket.
TEST(AckMatching, LiveCountsWhatMayStillBeAnsweredAndClearFreesEverySlot) {
  RequestTable table(Protocol::kAck, 3, 16, "", "");
  std::string wire;
  const int first = table.add(wire, Clock::now(), true);
  table.add(wire, Clock::now(), true);
  table.mark_sent(Clock::now());
  table.add(wire, Clock::now(), true);  // queued, not yet written: live too
  table.expire(first);
  EXPECT_EQ(table.occupied(), 3);
  EXPECT_EQ(table.live(), 2);
  table.clear();
  EXPECT_EQ(table.occupied(), 0);
  EXPECT_EQ(table.live(), 0);
  // The old requests' ids never match again.
  EXPECT_EQ(table.match("ack:" + lines_of(wire)[1]).error, "unknown_id");
}

TEST(AckMatching, NoReplyMatchesARequestThatWasNotWrittenYet) {
  RequestTable table(Protocol::kAck, 1, 16, "", "");
  std::string wire;
  table.add(wire, Clock::now(), true);  // queued, no mark_sent()
  EXPECT_EQ(table.match("ack:" + lines_of(wire)[0]).kind, Kind::kStray);
}

TEST(RawMatching, RepliesAreMatchedFirstInFirstOut) {
  RequestTable table(Protocol::kRaw, 3, 16, "PING", "+PONG");
  std::string wire;
  const TimePoint t0 = Clock::now();
  const int a = table.add(wire, t0, true);
  const int b = table.add(wire, t0 + std::chrono::milliseconds(1), false);
  EXPECT_EQ(wire, "PING\r\nPING\r\n");
  table.mark_sent(t0);
  ReplyMatch m = table.match("+PONG");
  EXPECT_EQ(m.kind, Kind::kCompleted);
  EXPECT_EQ(m.slot, a);
  table.release(m.slot);
  m = table.match("-ERR unknown command");
  EXPECT_EQ(m.kind, Kind::kFailed);
  EXPECT_EQ(m.error, "unexpected_reply");
  EXPECT_EQ(m.slot, b);
  EXPECT_FALSE(table.slot(b).measured);
  table.release(m.slot);
  m = table.match("+PONG");  // nothing outstanding
  EXPECT_EQ(m.kind, Kind::kStray);
  EXPECT_EQ(m.error, "unexpected_reply");
}

TEST(RawMatching, WithoutExpectAnyLineCompletesAndTheRingWrapsAround) {
  RequestTable table(Protocol::kRaw, 2, 16, "version", "");
  for (int round = 0; round < 5; ++round) {
    std::string wire;
    const int a = table.add(wire, Clock::now(), true);
    const int b = table.add(wire, Clock::now(), true);
    table.mark_sent(Clock::now());
    for (int expected : {a, b}) {
      const ReplyMatch m = table.match("VERSION 1.6.18");
      ASSERT_EQ(m.kind, Kind::kCompleted);
      ASSERT_EQ(m.slot, expected);
      table.release(m.slot);
    }
  }
}

TEST(RawMatching, ReleasingOutOfOrderOnAClosedConnectionKeepsTheRingConsistent) {
  RequestTable table(Protocol::kRaw, 3, 16, "PING", "");
  std::string wire;
  const int a = table.add(wire, Clock::now(), true);
  const int b = table.add(wire, Clock::now(), true);
  const int c = table.add(wire, Clock::now(), true);
  table.mark_sent(Clock::now());
  table.release(b);  // as Connection::fail() does, in slot order
  EXPECT_EQ(table.match("x").slot, a);
  table.release(a);
  EXPECT_EQ(table.match("x").slot, c);
  table.release(c);
  EXPECT_EQ(table.occupied(), 0);
}

}  // namespace
}  // namespace poolbench
