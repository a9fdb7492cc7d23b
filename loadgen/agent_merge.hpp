// `loadgen merge` of runs that were one load from several generator processes ("agents",
// possibly on several hosts, loadgen/README.md §11): the shares of a --segment layout, the
// truth about each agent, and the per-interval series on the agents' common wall-clock timeline.
//
// The arithmetic of the merge itself (histograms, counts) is result_merge.hpp's; this file adds
// what only concurrent inputs have: who ran which share, when each started, how far the agents
// agree, and whether their windows overlapped at all.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "run_result.hpp"

namespace poolbench {

// The agents disagree when their p99s differ by more than this factor and this much (below a
// millisecond, loopback jitter alone doubles a p99) ...
constexpr double kAgentP99Ratio = 2.0;
constexpr double kAgentP99FloorUs = 1000;
// ... or, for the shares of one --segment layout (equal parts of one plan), their throughputs
// by more than this one.
constexpr double kShareThroughputRatio = 1.10;
// The agents' measurement windows must overlap for at least this part of the shortest one.
constexpr double kAgentOverlapFraction = 0.9;

// The --segment layout of the inputs: none (every input a whole load), or N shares. Throws
// MergeError when an input repeats a share (it would count twice), or when inputs mix layouts
// unless `force`: then they are merged as plain concurrent runs and `forced` says how.
struct SegmentLayout {
  int count = 1;             // N; 1 when the inputs are not shares (or forced together)
  std::vector<int> missing;  // shares of 0..N-1 no input holds
  std::string forced;        // with `force`: the layouts that differed
};
SegmentLayout segment_layout(const std::vector<nlohmann::json>& runs,
                             const std::vector<std::string>& names, bool force);

// "merge.agents" and "merge.heterogeneity" for concurrent inputs, and the reasons (codes) that
// make the merged run invalid: agents_disagree, agents_not_overlapping, segments_missing.
struct AgentReport {
  nlohmann::json agents = nlohmann::json::array();
  nlohmann::json heterogeneity;
  std::vector<std::string> reasons;
};
AgentReport agent_report(const std::vector<nlohmann::json>& runs,
                         const std::vector<std::string>& names, const SegmentLayout& layout);

// The inputs' per-interval series merged on their common timeline: each input's intervals are
// placed by its t0 on the wall clock ("clock.t0_epoch_s"; inputs without it are taken to have
// started together), and those falling on one slot are merged through their histograms. Empty
// when the inputs' interval lengths differ. `start_s` counts from the earliest t0.
std::vector<IntervalStats> merged_interval_series(const std::vector<nlohmann::json>& runs);

}  // namespace poolbench
