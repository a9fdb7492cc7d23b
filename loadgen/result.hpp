// Run results as JSON (schema "poolbench.run/1", documented field by field in
// results/README.md), atomic file writes, the human summary, and `loadgen merge`.
#pragma once

#include <filesystem>
#include <ostream>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "histogram.hpp"
#include "run_result.hpp"

namespace poolbench {

inline constexpr const char* kRunSchema = "poolbench.run/1";

// {count, min, mean, stdev, p50, p75, p90, p99, p99_9, p99_99, max, histogram (V2 base64),
//  ci95: {p50, p90, p99, p99_9, p99_99: [low, high] or "insufficient"}}, values in the
// histogram's unit (microseconds here). An empty histogram gives zeros.
nlohmann::json histogram_summary(const Histogram& histogram);

// A 95% distribution-free confidence interval for a percentile from binomial order statistics
// (normal approximation to the ranks); nullopt-like `insufficient` when the sample is too small
// to put any sample beyond the percentile (n < log(0.05)/log(p), e.g. p99: n < 299).
struct PercentileInterval {
  bool sufficient = false;
  std::int64_t low = 0;
  std::int64_t high = 0;
};
PercentileInterval percentile_ci95(const Histogram& histogram, double percentile);

// The whole run document; a sweep point adds "server" and "model_prediction" to it.
nlohmann::json to_json(const RunResult& result);

// Writes `doc` (pretty-printed, newline-terminated) to a temporary file in the same directory,
// fsyncs it and renames it over `path`: readers see the old file or the new one, never a part.
// Throws std::runtime_error("cannot write <path>: <reason>") and leaves no temporary behind.
void write_json_atomically(const std::filesystem::path& path, const nlohmann::json& doc);
// The same for any text (the .hgrm and .hlog files).
void write_text_atomically(const std::filesystem::path& path, const std::string& text);

// The run's intervals as an HdrHistogram interval log (.hlog, format 1.3, values in
// microseconds), one line per interval from the load's start, tagged by its phase at its start:
// the measured ones untagged, so HdrHistogram's log tools take the window by default; warm-up
// and drain ones tagged "warmup" and "drain".
void write_hlog(std::ostream& out, const RunResult& result);

// The human summary table of a run document (also used for merged documents).
void print_summary(std::ostream& out, const nlohmann::json& run);

// `loadgen merge`: a refusal says which file and which field.
class MergeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct MergeOptions {
  // false: the inputs are repetitions of one experiment (throughput is their mean, with a 95%
  // t interval); true: they ran at the same time against one server (throughputs add).
  bool concurrent = false;
};

// Merges run documents: histograms are merged and every percentile recomputed from the merged
// histogram (percentiles are never averaged); counts add. `names` label the inputs in messages
// and in "merged_from". Throws MergeError for different schemas or incompatible settings.
nlohmann::json merge_runs(const std::vector<nlohmann::json>& runs,
                          const std::vector<std::string>& names, const MergeOptions& options);

}  // namespace poolbench
