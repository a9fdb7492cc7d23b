// `loadgen recommend`: its flags, its --help, and its front end (the verdict table) around
// recommend() (recommendation.hpp).
#pragma once

#include <optional>
#include <string>

#include <CLI/CLI.hpp>

namespace poolbench::cli {

struct RecommendCommand {
  CLI::App* app = nullptr;
  std::string dir;
  std::optional<double> rate;
  std::string json_path;  // default: DIR/recommendation.json
  bool quiet = false;
};

void add_recommend_command(CLI::App& parent, RecommendCommand& recommend);
// Reads DIR/sweep.json, writes the recommendation, prints the table; returns the exit code its
// --help documents.
int recommend_command(RecommendCommand& recommend);

}  // namespace poolbench::cli
