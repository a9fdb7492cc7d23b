// `loadgen merge`: its flags, its --help and its front end around merge_runs (result_merge.hpp).
#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace poolbench::cli {

struct MergeCommand {
  CLI::App* app = nullptr;
  std::vector<std::string> inputs;
  std::string json_path;
  bool concurrent = false;
  bool force = false;
};

void add_merge_command(CLI::App& parent, MergeCommand& merge);
int merge_command(MergeCommand& merge);

}  // namespace poolbench::cli
