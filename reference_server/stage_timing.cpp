#include "stage_timing.hpp"

#include <algorithm>

namespace poolbench {

std::string_view to_string(Stage stage) {
  switch (stage) {
    case Stage::kDispatch:
      return "dispatch";
    case Stage::kQueueWait:
      return "queue_wait";
    case Stage::kService:
      return "service";
    case Stage::kReturnHop:
      return "return_hop";
  }
  return "?";
}

StageHistograms::StageHistograms()
    : stages_{One{Histogram(1, kHighestNs, 3)}, One{Histogram(1, kHighestNs, 3)},
              One{Histogram(1, kHighestNs, 3)}, One{Histogram(1, kHighestNs, 3)}} {}

void StageHistograms::add(Stage stage, Clock::duration span) {
  const std::int64_t ns =
      std::max<std::int64_t>(0, std::chrono::duration_cast<std::chrono::nanoseconds>(span).count());
  One& one = stages_[index(stage)];
  one.histogram.record(ns);
  one.sum_ns += ns;
}

void StageHistograms::record(const StageTimes& t) {
  add(Stage::kDispatch, t.handed - t.parsed);
  add(Stage::kQueueWait, t.started - t.handed);
  add(Stage::kService, t.done - t.started);
  add(Stage::kReturnHop, t.replied - t.done);
}

}  // namespace poolbench
