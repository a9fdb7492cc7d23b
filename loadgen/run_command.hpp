// `loadgen run`: its flags, its --help (a man page with EXIT STATUS), and its front end: the
// status line, the --admin sampler, the --fail-on thresholds, the output files and the summary.
#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "settings.hpp"
#include "slo.hpp"

namespace poolbench::cli {

struct RunCommand {
  CLI::App* app = nullptr;
  LoadSettings settings;
  std::string json_path;
  std::string hgrm_path;
  std::string hlog_path;
  std::string admin;  // the server's admin endpoint, sampled each interval
  std::string fail_on;
  std::vector<Threshold> thresholds;  // --fail-on, parsed
  bool quiet = false;
};

void add_run_command(CLI::App& parent, RunCommand& run);
// After parsing: the load settings, argv, writable outputs, --fail-on parsed. Throws
// CLI::ValidationError.
void finish_run_command(RunCommand& run, const std::vector<std::string>& argv);
// Runs the load; returns the exit code its --help documents.
int run_command(RunCommand& run);

}  // namespace poolbench::cli
