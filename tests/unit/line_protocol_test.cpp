#include "line_protocol.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace poolbench {
namespace {

using Lines = std::vector<std::string>;

struct Fed {
  Lines lines;
  LineFramer::Status status = LineFramer::Status::kOk;
};

Fed feed(LineFramer& framer, std::string_view data) {
  Fed fed;
  fed.status = framer.feed(data, [&](std::string_view line) { fed.lines.emplace_back(line); });
  return fed;
}

TEST(LineFramer, SplitsOnCrLfAndKeepsTheEmptyLine) {
  LineFramer framer;
  const auto fed = feed(framer, "a\r\n\r\nbc\r\n");
  EXPECT_EQ(fed.lines, (Lines{"a", "", "bc"}));
  EXPECT_EQ(framer.buffered_bytes(), 0u);
}

TEST(LineFramer, ABareLfIsPartOfTheLine) {
  LineFramer framer;
  EXPECT_TRUE(feed(framer, "abc\n").lines.empty());  // Twisted waits too
  EXPECT_EQ(feed(framer, "def\r\n").lines, (Lines{"abc\ndef"}));
  EXPECT_EQ(feed(framer, "abc\r\r\n").lines, (Lines{"abc\r"}));
}

TEST(LineFramer, LfModeEndsLinesAtABareLfAndDropsAnOptionalCr) {
  LineFramer framer(LineFramer::kDefaultMaxLine, LineFramer::Delimiter::kLf);
  EXPECT_EQ(feed(framer, "a\nb\r\n\n").lines, (Lines{"a", "b", ""}));
}

TEST(LineFramer, LinesSplitAcrossReadsOneByteAtATime) {
  LineFramer framer;
  const std::string input = "hello\r\nworld\r\n\r\n";
  Lines lines;
  for (char c : input) {
    for (auto& line : feed(framer, std::string_view(&c, 1)).lines)
      lines.push_back(line);
  }
  EXPECT_EQ(lines, (Lines{"hello", "world", ""}));
}

TEST(LineFramer, ACrLfSplitBetweenReads) {
  LineFramer framer;
  EXPECT_TRUE(feed(framer, "abc\r").lines.empty());
  EXPECT_EQ(feed(framer, "\nxyz\r\n").lines, (Lines{"abc", "xyz"}));
}

TEST(LineFramer, ManyPipelinedLinesInOneReadComeOutInOrder) {
  LineFramer framer;
  std::string input;
  for (int i = 0; i < 100'000; ++i)
    input += std::to_string(i) + "\r\n";
  const auto fed = feed(framer, input);
  ASSERT_EQ(fed.lines.size(), 100'000u);
  for (int i = 0; i < 100'000; ++i)
    ASSERT_EQ(fed.lines[i], std::to_string(i));
}

TEST(LineFramer, MaxLengthWithTheDelimiterIsInclusive) {
  LineFramer framer(10);
  EXPECT_EQ(feed(framer, std::string(10, 'x') + "\r\n").lines.size(), 1u);
  LineFramer other(10);
  EXPECT_EQ(feed(other, std::string(11, 'x') + "\r\n").status, LineFramer::Status::kLineTooLong);
}

TEST(LineFramer, WithoutTheDelimiterTheLimitIsMaxPlusDelimiterLength) {
  // Twisted: 16385 bytes without a delimiter may still become a 16384-byte line plus "\r".
  LineFramer framer;
  EXPECT_EQ(feed(framer, std::string(16385, 'x')).status, LineFramer::Status::kOk);
  EXPECT_EQ(feed(framer, "x").status, LineFramer::Status::kLineTooLong);
  LineFramer exact;
  EXPECT_EQ(feed(exact, std::string(16384, 'x') + "\r").status, LineFramer::Status::kOk);
  const auto fed = feed(exact, "\n");
  EXPECT_EQ(fed.status, LineFramer::Status::kOk);
  ASSERT_EQ(fed.lines.size(), 1u);
  EXPECT_EQ(fed.lines[0].size(), 16384u);
}

TEST(LineFramer, LinesBeforeAnOverlongOneAreDeliveredFirst) {
  LineFramer framer(8);
  const auto fed = feed(framer, "ok\r\n" + std::string(9, 'x') + "\r\nlater\r\n");
  EXPECT_EQ(fed.lines, (Lines{"ok"}));
  EXPECT_EQ(fed.status, LineFramer::Status::kLineTooLong);
}

TEST(LineFramer, LfStreamGetsClosedOnceTheBufferReachesTheLimit) {
  // In crlf mode, "\n"-terminated lines never end: the buffer grows to the limit.
  LineFramer framer(10);
  EXPECT_EQ(feed(framer, "aaaa\nbbbb\n").status, LineFramer::Status::kOk);
  EXPECT_EQ(feed(framer, "cc").status, LineFramer::Status::kLineTooLong);
}

// Found by fuzz_line_framer: in lf mode a max-length line whose "\r\n" arrives split was
// refused as too long, though the same bytes in one read were accepted.
TEST(LineFramer, LfModeAMaxLengthLineWithItsCrLfSplitBetweenReadsIsAccepted) {
  LineFramer framer(5, LineFramer::Delimiter::kLf);
  std::vector<std::string> lines;
  auto collect = [&](std::string_view line) { lines.emplace_back(line); };
  EXPECT_EQ(framer.feed("abcde\r", collect), LineFramer::Status::kOk);
  EXPECT_EQ(framer.feed("\n", collect), LineFramer::Status::kOk);
  EXPECT_EQ(lines, std::vector<std::string>{"abcde"});
  EXPECT_EQ(framer.feed("abcdef", collect), LineFramer::Status::kLineTooLong);
}

TEST(LineFramer, BinaryBytesPassThrough) {
  LineFramer framer;
  const std::string line("a\0b\xff\xfe", 5);
  const auto fed = feed(framer, line + "\r\n");
  ASSERT_EQ(fed.lines.size(), 1u);
  EXPECT_EQ(fed.lines[0], line);
}

}  // namespace
}  // namespace poolbench
