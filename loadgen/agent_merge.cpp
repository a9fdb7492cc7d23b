#include "agent_merge.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <set>
#include <string>

#include "merge_checks.hpp"
#include "result_merge.hpp"

namespace poolbench {
namespace {

using json = nlohmann::json;

struct ShareOf {
  int index = 0;
  int count = 1;
};

ShareOf share_of_run(const json& run) {
  const json& config = run.at("config");
  if (!config.contains("segment")) return {};
  return {config["segment"].at("index").get<int>(), config["segment"].at("count").get<int>()};
}

double clock_field(const json& run, const char* field) {
  if (!run.contains("clock") || !run["clock"].contains(field)) return 0;
  const json& value = run["clock"][field];
  return value.is_number() ? value.get<double>() : 0;
}

bool has_clock(const json& run) {
  return clock_field(run, "t0_epoch_s") > 0;
}

// max / min of positive values; 0 when some value is not positive.
double ratio_of(const std::vector<double>& values) {
  const auto [low, high] = std::minmax_element(values.begin(), values.end());
  return *low > 0 ? *high / *low : 0;
}

json agent_entry(const json& run, const std::string& name) {
  const ShareOf share = share_of_run(run);
  const json& skew = run.contains("clock") ? run["clock"].value("start_skew_s", json()) : json();
  return {{"name", name},
          {"hostname", run.at("host").at("hostname")},
          {"segment", share.count > 1
                          ? json(std::to_string(share.index) + "/" + std::to_string(share.count))
                          : json(nullptr)},
          {"t0_epoch_s", has_clock(run) ? json(clock_field(run, "t0_epoch_s")) : json(nullptr)},
          {"start_skew_s", skew},
          {"connections", run.at("config").at("connections")},
          {"scheduled", run.at("scheduled")},
          {"completed", run.at("completed")},
          {"throughput_rps", run.at("throughput_rps")},
          {"p50_us", run.at("latency_us").at("p50")},
          {"p99_us", run.at("latency_us").at("p99")},
          {"valid", run.at("valid")}};
}

// The measurement windows on the wall clock: their common part over the shortest window.
json window_overlap(const std::vector<json>& runs) {
  double latest_start = -std::numeric_limits<double>::infinity();
  double earliest_end = std::numeric_limits<double>::infinity();
  double shortest = std::numeric_limits<double>::infinity();
  for (const json& run : runs) {
    const double start =
        clock_field(run, "t0_epoch_s") + run.at("config").at("warmup_s").get<double>();
    const double length = run.at("window_s").get<double>();
    latest_start = std::max(latest_start, start);
    earliest_end = std::min(earliest_end, start + length);
    shortest = std::min(shortest, length);
  }
  const double overlap = std::max(0.0, earliest_end - latest_start);
  return {{"overlap_s", overlap}, {"fraction", shortest > 0 ? overlap / shortest : 0.0}};
}

// The spread of the agents' starts: t0 on the wall clock, and the skews from --start-at.
json start_spread(const std::vector<json>& runs) {
  std::vector<double> t0s;
  std::vector<double> skews;
  for (const json& run : runs) {
    t0s.push_back(clock_field(run, "t0_epoch_s"));
    if (run.contains("clock") && run["clock"].value("start_skew_s", json()).is_number())
      skews.push_back(run["clock"]["start_skew_s"].get<double>());
  }
  const auto [first, last] = std::minmax_element(t0s.begin(), t0s.end());
  json spread = {{"t0_spread_s", *last - *first}};
  if (skews.size() == runs.size()) {
    const auto [low, high] = std::minmax_element(skews.begin(), skews.end());
    spread["start_skew_s"] = {{"min", *low}, {"max", *high}};
  } else {
    spread["start_skew_s"] = nullptr;  // some agent had no --start-at
  }
  return spread;
}

}  // namespace

SegmentLayout segment_layout(const std::vector<json>& runs, const std::vector<std::string>& names,
                             bool force) {
  SegmentLayout layout;
  layout.count = share_of_run(runs[0]).count;
  std::map<int, std::size_t> holder;  // share -> the input that holds it
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const ShareOf share = share_of_run(runs[i]);
    if (share.count != layout.count) {
      const std::string what = "config.segment.count differs (" + std::to_string(share.count) +
                               " in " + merge_input_name(names, i) + ", " +
                               std::to_string(layout.count) + " in " + merge_input_name(names, 0) +
                               ")";
      if (!force) {
        throw MergeError("cannot merge " + merge_input_name(names, i) + " with " +
                         merge_input_name(names, 0) + ": " + what +
                         ": give the shares of one load; --force merges anyway");
      }
      return {.count = 1, .missing = {}, .forced = what};
    }
    if (layout.count == 1) continue;
    const auto [at, inserted] = holder.emplace(share.index, i);
    if (!inserted) {
      throw MergeError("cannot merge: " + merge_input_name(names, i) + " and " +
                       merge_input_name(names, at->second) + " are both share " +
                       std::to_string(share.index) + "/" + std::to_string(share.count) +
                       "; a share given twice would count twice");
    }
  }
  for (int share = 0; share < layout.count && layout.count > 1; ++share) {
    if (holder.count(share) == 0) layout.missing.push_back(share);
  }
  return layout;
}

AgentReport agent_report(const std::vector<json>& runs, const std::vector<std::string>& names,
                         const SegmentLayout& layout) {
  AgentReport report;
  std::vector<double> p99s;
  std::vector<double> throughputs;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    report.agents.push_back(agent_entry(runs[i], merge_input_name(names, i)));
    p99s.push_back(runs[i].at("latency_us").at("p99").get<double>());
    throughputs.push_back(runs[i].at("throughput_rps").get<double>());
  }
  const double p99_ratio = ratio_of(p99s);
  const double throughput_ratio = ratio_of(throughputs);
  json& h = report.heterogeneity;
  h = {{"p99_max_over_min", p99_ratio}, {"throughput_max_over_min", throughput_ratio}};
  h.update(start_spread(runs));
  const bool clocks = std::all_of(runs.begin(), runs.end(), has_clock);
  h["window_overlap"] = clocks ? window_overlap(runs) : json(nullptr);
  if (layout.count > 1) {
    h["segments"] = {{"count", layout.count}, {"missing", layout.missing}};
    if (!layout.missing.empty()) report.reasons.emplace_back("segments_missing");
  }
  const bool shares = layout.count > 1;
  const auto [p99_low, p99_high] = std::minmax_element(p99s.begin(), p99s.end());
  const bool p99s_differ =
      p99_ratio == 0 || (p99_ratio > kAgentP99Ratio && *p99_high - *p99_low > kAgentP99FloorUs);
  if (runs.size() >= 2 && (p99s_differ || (shares && (throughput_ratio == 0 ||
                                                      throughput_ratio > kShareThroughputRatio)))) {
    report.reasons.emplace_back("agents_disagree");
  }
  if (clocks && h["window_overlap"]["fraction"].get<double>() < kAgentOverlapFraction) {
    report.reasons.emplace_back("agents_not_overlapping");
  }
  return report;
}

std::vector<IntervalStats> merged_interval_series(const std::vector<json>& runs) {
  const double length = runs[0].at("config").at("interval_s").get<double>();
  double earliest = std::numeric_limits<double>::infinity();
  for (const json& run : runs) {
    if (run.at("config").at("interval_s").get<double>() != length) return {};
    earliest = std::min(earliest, clock_field(run, "t0_epoch_s"));
  }
  struct Slot {
    IntervalStats stats;
    Histogram response = make_latency_histogram();
  };
  std::map<std::int64_t, Slot> slots;
  for (const json& run : runs) {
    const double offset = clock_field(run, "t0_epoch_s") - earliest;
    for (const json& interval : run.at("intervals")) {
      const double start = offset + interval.at("start_s").get<double>();
      const auto index = static_cast<std::int64_t>(std::llround(start / length));
      auto [at, fresh] = slots.try_emplace(index);
      IntervalStats& stats = at->second.stats;
      if (fresh) {
        stats.start_s = static_cast<double>(index) * length;
        stats.phase = parse_phase(interval.at("phase").get<std::string>());
      }
      stats.length_s = std::max(stats.length_s, interval.at("length_s").get<double>());
      stats.completed += interval.at("completed").get<std::uint64_t>();
      stats.errors += interval.at("errors").get<std::uint64_t>();
      stats.timeouts += interval.at("timeouts").get<std::uint64_t>();
      const std::string& histogram = interval.at("histogram").get_ref<const std::string&>();
      if (!histogram.empty()) at->second.response.merge(Histogram::decode_v2_base64(histogram));
    }
  }
  std::vector<IntervalStats> series;
  for (auto& [index, slot] : slots) {
    IntervalStats& stats = slot.stats;
    const Histogram& response = slot.response;
    stats.throughput_rps =
        stats.length_s > 0 ? static_cast<double>(stats.completed) / stats.length_s : 0;
    if (response.total_count() > 0) {
      stats.p50_us = response.value_at_percentile(50);
      stats.p99_us = response.value_at_percentile(99);
      stats.max_us = response.max();
    }
    stats.histogram = response.encode_v2_base64();
    series.push_back(std::move(stats));
  }
  return series;
}

}  // namespace poolbench
