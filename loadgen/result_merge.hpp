// `loadgen merge`: run documents of one experiment combined into one run document, with the
// inputs listed and, for repetitions, the spread of their throughput and p99.
//
// Use: merge_runs(docs, file_names, {.concurrent = false}); catch MergeError to report which
// input was refused and why.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace poolbench {

// `loadgen merge`: a refusal says which file and which field.
class MergeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct MergeOptions {
  // false: the inputs are repetitions of one experiment (throughput is their mean, with a 95%
  // t interval); true: they ran at the same time against one server (throughputs add).
  bool concurrent = false;
  // Merge inputs whose settings differ (merge_checks.hpp); the differences are recorded in
  // "merge.forced_differences" and make the result invalid ("merged_different_settings").
  bool force = false;
};

// Merges run documents: histograms are merged and every percentile recomputed from the merged
// histogram (percentiles are never averaged); counts add. `names` label the inputs in messages
// and in "merged_from". Throws MergeError for different schemas, a run given twice, or (without
// `force`) incompatible settings. An invalid input makes the result invalid, naming it.
nlohmann::json merge_runs(const std::vector<nlohmann::json>& runs,
                          const std::vector<std::string>& names, const MergeOptions& options);

}  // namespace poolbench
