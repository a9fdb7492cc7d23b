// `loadgen merge`: the rules that decide whether run documents may be merged, apart from the
// arithmetic of merging them (result_merge.hpp).
//
//   - Each run counts once: a run is known by its "run_id" (a merged document by the ids of the
//     runs it holds); a document without one (written before run ids) by its whole content.
//   - The runs are one experiment: the settings that make a merge meaningful agree (target,
//     window, protocol and framing, load model, arrival model, ...), else the first difference
//     is named with both values. --force accepts the differences and records them.
//   - An invalid input makes the merged run invalid, naming the input and its reasons.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace poolbench {

// How messages and reasons name input `i`: its file name, else "input <i + 1>".
std::string merge_input_name(const std::vector<std::string>& names, std::size_t i);

// The prefix of an identity that is a run id (the rest is the id).
inline constexpr std::string_view kRunIdPrefix = "run_id:";

// What identifies the runs inside one document: {"run_id:<id>"} for a run, the run ids its
// inputs held for a merged document ("merge.runs[].run_ids"), {"content:<the whole document>"}
// for a document without ids.
std::vector<std::string> run_identities(const nlohmann::json& doc);

// The first input that repeats a run of an earlier one, as "<b> holds the same run as <a>
// (<identity>)"; empty if every run is distinct.
std::string repeated_run(const std::vector<nlohmann::json>& runs,
                         const std::vector<std::string>& names);

// One setting that differs between two inputs.
struct SettingDifference {
  std::string field;            // e.g. "config.target", "model"
  std::string value;            // in the input compared, as JSON text
  std::string reference_value;  // in the first input
};

// Every setting of `config` that differs from `reference` (both "config" objects) among those
// a merge needs equal. Concurrent generators may differ in connections and rate (they split one
// load); repetitions may not. The shares of one --segment layout run one plan: its rate, seed,
// warm-up and start instant must agree (their connections are their own parts).
std::vector<SettingDifference> setting_differences(const nlohmann::json& reference,
                                                   const nlohmann::json& config, bool concurrent,
                                                   bool shares = false);

// "input_invalid:<name>:<reason>" for every reason of every input whose "valid" is false.
std::vector<std::string> invalid_input_reasons(const std::vector<nlohmann::json>& runs,
                                               const std::vector<std::string>& names);

}  // namespace poolbench
