// `loadgen sweep`: its flags, its --help, and its front end (progress lines, the table and the
// knee at the end) around run_sweep (sweep.hpp).
#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "search_command.hpp"
#include "sweep.hpp"

namespace poolbench::cli {

struct SweepCommand {
  CLI::App* app = nullptr;
  SweepSettings settings;
  std::string out = "results/sweep";
  std::string start_timeout = "10s";
  std::string stop_grace = "5s";
  bool quiet = false;
  bool no_calibrate = false;
  std::string server_cpus;
  std::string generator_cpus;
  bool search = false;
  SearchOptions search_options;
  std::string cool_down = "1s";
  std::vector<std::string> measure_pids;  // NAME=PID
  std::vector<std::string> attach;        // NAME=FILE
};

void add_sweep_command(CLI::App& parent, SweepCommand& sweep);
// After parsing: the load settings, argv and the durations. Throws CLI::ValidationError.
void finish_sweep_command(SweepCommand& sweep, const std::vector<std::string>& argv);
// Runs the sweep; returns the exit code its --help documents.
int sweep_command(SweepCommand& sweep);

}  // namespace poolbench::cli
