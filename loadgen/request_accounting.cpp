#include "request_accounting.hpp"

#include <algorithm>

namespace poolbench {

RequestAccounting::RequestAccounting(const LoadSettings& settings, bool assess_halves)
    : interval_(settings.interval),
      timeout_us_(rounded_us(settings.timeout)),
      late_send_us_(rounded_us(settings.late_send)),
      // HdrHistogram's recordValueWithExpectedInterval: closed loop only (validate() refuses it
      // in open loop, whose response times already start at the intended time).
      expected_interval_us_(
          settings.model() == LoadModel::kClosed ? rounded_us(settings.expected_interval) : 0),
      assess_halves_(assess_halves) {}

void RequestAccounting::start(const Timeline& timeline) {
  t0_ = timeline.t0;
  window_start_ = timeline.window_start;
  window_end_ = timeline.window_end;
}

void RequestAccounting::end_window_at(TimePoint end) {
  window_end_ = std::min(window_end_, end);
}

void RequestAccounting::sent(bool measured) {
  ++totals_.counts.requests_sent;
  if (measured) {
    ++totals_.counts.scheduled;
    ++measured_outstanding_;
  }
}

// Summed per request at its end rather than sampled: a sampler thread sharing the CPUs is
// woken late exactly when the generator and server are busy answering, which biases a sampled
// count low by the CPU time of a reply over the response time (5% under a sanitizer's slowdown).
// A window end moved earlier later on (an interruption, a spent --requests budget) is not
// re-applied to requests already summed: at most the few that ended in between.
void RequestAccounting::occupied(TimePoint intended, TimePoint until, std::uint64_t count) {
  const TimePoint from = std::max(intended, window_start_);
  const TimePoint to = std::min(until, window_end_);
  if (to > from) totals_.in_system_s += static_cast<double>(count) * seconds_of(to - from);
}

void RequestAccounting::completed(const RequestTimes& request, TimePoint now) {
  occupied(request.intended, now);
  const std::int64_t response_us = rounded_us(now - request.intended);
  IntervalAccumulator& interval = interval_at(now);
  interval.response.record(response_us);
  interval.completed++;
  if (!request.measured) return;
  --measured_outstanding_;
  totals_.last_measured_reply = std::max(totals_.last_measured_reply, now);
  RequestCounts& counts = totals_.counts;
  ++counts.completed;
  record_response(response_us, 1);
  counts.service_time.record(rounded_us(now - request.sent));
  const std::int64_t lag_us = rounded_us(request.sent - request.intended);
  counts.schedule_lag.record(lag_us);
  if (lag_us > late_send_us_) ++counts.late_sends;
  record_half(half_of(request.intended), response_us, 1);
}

void RequestAccounting::failed(const RequestTimes& request, std::string_view error, TimePoint now) {
  occupied(request.intended, now);
  interval_at(now).errors++;
  if (!request.measured) {
    if (in_warmup(request.intended)) ++totals_.counts.warmup_errors;
    return;
  }
  --measured_outstanding_;
  totals_.last_measured_reply = std::max(totals_.last_measured_reply, now);
  totals_.counts.errors.add(error, 1, false);
}

void RequestAccounting::timed_out(const RequestTimes& request, TimePoint now) {
  occupied(request.intended, now);
  if (request.measured) --measured_outstanding_;
  if (!request.measured && in_warmup(request.intended)) ++totals_.counts.warmup_timeouts;
  count_timeouts(1, request.measured, half_of(request.intended), now);
}

void RequestAccounting::abandoned(const RequestTimes& request) {
  occupied(request.intended, window_end_);  // still in the system when the window ended
  if (!request.measured) return;
  ++totals_.counts.unfinished;
  --measured_outstanding_;
}

void RequestAccounting::plan_timed_out(std::uint64_t count, bool measured, int half, bool warmup,
                                       TimePoint now) {
  // Never sent; each waited about the timeout since its intended time (not kept per request).
  occupied(now - std::chrono::microseconds(timeout_us_), now, count);
  if (measured) totals_.counts.scheduled += count;
  if (warmup) totals_.counts.warmup_timeouts += count;
  count_timeouts(count, measured, half, now);
}

void RequestAccounting::plan_unsent(std::uint64_t count) {
  totals_.counts.scheduled += count;
  totals_.counts.unfinished += count;
}

void RequestAccounting::no_connection(TimePoint intended, bool measured) {
  if (!measured) {
    if (in_warmup(intended)) ++totals_.counts.warmup_errors;
    return;
  }
  ++totals_.counts.scheduled;
  totals_.counts.errors.add("no_connection", 1, false);
}

void RequestAccounting::stray_reply(std::string_view error, TimePoint now) {
  if (now >= window_start_) totals_.counts.errors.add(error, 1, true);
  interval_at(now).errors++;
}

// `count` responses of `value_us` each.
void RequestAccounting::record_response(std::int64_t value_us, std::int64_t count) {
  totals_.counts.response_time.record_n(value_us, count);
  if (expected_interval_us_ <= 0) return;
  // The requests a stalled closed loop did not send: one per expected interval of the stall.
  const std::int64_t expected = expected_interval_us_;
  for (std::int64_t missing = value_us - expected; missing >= expected; missing -= expected) {
    totals_.counts.response_time.record_n(missing, count);
  }
}

void RequestAccounting::record_half(int half, std::int64_t response_us, std::uint64_t count) {
  if (!assess_halves_) return;
  totals_.half_response[half].record_n(response_us, static_cast<std::int64_t>(count));
  totals_.half_count[half] += count;
}

void RequestAccounting::count_timeouts(std::uint64_t count, bool measured, int half,
                                       TimePoint now) {
  IntervalAccumulator& interval = interval_at(now);
  interval.timeouts += count;
  interval.response.record_n(timeout_us_, static_cast<std::int64_t>(count));
  if (!measured) return;
  totals_.counts.timeouts += count;
  record_response(timeout_us_, static_cast<std::int64_t>(count));
  record_half(half, timeout_us_, count);
  totals_.last_measured_reply = std::max(totals_.last_measured_reply, now);
}

IntervalAccumulator& RequestAccounting::interval_at(TimePoint now) {
  const std::int64_t index = now <= t0_ ? 0 : (now - t0_).count() / interval_.count();
  if (!intervals_.empty() && intervals_.back().index == index) return intervals_.back();
  for (auto it = intervals_.rbegin(); it != intervals_.rend(); ++it) {
    if (it->index == index) return *it;
    if (it->index < index) break;
  }
  // Normally the newest; an older index (the coordinator already took it) lands in the newest.
  if (!intervals_.empty() && intervals_.back().index > index) return intervals_.back();
  intervals_.emplace_back();
  intervals_.back().index = index;
  return intervals_.back();
}

std::vector<IntervalAccumulator> RequestAccounting::take_intervals(std::int64_t before) {
  std::vector<IntervalAccumulator> taken;
  while (!intervals_.empty() && intervals_.front().index < before) {
    taken.push_back(std::move(intervals_.front()));
    intervals_.pop_front();
  }
  return taken;
}

AccountingTotals RequestAccounting::take_totals() {
  return std::move(totals_);
}

}  // namespace poolbench
