// The per-interval series of a run: the coordinator adds the workers' accumulators of each
// interval as it takes them and emits one IntervalStats per interval, in order, to the result
// and to the live status line (RunHooks::on_interval).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "request_accounting.hpp"
#include "run_result.hpp"

namespace poolbench {

class IntervalSeries {
 public:
  using OnInterval = std::function<void(const IntervalStats&)>;

  IntervalSeries(const Timeline& timeline, std::chrono::nanoseconds interval,
                 OnInterval on_interval);

  void add(std::vector<IntervalAccumulator> parts);
  // Emits every interval with index < `before` (the last one ends at `end` if earlier).
  void emit_before(std::int64_t before, TimePoint end);

  std::int64_t next() const { return next_; }
  std::vector<IntervalStats> take() { return std::move(series_); }
  void set_window_end(TimePoint end) { timeline_.window_end = end; }

 private:
  IntervalStats stats_of(std::int64_t index, TimePoint end);

  Timeline timeline_;
  std::chrono::nanoseconds interval_;
  OnInterval on_interval_;
  const std::string empty_histogram_;  // idle intervals
  std::map<std::int64_t, IntervalAccumulator> pending_;
  std::int64_t next_ = 0;
  std::vector<IntervalStats> series_;
};

}  // namespace poolbench
