// The books of one generator thread, without sockets: every scheduled measured request ends in
// exactly one of completed, errors, timeouts or unfinished, whatever path it takes; unmeasured
// requests reach only the per-interval series; latencies land in the right histograms.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <vector>

#include "request_accounting.hpp"

namespace poolbench {
namespace {

using std::chrono::milliseconds;

// A one-second window after one second of warm-up, 100 ms intervals, 1 s timeout.
struct Books {
  LoadSettings settings;
  Timeline timeline;
  RequestAccounting books;

  explicit Books(bool assess_halves = true)
      : settings(make_settings()), books(settings, assess_halves) {
    timeline.t0 = TimePoint(std::chrono::seconds(1000));
    timeline.window_start = timeline.t0 + std::chrono::seconds(1);
    timeline.window_end = timeline.window_start + std::chrono::seconds(1);
    books.start(timeline);
  }
  static LoadSettings make_settings() {
    LoadSettings s;
    s.timeout = std::chrono::seconds(1);
    s.interval = milliseconds(100);
    return s;
  }
  TimePoint at(int ms_after_window_start) const {
    return timeline.window_start + milliseconds(ms_after_window_start);
  }
  // A measured request intended at `ms`, sent `lag_ms` later.
  RequestTimes measured(int ms, int lag_ms = 0) {
    books.sent(true);
    return {at(ms), at(ms + lag_ms), true};
  }
};

std::uint64_t accounted(const RequestCounts& c) {
  return c.completed + c.errors.requests + c.timeouts + c.unfinished;
}

TEST(RequestAccounting, EveryPathEndsInExactlyOneCount) {
  Books b;
  b.books.completed(b.measured(10), b.at(12));
  b.books.failed(b.measured(20), "err:busy", b.at(21));
  b.books.timed_out(b.measured(30), b.at(1030));
  b.books.abandoned(b.measured(40));
  b.books.plan_timed_out(5, true, 0, false, b.at(1100));
  b.books.plan_unsent(3);
  b.books.no_connection(b.at(50), true);
  b.books.no_connection(b.at(1100), false);  // not measured: not scheduled, not counted
  b.books.plan_timed_out(7, false, 1, false, b.at(1200));  // idem
  const AccountingTotals totals = b.books.take_totals();
  const RequestCounts& c = totals.counts;
  EXPECT_EQ(c.scheduled, 4u + 5 + 3 + 1);
  EXPECT_EQ(c.completed, 1u);
  EXPECT_EQ(c.errors.requests, 2u);  // err:busy and no_connection
  EXPECT_EQ(c.errors.by_kind.at("err:busy"), 1u);
  EXPECT_EQ(c.errors.by_kind.at("no_connection"), 1u);
  EXPECT_EQ(c.timeouts, 1u + 5);
  EXPECT_EQ(c.unfinished, 1u + 3);
  EXPECT_EQ(accounted(c), c.scheduled);
  EXPECT_EQ(c.requests_sent, 4u);
}

TEST(RequestAccounting, OutstandingCountsMeasuredRequestsUntilTheyEnd) {
  Books b;
  const RequestTimes one = b.measured(0);
  const RequestTimes two = b.measured(1);
  b.books.sent(false);  // warm-up or drain traffic: not outstanding
  EXPECT_EQ(b.books.measured_outstanding(), 2);
  b.books.completed(one, b.at(5));
  EXPECT_EQ(b.books.measured_outstanding(), 1);
  b.books.timed_out(two, b.at(1001));
  EXPECT_EQ(b.books.measured_outstanding(), 0);
}

// L for Little's law: each request's time from its intended time to its end, clipped to the
// window [0, 1000 ms), whatever way it ended and whether it was measured.
TEST(RequestAccounting, TimeInTheSystemIsEachRequestsSpanInsideTheWindow) {
  Books b;
  b.books.completed(b.measured(100, 30), b.at(300));       // 200 ms, the 30 ms late send included
  b.books.failed(b.measured(400), "err:busy", b.at(410));  // 10 ms
  b.books.completed({b.at(-50), b.at(-50), false}, b.at(20));      // warm-up: 20 ms inside
  b.books.completed({b.at(950), b.at(950), true}, b.at(1200));     // 50 ms inside
  b.books.timed_out(b.measured(500), b.at(900));                   // 400 ms
  b.books.plan_timed_out(2, true, 1, false, b.at(1100));           // 1 s timeout: 2 x 900 ms
  b.books.abandoned(b.measured(980));                              // until the window's end: 20
  b.books.completed({b.at(1010), b.at(1010), false}, b.at(1020));  // after the window: 0
  const AccountingTotals totals = b.books.take_totals();
  EXPECT_NEAR(totals.in_system_s, 0.200 + 0.010 + 0.020 + 0.050 + 0.400 + 1.800 + 0.020, 1e-9);
}

TEST(RequestAccounting, ResponseServiceAndLagAreMeasuredFromTheirOwnStarts) {
  Books b;
  b.books.completed(b.measured(100, 3), b.at(110));  // intended 100, sent 103, reply 110
  b.books.completed(b.measured(200, 2), b.at(201));  // lag 2 ms: a late send
  const RequestCounts c = b.books.take_totals().counts;
  EXPECT_EQ(c.response_time.min(), 1000);
  EXPECT_NEAR(static_cast<double>(c.response_time.max()), 10000, 10);
  EXPECT_NEAR(static_cast<double>(c.service_time.max()), 7000, 10);
  EXPECT_EQ(c.service_time.min(), 0);  // sent 202, reply 201 would be negative: never below 0
  EXPECT_NEAR(static_cast<double>(c.schedule_lag.max()), 3000, 10);
  EXPECT_EQ(c.late_sends, 2u);
}

TEST(RequestAccounting, ALateSendIsOneFurtherBehindThanTheLateSendSetting) {
  LoadSettings settings = Books::make_settings();
  settings.late_send = milliseconds(3);
  RequestAccounting books(settings, true);
  Books b;  // only for its timeline
  books.start(b.timeline);
  for (const int lag_ms : {2, 3, 4}) {
    books.sent(true);
    books.completed({b.at(100), b.at(100 + lag_ms), true}, b.at(110));
  }
  const RequestCounts c = books.take_totals().counts;
  EXPECT_EQ(c.late_sends, 1u);  // only the 4 ms lag: 3 ms is not further behind than 3 ms
  EXPECT_NEAR(static_cast<double>(c.schedule_lag.max()), 4000, 10);  // every lag is recorded
}

TEST(RequestAccounting, TimeoutsAreRecordedAtTheTimeoutValue) {
  Books b;
  b.books.timed_out(b.measured(0), b.at(1500));
  b.books.plan_timed_out(4, true, 1, false, b.at(1600));
  const RequestCounts c = b.books.take_totals().counts;
  EXPECT_EQ(c.response_time.total_count(), 5);
  EXPECT_NEAR(static_cast<double>(c.response_time.min()), 1e6, 1e3);
  EXPECT_NEAR(static_cast<double>(c.response_time.max()), 1e6, 1e3);
  EXPECT_EQ(c.service_time.total_count(), 0);
}

TEST(RequestAccounting, HalvesSplitByIntendedTimeOrAreNotKept) {
  Books b;
  b.books.completed(b.measured(100), b.at(800));  // intended in the first half, replied in the 2nd
  b.books.completed(b.measured(600), b.at(601));
  b.books.completed(b.measured(700), b.at(701));
  const AccountingTotals t = b.books.take_totals();
  EXPECT_EQ(t.half_count[0], 1u);
  EXPECT_EQ(t.half_count[1], 2u);
  EXPECT_EQ(t.last_measured_reply, b.at(800));

  Books budget(/*assess_halves=*/false);
  budget.books.completed(budget.measured(100), budget.at(101));
  const AccountingTotals u = budget.books.take_totals();
  EXPECT_EQ(u.half_count[0] + u.half_count[1], 0u);
  EXPECT_EQ(u.counts.completed, 1u);
}

TEST(RequestAccounting, TheWindowOnlyEverEndsEarlier) {
  Books b;
  EXPECT_TRUE(b.books.in_window(b.at(999)));
  EXPECT_FALSE(b.books.in_window(b.at(-1)));
  b.books.end_window_at(b.at(500));
  EXPECT_FALSE(b.books.in_window(b.at(500)));
  b.books.end_window_at(b.at(900));  // later: no effect
  EXPECT_EQ(b.books.window_end(), b.at(500));
  EXPECT_EQ(b.books.window_middle(), b.at(250));
  EXPECT_EQ(b.books.half_of(b.at(249)), 0);
  EXPECT_EQ(b.books.half_of(b.at(250)), 1);
}

TEST(RequestAccounting, IntervalsSeeEverythingThatFinishedInThemMeasuredOrNot) {
  Books b;
  b.books.sent(false);
  b.books.completed({b.timeline.t0, b.timeline.t0, false}, b.timeline.t0 + milliseconds(50));
  b.books.completed(b.measured(10), b.at(20));        // interval 10
  b.books.failed(b.measured(30), "err:x", b.at(40));  // interval 10
  b.books.timed_out(b.measured(50), b.at(1150));      // interval 21
  b.books.stray_reply("unknown_id", b.at(60));        // interval 10
  const std::vector<IntervalAccumulator> early = b.books.take_intervals(11);
  ASSERT_EQ(early.size(), 2u);
  EXPECT_EQ(early[0].index, 0);
  EXPECT_EQ(early[0].completed, 1u);
  EXPECT_EQ(early[1].index, 10);
  EXPECT_EQ(early[1].completed, 1u);
  EXPECT_EQ(early[1].errors, 2u);  // the error reply and the stray line
  const std::vector<IntervalAccumulator> late = b.books.take_intervals(100);
  ASSERT_EQ(late.size(), 1u);
  EXPECT_EQ(late[0].index, 21);
  EXPECT_EQ(late[0].timeouts, 1u);
  EXPECT_EQ(late[0].response.total_count(), 1);
  const RequestCounts c = b.books.take_totals().counts;
  EXPECT_EQ(c.errors.stray, 1u);
  EXPECT_EQ(c.errors.requests, 1u);
}

TEST(RequestAccounting, StrayRepliesBeforeTheWindowAreNotCounted) {
  Books b;
  b.books.stray_reply("malformed", b.timeline.t0 + milliseconds(10));
  EXPECT_EQ(b.books.take_totals().counts.errors.total(), 0u);
}

TEST(RequestAccounting, TheExpectedIntervalCorrectionAddsTheRequestsAStallHid) {
  LoadSettings settings = Books::make_settings();
  settings.expected_interval = milliseconds(1);
  RequestAccounting books(settings, true);
  Timeline timeline{TimePoint{}, TimePoint{}, TimePoint(std::chrono::seconds(10))};
  books.start(timeline);
  books.sent(true);
  books.completed({TimePoint{}, TimePoint{}, true}, TimePoint(milliseconds(5)));
  // 5 ms with a 1 ms expected interval: 5, 4, 3, 2, 1 ms.
  EXPECT_EQ(books.take_totals().counts.response_time.total_count(), 5);
}

// Warm-up requests are outside the accounting, but their failures are counted apart: a server
// that fails during the warm-up is not silently hidden by it.
TEST(RequestAccounting, WarmupFailuresAreCountedApart) {
  Books b;
  auto warmup = [&b](int ms_before_window) {
    b.books.sent(false);
    return RequestTimes{b.at(-ms_before_window), b.at(-ms_before_window), false};
  };
  b.books.failed(warmup(500), "err:busy", b.at(-499));
  b.books.timed_out(warmup(900), b.at(100));
  b.books.no_connection(b.at(-300), false);
  b.books.plan_timed_out(6, false, 0, true, b.at(-100));
  // Drain requests (intended after the window) are not warm-up ones.
  b.books.sent(false);
  b.books.failed({b.at(1500), b.at(1500), false}, "err:busy", b.at(1501));
  const RequestCounts c = b.books.take_totals().counts;
  EXPECT_EQ(c.warmup_errors, 2u);
  EXPECT_EQ(c.warmup_timeouts, 7u);
  EXPECT_EQ(c.scheduled, 0u);
  EXPECT_EQ(c.errors.requests, 0u);
  EXPECT_EQ(c.timeouts, 0u);
}

}  // namespace
}  // namespace poolbench
