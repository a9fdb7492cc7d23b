// A run's outputs: the run document (JSON, schema "poolbench.run/1", documented field by field
// in results/README.md) written from a RunResult and read back, the .hlog interval log, and the
// atomic file writes that put them on disk.
//
// Use: nlohmann::json doc = to_json(result); write_json_atomically(path, doc). The statistics of
// one histogram are in result_statistics.hpp, the human summary in result_summary.hpp and
// `loadgen merge` in result_merge.hpp.
//
// The document's reader stays here with its writer, rather than with the merge (its only user),
// so that a field is added, renamed or removed in one file.
#pragma once

#include <filesystem>
#include <ostream>
#include <string>

#include <nlohmann/json.hpp>

#include "histogram.hpp"
#include "run_result.hpp"

namespace poolbench {

inline constexpr const char* kRunSchema = "poolbench.run/1";

// The whole run document; a sweep point adds "server" and "model_prediction" to it.
nlohmann::json to_json(const RunResult& result);

// Reads back what to_json() wrote, the parts a merge needs: settings, host, counts, histograms,
// windows and generator figures (not the intervals, the halves or what finalize() derives).
// Throws nlohmann::json's exceptions for a missing or mistyped field.
RunResult run_result_from_json(const nlohmann::json& doc);

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

}  // namespace poolbench
