// `loadgen search`: its flags, its --help and its front end (a progress line per trial, the
// verdict at the end) around run_search (search.hpp). The SLO and search flags are shared with
// `loadgen sweep --search`.
#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "search.hpp"

namespace poolbench::cli {

// The text flags of a search, parsed after CLI11 by finish_search_options.
struct SearchOptions {
  SearchSettings settings;
  std::string slo;
  std::string max_errors = "0.1%";
};

// Registers --slo (required when `required`), --precision, --trials, --max-trials,
// --max-errors, --start-rate, --min-rate, --max-rate, --max-probes, --min-samples.
void add_search_options(CLI::App& app, SearchOptions& options, bool required);
// Parses --slo and --max-errors and validates; throws CLI::ValidationError.
void finish_search_options(SearchOptions& options);

// Progress on stderr: one line per trial (its rate, its verdict, the interval so far).
SearchHooks search_progress_hooks(bool quiet, const char* prefix);

struct SearchCommand {
  CLI::App* app = nullptr;
  LoadSettings load;
  SearchOptions search;
  std::string json_path;
  bool quiet = false;
};

void add_search_command(CLI::App& parent, SearchCommand& command);
void finish_search_command(SearchCommand& command, const std::vector<std::string>& argv);
int search_command(SearchCommand& command);

}  // namespace poolbench::cli
