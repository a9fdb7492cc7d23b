#include "stage_timing.hpp"

#include <algorithm>

namespace poolbench {

std::string_view to_string(Stage stage) {
  switch (stage) {
    case Stage::dispatch:
      return "dispatch";
    case Stage::queue_wait:
      return "queue_wait";
    case Stage::service:
      return "service";
    case Stage::return_hop:
      return "return_hop";
  }
  return "?";
}

StageHistograms::StageHistograms()
    : stages_{One{Histogram(1, kHighestNs, 3)}, One{Histogram(1, kHighestNs, 3)},
              One{Histogram(1, kHighestNs, 3)}, One{Histogram(1, kHighestNs, 3)}} {}

void StageHistograms::add(Stage stage, StageClock::duration span) {
  const std::int64_t ns =
      std::max<std::int64_t>(0, std::chrono::duration_cast<std::chrono::nanoseconds>(span).count());
  One& one = stages_[index(stage)];
  one.histogram.record(ns);
  one.sum_ns += ns;
}

void StageHistograms::record(const StageTimes& t) {
  add(Stage::dispatch, t.handed - t.parsed);
  add(Stage::queue_wait, t.started - t.handed);
  add(Stage::service, t.done - t.started);
  add(Stage::return_hop, t.replied - t.done);
}

}  // namespace poolbench
