// --segment and --start-at: the share syntax and its errors, shares that add up to the whole
// load, the two time formats, and the start window a run accepts.
#include "segment.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <stdexcept>

#include "settings.hpp"

namespace poolbench {
namespace {

using std::chrono::system_clock;

double epoch_s(system_clock::time_point t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

TEST(Segment, ParsesShareIOfNAndRefusesTheRest) {
  EXPECT_EQ(parse_segment("0/1"), (Segment{0, 1}));
  EXPECT_EQ(parse_segment("3/4"), (Segment{3, 4}));
  EXPECT_EQ(to_string(Segment{2, 5}), "2/5");
  for (const char* bad : {"", "1", "4/4", "5/4", "0/0", "-1/2", "1/-2", "a/2", "1/2/3", "1 /2"}) {
    EXPECT_THROW(parse_segment(bad), std::invalid_argument) << bad;
  }
}

TEST(Segment, SharesAddUpToTheWholeAndDifferByAtMostOne) {
  for (const std::uint64_t total : {1u, 7u, 64u, 1001u}) {
    for (int count = 1; count <= 7; ++count) {
      std::uint64_t sum = 0;
      for (int index = 0; index < count; ++index) {
        const std::uint64_t share = share_of(total, Segment{index, count});
        EXPECT_LE(share, total / count + 1);
        EXPECT_GE(share, total / count);
        sum += share;
      }
      EXPECT_EQ(sum, total) << total << " over " << count;
    }
  }
}

TEST(StartAt, EpochSecondsAndRfc3339NameTheSameInstant) {
  EXPECT_DOUBLE_EQ(epoch_s(parse_start_at("1764650000.25")), 1764650000.25);
  // 1764650000 = 2025-12-02T04:33:20Z.
  EXPECT_DOUBLE_EQ(epoch_s(parse_start_at("2025-12-02T04:33:20Z")), 1764650000);
  EXPECT_DOUBLE_EQ(epoch_s(parse_start_at("2025-12-02T04:33:20.5Z")), 1764650000.5);
  EXPECT_DOUBLE_EQ(epoch_s(parse_start_at("2025-12-02T05:33:20+01:00")), 1764650000);
  EXPECT_DOUBLE_EQ(epoch_s(parse_start_at("2025-12-01T23:03:20-05:30")), 1764650000);
  for (const char* bad : {"", "soon", "-5", "0", "2025-13-02T04:33:20Z", "2025-12-02T04:33:20",
                          "2025-12-02T25:00:00Z", "2025-12-02T04:33:20+1", "12:00"}) {
    EXPECT_THROW(parse_start_at(bad), std::invalid_argument) << bad;
  }
}

TEST(StartAt, ARunRefusesAStartLongPastOrTooFarAhead) {
  LoadSettings settings;
  settings.start_at = system_clock::now() + std::chrono::seconds(30);
  EXPECT_NO_THROW(settings.validate());
  settings.start_at = system_clock::now() - std::chrono::milliseconds(500);  // within tolerance
  EXPECT_NO_THROW(settings.validate());
  settings.start_at = system_clock::now() - std::chrono::seconds(10);
  EXPECT_THROW(settings.validate(), std::invalid_argument);
  settings.start_at = system_clock::now() + std::chrono::hours(25);
  EXPECT_THROW(settings.validate(), std::invalid_argument);
}

TEST(Segment, AShareNeedsAConnectionAndAClosedLoopShareARequest) {
  LoadSettings settings;
  settings.connections = 3;
  settings.segment = {3, 4};  // (not parsed: validate() sees the layout only)
  EXPECT_THROW(settings.validate(), std::invalid_argument);
  settings.connections = 4;
  settings.requests = 3;
  EXPECT_THROW(settings.validate(), std::invalid_argument);
  settings.requests = 10;
  EXPECT_NO_THROW(settings.validate());
  const LoadSettings share = settings.share();
  EXPECT_EQ(share.connections, 1);
  EXPECT_EQ(share.requests, 2u);  // 10 = 3 + 3 + 2 + 2: share 3 gets 2
  settings.rate = 1000;           // open loop: the window bounds --requests, the plan is shared
  EXPECT_EQ(settings.share().requests, 10u);
  EXPECT_DOUBLE_EQ(settings.share_rate(), 250);
}

}  // namespace
}  // namespace poolbench
