#include "merge_command.hpp"

#include <fstream>
#include <iostream>

#include <nlohmann/json.hpp>

#include "command_support.hpp"
#include "result.hpp"
#include "result_merge.hpp"
#include "result_summary.hpp"

namespace poolbench::cli {

using json = nlohmann::json;

void add_merge_command(CLI::App& parent, MergeCommand& merge) {
  merge.app = parent.add_subcommand("merge", "Merge run results (histograms, not percentiles)");
  merge.app->description(
      "Merges run results of one experiment. Histograms are merged and every percentile is\n"
      "recomputed from the merged histogram (percentiles are never averaged); counts add.\n"
      "By default the inputs are repetitions: throughput is pooled over their windows, with\n"
      "a 95% t interval of the per-run throughputs and the spread of their p99. With\n"
      "--concurrent they ran at the same time against one server: throughputs add.\n\n"
      "The shares of one load (loadgen run --segment i/N) are recognised and merged as\n"
      "concurrent: their layout (N), rate, seed, warm-up and --start-at must agree (unless\n"
      "--force), a share given twice is refused even then, and a missing one makes the\n"
      "result invalid (segments_missing). For\n"
      "concurrent inputs, merge.agents keeps each agent's host, share, start and figures;\n"
      "merge.heterogeneity gives max/min of their p99 and throughput, the spread of their\n"
      "starts and how much their windows overlapped. The merged run is invalid when the\n"
      "agents disagree (p99s more than 2x and 1 ms apart; shares' throughputs more than 10%\n"
      "apart: agents_disagree) or their windows overlap for less than 90% of the shortest\n"
      "(agents_not_overlapping). The per-interval series are merged on the agents' common\n"
      "wall-clock timeline (clock.t0_epoch_s).\n\n"
      "The merged run is valid only if every input is: an invalid input adds the reason\n"
      "input_invalid:FILE:REASON. A run given twice (the same run_id, or for files written\n"
      "before run ids the same content) is refused: it would count twice. Inputs whose\n"
      "settings differ (target, window, protocol and framing, depth, timeout, think time,\n"
      "closed or open loop, arrival model; for repetitions also connections and rate) are\n"
      "refused, naming the setting and both values, unless --force; a forced merge lists the\n"
      "differences in merge.forced_differences and is invalid (merged_different_settings).\n"
      "Files with another schema are refused.");
  merge.app->add_option("files", merge.inputs, "Run result files (schema poolbench.run/1)")
      ->required()
      ->check(CLI::ExistingFile)
      ->type_name("FILE");
  merge.app->add_option("--json", merge.json_path, "Write the merged result here")
      ->type_name("FILE");
  merge.app->add_flag("--concurrent", merge.concurrent,
                      "The inputs ran at the same time (loads add up)");
  merge.app->add_flag("--force", merge.force,
                      "Merge inputs whose settings differ (the result records them and is "
                      "invalid)");
  merge.app->footer(
      "EXIT STATUS\n  0  merged\n  1  the output could not be written\n"
      "  2  bad flags, unreadable input, different schemas, a run or share given twice,\n"
      "     different --segment layouts, or settings that differ (without --force)");
}

int merge_command(MergeCommand& merge) {
  std::vector<json> runs;
  for (const std::string& path : merge.inputs) {
    std::ifstream in(path);
    try {
      runs.push_back(json::parse(in));
    } catch (const json::exception& e) {
      std::cerr << "loadgen merge: " << path << " is not JSON: " << e.what() << "\n";
      return kExitUsage;
    }
  }
  json merged;
  try {
    merged = merge_runs(runs, merge.inputs, {.concurrent = merge.concurrent, .force = merge.force});
  } catch (const MergeError& e) {
    std::cerr << "loadgen merge: " << e.what() << "\n";
    return kExitUsage;
  }
  try {
    if (!merge.json_path.empty()) write_json_atomically(merge.json_path, merged);
  } catch (const std::exception& e) {
    std::cerr << "loadgen merge: " << e.what() << "\n";
    return 1;
  }
  print_summary(std::cout, merged);
  return 0;
}

}  // namespace poolbench::cli
