#include "merge_checks.hpp"

#include <cstddef>
#include <map>

namespace poolbench {
namespace {

using json = nlohmann::json;

std::string model_of(const json& config) {
  return config.at("rate").get<double>() > 0 ? "\"open\"" : "\"closed\"";
}

}  // namespace

std::string merge_input_name(const std::vector<std::string>& names, std::size_t i) {
  return i < names.size() ? names[i] : "input " + std::to_string(i + 1);
}

std::vector<std::string> run_identities(const json& doc) {
  std::vector<std::string> ids;
  if (doc.contains("merge") && doc["merge"].contains("runs")) {
    for (const json& run : doc["merge"]["runs"]) {
      for (const json& id : run.value("run_ids", json::array()))
        ids.push_back(std::string(kRunIdPrefix) + id.get<std::string>());
    }
    if (!ids.empty()) return ids;
  }
  const std::string id = doc.value("run_id", "");
  if (!id.empty()) return {std::string(kRunIdPrefix) + id};
  // Written before run ids: the same file (or a copy, however formatted) is the same content.
  return {"content:" + doc.dump()};
}

std::string repeated_run(const std::vector<json>& runs, const std::vector<std::string>& names) {
  std::map<std::string, std::size_t> seen;  // identity -> the input that holds it
  for (std::size_t i = 0; i < runs.size(); ++i) {
    for (const std::string& id : run_identities(runs[i])) {
      const auto [at, inserted] = seen.emplace(id, i);
      if (inserted || at->second == i) continue;
      const bool by_content = id.rfind("content:", 0) == 0;
      return merge_input_name(names, i) + " holds the same run as " +
             merge_input_name(names, at->second) + " (" +
             (by_content ? std::string("identical content") : id) + ")";
    }
  }
  return {};
}

std::vector<SettingDifference> setting_differences(const json& reference, const json& config,
                                                   bool concurrent, bool shares) {
  std::vector<SettingDifference> differences;
  auto compare = [&](const std::string& field, const std::string& value,
                     const std::string& reference_value) {
    if (value != reference_value) differences.push_back({field, value, reference_value});
  };
  // Where the load went, how long it was measured, what was said on the wire, and how the load
  // was offered: runs that differ in these are not one experiment.
  for (const char* name :
       {"target", "duration_s", "requests", "depth", "arrival", "think_time_s", "timeout_s",
        "protocol", "payload_size", "request", "expect", "co_correction", "expected_interval_us"}) {
    compare(std::string("config.") + name, config.at(name).dump(), reference.at(name).dump());
  }
  // Repetitions must also offer the same load; concurrent generators split it between them.
  if (!concurrent) {
    for (const char* name : {"connections", "rate"}) {
      compare(std::string("config.") + name, config.at(name).dump(), reference.at(name).dump());
    }
  }
  if (shares) {
    for (const char* name : {"rate", "seed", "warmup_s", "start_at"}) {
      compare(std::string("config.") + name, config.value(name, json()).dump(),
              reference.value(name, json()).dump());
    }
  }
  compare("model", model_of(config), model_of(reference));
  return differences;
}

std::vector<std::string> invalid_input_reasons(const std::vector<json>& runs,
                                               const std::vector<std::string>& names) {
  std::vector<std::string> reasons;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    if (runs[i].value("valid", false)) continue;
    const json none = json::array();
    const json& codes = runs[i].contains("reasons") ? runs[i]["reasons"] : none;
    if (codes.empty()) reasons.push_back("input_invalid:" + merge_input_name(names, i));
    for (const json& code : codes)
      reasons.push_back("input_invalid:" + merge_input_name(names, i) + ":" +
                        code.get<std::string>());
  }
  return reasons;
}

}  // namespace poolbench
