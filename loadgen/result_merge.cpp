// `loadgen merge`: the checks that the inputs are one experiment, and their combination
// through their histograms (percentiles are recomputed, never averaged).
#include "result_merge.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>
#include <utility>

#include "result.hpp"
#include "result_statistics.hpp"
#include "run_result.hpp"

namespace poolbench {
namespace {

using json = nlohmann::json;

// How messages name input `i`.
std::string input_name(const std::vector<std::string>& names, std::size_t i) {
  return i < names.size() ? names[i] : "input " + std::to_string(i + 1);
}

// Settings that must agree for two runs to be one experiment: name, then value as text.
std::vector<std::pair<std::string, std::string>> experiment_keys(const json& config,
                                                                 bool concurrent) {
  std::vector<std::pair<std::string, std::string>> keys;
  for (const char* name :
       {"depth", "arrival", "think_time_s", "timeout_s", "protocol", "payload_size", "request",
        "expect", "co_correction", "expected_interval_us"}) {
    keys.emplace_back(name, config.at(name).dump());
  }
  // Repetitions must also offer the same load; concurrent generators split it between them.
  if (!concurrent) {
    for (const char* name : {"connections", "rate"}) {
      keys.emplace_back(name, config.at(name).dump());
    }
  }
  const bool open = config.at("rate").get<double>() > 0;
  keys.emplace_back("model", open ? "\"open\"" : "\"closed\"");
  return keys;
}

void check_schemas(const std::vector<json>& runs, const std::vector<std::string>& names) {
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const json& schema = runs[i].contains("schema") ? runs[i]["schema"] : json();
    if (schema != kRunSchema) {
      throw MergeError(input_name(names, i) + ": schema is " +
                       (schema.is_null() ? "missing" : schema.dump()) + ", expected \"" +
                       kRunSchema + "\"");
    }
  }
}

// Every input's experiment keys must equal the first input's.
void check_same_experiment(const std::vector<json>& runs, const std::vector<std::string>& names,
                           const MergeOptions& options) {
  const auto reference = experiment_keys(runs[0].at("config"), options.concurrent);
  for (std::size_t i = 1; i < runs.size(); ++i) {
    const auto keys = experiment_keys(runs[i].at("config"), options.concurrent);
    for (std::size_t k = 0; k < keys.size(); ++k) {
      if (keys[k].second != reference[k].second) {
        throw MergeError("cannot merge " + input_name(names, i) + " with " + input_name(names, 0) +
                         ": config." + keys[k].first + " differs (" + keys[k].second + " vs " +
                         reference[k].second + ")" +
                         (options.concurrent ? "" : "; --concurrent allows different loads"));
      }
    }
  }
}

RunResult read_input(const json& run, const std::string& name) {
  try {
    return run_result_from_json(run);
  } catch (const std::exception& e) {
    throw MergeError(name + ": not a complete run document: " + e.what());
  }
}

// Adds run `r` to `merged` (the first input, then the sum of those so far).
void add_run(RunResult& merged, const RunResult& r, const MergeOptions& options) {
  merged.merge(r);
  merged.cpu_s += r.cpu_s;
  merged.in_system_samples += r.in_system_samples;
  if (r.end != RunEnd::kComplete) merged.end = r.end;
  if (options.concurrent) {
    // One experiment split over generators: the load adds up, the windows overlap.
    merged.settings.connections += r.settings.connections;
    merged.settings.rate += r.settings.rate;
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

}  // namespace

json merge_runs(const std::vector<json>& runs, const std::vector<std::string>& names,
                const MergeOptions& options) {
  if (runs.empty()) throw MergeError("nothing to merge");
  check_schemas(runs, names);
  check_same_experiment(runs, names, options);

  RunResult merged;
  json per_run = json::array();
  std::vector<double> throughputs;
  std::vector<std::int64_t> p99s;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    RunResult r = read_input(runs[i], input_name(names, i));
    throughputs.push_back(runs[i].at("throughput_rps").get<double>());
    p99s.push_back(runs[i].at("latency_us").at("p99").get<std::int64_t>());
    per_run.push_back({{"name", input_name(names, i)},
                       {"throughput_rps", throughputs.back()},
                       {"p99_us", p99s.back()},
                       {"valid", runs[i].at("valid")}});
    if (i == 0) {
      merged = std::move(r);
      continue;
    }
    add_run(merged, r, options);
  }
  merged.settings.threads = std::max(merged.settings.threads, 1);
  merged.first_half = {};
  merged.second_half = {};
  merged.intervals.clear();  // per-interval percentiles cannot be combined; see the inputs
  merged.finalize();

  json doc = to_json(merged);
  json from = json::array();
  for (std::size_t i = 0; i < runs.size(); ++i)
    from.push_back(input_name(names, i));
  doc["merged_from"] = std::move(from);
  doc["merge"] = {{"kind", options.concurrent ? "concurrent" : "repeated"}, {"runs", per_run}};
  if (!options.concurrent && throughputs.size() >= 2) {
    const MeanInterval throughput = mean_ci95(throughputs);
    doc["merge"]["throughput_mean_rps"] = throughput.mean;
    doc["merge"]["throughput_ci95_rps"] = json::array({throughput.low, throughput.high});
    doc["merge"]["p99_spread_us"] = json::array(
        {*std::min_element(p99s.begin(), p99s.end()), *std::max_element(p99s.begin(), p99s.end())});
  }
  return doc;
}

}  // namespace poolbench
