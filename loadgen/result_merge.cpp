// `loadgen merge`: the checks that the inputs are one experiment, and their combination
// through their histograms (percentiles are recomputed, never averaged).
#include "result_merge.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>
#include <string_view>
#include <utility>

#include "agent_merge.hpp"
#include "host_info.hpp"
#include "merge_checks.hpp"
#include "result.hpp"
#include "result_statistics.hpp"
#include "run_result.hpp"

namespace poolbench {
namespace {

using json = nlohmann::json;

void check_schemas(const std::vector<json>& runs, const std::vector<std::string>& names) {
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const json& schema = runs[i].contains("schema") ? runs[i]["schema"] : json();
    if (schema != kRunSchema) {
      throw MergeError(merge_input_name(names, i) + ": schema is " +
                       (schema.is_null() ? "missing" : schema.dump()) + ", expected \"" +
                       kRunSchema + "\"");
    }
  }
}

// Every input's settings must equal the first input's; with --force the differences are
// returned (as "<input>: <field> <value> vs <value>") instead of refused.
std::vector<std::string> check_same_experiment(const std::vector<json>& runs,
                                               const std::vector<std::string>& names,
                                               const MergeOptions& options, bool shares) {
  std::vector<std::string> forced;
  const json& reference = runs[0].at("config");
  for (std::size_t i = 1; i < runs.size(); ++i) {
    for (const SettingDifference& d :
         setting_differences(reference, runs[i].at("config"), options.concurrent, shares)) {
      const std::string what = d.field + " differs (" + d.value + " in " +
                               merge_input_name(names, i) + ", " + d.reference_value + " in " +
                               merge_input_name(names, 0) + ")";
      if (!options.force) {
        throw MergeError("cannot merge " + merge_input_name(names, i) + " with " +
                         merge_input_name(names, 0) + ": " + what +
                         (options.concurrent ? "" : "; --concurrent allows different loads") +
                         "; --force merges anyway");
      }
      forced.push_back(what);
    }
  }
  return forced;
}

RunResult read_input(const json& run, const std::string& name) {
  try {
    return run_result_from_json(run);
  } catch (const std::exception& e) {
    throw MergeError(name + ": not a complete run document: " + e.what());
  }
}

// Adds run `r` to `merged` (the first input, then the sum of those so far). The shares of one
// --segment layout are concurrent and share one plan: its rate is theirs, not their sum.
void add_run(RunResult& merged, const RunResult& r, const MergeOptions& options, bool shares) {
  merged.merge(r);
  merged.cpu_s += r.cpu_s;
  if (r.end != RunEnd::kComplete) merged.end = r.end;
  // The merged run starts with the earliest input (files without a clock have t0 0).
  if (r.t0_epoch_s > 0 && (merged.t0_epoch_s == 0 || r.t0_epoch_s < merged.t0_epoch_s)) {
    merged.t0_epoch_s = r.t0_epoch_s;
    merged.start_time = r.start_time;
  }
  if (options.concurrent) {
    // One experiment split over generators: the load adds up, the windows overlap.
    merged.settings.connections += r.settings.connections;
    if (!shares) merged.settings.rate += r.settings.rate;
    merged.settings.threads += r.settings.threads;
    merged.mean_in_system += r.mean_in_system;
    merged.window_s = std::max(merged.window_s, r.window_s);
    merged.reply_span_s = std::max(merged.reply_span_s, r.reply_span_s);
  } else {
    // Repetitions: pooled over the total window (time-weighted means).
    const double w = merged.window_s + r.window_s;
    if (w > 0) {
      merged.mean_in_system =
          (merged.mean_in_system * merged.window_s + r.mean_in_system * r.window_s) / w;
    }
    merged.window_s = w;
    merged.reply_span_s += r.reply_span_s;
  }
}

// The merged run's spread, for repetitions: per-run throughput mean and interval, p99 range.
void add_spread(json& merge, const std::vector<json>& runs) {
  std::vector<double> throughputs;
  std::vector<std::int64_t> p99s;
  for (const json& run : runs) {
    throughputs.push_back(run.at("throughput_rps").get<double>());
    p99s.push_back(run.at("latency_us").at("p99").get<std::int64_t>());
  }
  const MeanInterval throughput = mean_ci95(throughputs);
  merge["throughput_mean_rps"] = throughput.mean;
  merge["throughput_ci95_rps"] = json::array({throughput.low, throughput.high});
  merge["p99_spread_us"] = json::array(
      {*std::min_element(p99s.begin(), p99s.end()), *std::max_element(p99s.begin(), p99s.end())});
}

// One entry of "merge.runs".
json run_entry(const json& run, const std::string& name) {
  json ids = json::array();
  for (const std::string& id : run_identities(run)) {
    if (id.starts_with(kRunIdPrefix)) ids.push_back(id.substr(kRunIdPrefix.size()));
  }
  return {{"name", name},
          {"run_ids", std::move(ids)},
          {"throughput_rps", run.at("throughput_rps")},
          {"p99_us", run.at("latency_us").at("p99")},
          {"valid", run.at("valid")}};
}

// The sum of the inputs, finalized (its own checks; the inputs' come on top).
RunResult add_up(const std::vector<json>& runs, const std::vector<std::string>& names,
                 const MergeOptions& options, bool shares) {
  RunResult merged = read_input(runs[0], merge_input_name(names, 0));
  for (std::size_t i = 1; i < runs.size(); ++i)
    add_run(merged, read_input(runs[i], merge_input_name(names, i)), options, shares);
  merged.run_id = new_run_id();  // a new document; the inputs' ids are in merge.runs
  merged.settings.threads = std::max(merged.settings.threads, 1);
  merged.settings.segment = {};  // the whole load (segments_missing says if it is not)
  merged.first_half = {};
  merged.second_half = {};
  merged.start_skew_s.reset();  // each agent's is in merge.agents
  merged.t0_monotonic_s = 0;    // the agents' monotonic clocks are not comparable
  // Concurrent runs line up on the wall clock; repetitions do not overlap at all.
  merged.intervals =
      options.concurrent ? merged_interval_series(runs) : std::vector<IntervalStats>{};
  merged.finalize();
  return merged;
}

}  // namespace

json merge_runs(const std::vector<json>& runs, const std::vector<std::string>& names,
                const MergeOptions& options) {
  if (runs.empty()) throw MergeError("nothing to merge");
  check_schemas(runs, names);
  if (const std::string repeated = repeated_run(runs, names); !repeated.empty()) {
    throw MergeError("cannot merge: " + repeated + "; a run given twice would count twice");
  }
  const SegmentLayout layout = segment_layout(runs, names, options.force);
  const bool shares = layout.count > 1;
  MergeOptions effective = options;
  // Shares ran together, even shares of different layouts forced into one merge.
  effective.concurrent = options.concurrent || shares || !layout.forced.empty();
  std::vector<std::string> forced = check_same_experiment(runs, names, effective, shares);
  if (!layout.forced.empty()) forced.insert(forced.begin(), layout.forced);

  json doc = to_json(add_up(runs, names, effective, shares));
  json from = json::array();
  json entries = json::array();
  for (std::size_t i = 0; i < runs.size(); ++i) {
    from.push_back(merge_input_name(names, i));
    entries.push_back(run_entry(runs[i], merge_input_name(names, i)));
  }
  doc["merged_from"] = std::move(from);
  doc["merge"] = {
      {"kind", shares ? "segments" : (effective.concurrent ? "concurrent" : "repeated")},
      {"runs", std::move(entries)},
      {"forced_differences", forced}};
  if (!effective.concurrent && runs.size() >= 2) add_spread(doc["merge"], runs);
  // The merged run is only as valid as its inputs: a check the sum cannot redo (the halves of
  // each window) or one an input failed stays failed.
  std::vector<std::string> reasons = invalid_input_reasons(runs, names);
  if (effective.concurrent) {
    AgentReport report = agent_report(runs, names, layout);
    doc["merge"]["agents"] = std::move(report.agents);
    doc["merge"]["heterogeneity"] = std::move(report.heterogeneity);
    reasons.insert(reasons.end(), report.reasons.begin(), report.reasons.end());
  }
  if (!forced.empty()) reasons.emplace_back("merged_different_settings");
  for (const std::string& reason : reasons)
    doc["reasons"].push_back(reason);
  doc["valid"] = doc["reasons"].empty();
  return doc;
}

}  // namespace poolbench
