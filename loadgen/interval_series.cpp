#include "interval_series.hpp"

#include <algorithm>

namespace poolbench {

IntervalSeries::IntervalSeries(const Timeline& timeline, std::chrono::nanoseconds interval,
                               OnInterval on_interval)
    : timeline_(timeline),
      interval_(interval),
      on_interval_(std::move(on_interval)),
      empty_histogram_(make_latency_histogram().encode_v2_base64()) {}

void IntervalSeries::add(std::vector<IntervalAccumulator> parts) {
  for (auto& part : parts) {
    auto [it, inserted] = pending_.try_emplace(part.index);
    if (inserted) {
      it->second = std::move(part);
    } else {
      it->second.response.merge(part.response);
      it->second.completed += part.completed;
      it->second.errors += part.errors;
      it->second.timeouts += part.timeouts;
    }
  }
}

void IntervalSeries::emit_before(std::int64_t before, TimePoint end) {
  for (; next_ < before; ++next_) {
    const TimePoint start = timeline_.t0 + interval_ * next_;
    if (start >= end) break;
    series_.push_back(stats_of(next_, end));
    if (on_interval_) on_interval_(series_.back());
  }
}

IntervalStats IntervalSeries::stats_of(std::int64_t index, TimePoint end) {
  const TimePoint start = timeline_.t0 + interval_ * index;
  IntervalStats stats;
  stats.start_s = seconds_of(start - timeline_.t0);
  stats.length_s = seconds_of(std::min(end, start + interval_) - start);
  stats.phase = start < timeline_.window_start ? Phase::kWarmup
                : start < timeline_.window_end ? Phase::kMeasure
                                               : Phase::kDrain;
  auto it = pending_.find(index);
  if (it != pending_.end()) {
    const IntervalAccumulator& acc = it->second;
    stats.completed = acc.completed;
    stats.errors = acc.errors;
    stats.timeouts = acc.timeouts;
    stats.p50_us = acc.response.value_at_percentile(50);
    stats.p99_us = acc.response.value_at_percentile(99);
    stats.max_us = acc.response.max();
    stats.histogram = acc.response.encode_v2_base64();
    pending_.erase(it);
  } else {
    stats.histogram = empty_histogram_;
  }
  stats.throughput_rps =
      stats.length_s > 0 ? static_cast<double>(stats.completed) / stats.length_s : 0;
  return stats;
}

}  // namespace poolbench
