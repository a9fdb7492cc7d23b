#include "recommend_command.hpp"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include <nlohmann/json.hpp>

#include "command_support.hpp"
#include "recommendation.hpp"
#include "result.hpp"

namespace poolbench::cli {
namespace {

using json = nlohmann::json;

constexpr int kExitNoRecommendation = 3;

std::string number_text(const json& value, const char* format) {
  if (!value.is_number()) return "-";
  char text[48];
  std::snprintf(text, sizeof text, format, value.get<double>());
  return text;
}

// One line per mode, then each mode's reason and cross-checks.
void print_verdicts(const json& document) {
  std::printf("%-16s %7s %21s %9s %12s %10s %7s %9s\n", "mode", "pool", "capacity req/s",
              "headroom", "next larger", "little N", "knee", "usl peak");
  for (const auto& [mode, verdict] : document["modes"].items()) {
    const json& next = verdict["next_larger"];
    const std::string next_text = next.is_object()
                                      ? std::to_string(next["pool"].get<int>()) +
                                            (next["passes"].get<bool>() ? " passes" : " fails")
                                      : "-";
    const json& little = verdict["littles_law"];
    const json& knee = verdict["cpu_knee"];
    const json& usl = verdict["usl"];
    std::printf(
        "%-16s %7s %21s %9s %12s %10s %7s %9s\n", mode.c_str(),
        number_text(verdict["recommended_pool"], "%.0f").c_str(),
        (number_text(verdict["capacity_low_rps"], "%.1f") + " - " +
         number_text(verdict["capacity_high_rps"], "%.1f"))
            .c_str(),
        number_text(verdict["headroom"].is_number() ? json(100 * verdict["headroom"].get<double>())
                                                    : json(),
                    "%+.1f%%")
            .c_str(),
        next_text.c_str(),
        number_text(little.is_object() ? little["concurrency"] : json(), "%.1f").c_str(),
        number_text(knee.is_object() ? knee["predicted_pool"] : json(), "%.1f").c_str(),
        number_text(usl.value("peak_pool", json()), "%.1f").c_str());
  }
  for (const auto& [mode, verdict] : document["modes"].items()) {
    std::printf("%s: %s\n", mode.c_str(), verdict["reason"].get<std::string>().c_str());
  }
  std::printf("%s\n", document["summary"].get<std::string>().c_str());
}

// DIR/sweep.json, or nullopt after saying on stderr what is wrong and what to do.
std::optional<json> read_sweep(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) {
    std::cerr << "loadgen recommend: cannot read " << path.string()
              << ": give the --out directory of a 'loadgen sweep --search' run\n";
    return std::nullopt;
  }
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    std::cerr << "loadgen recommend: " << path.string() << " is not JSON: " << e.what() << "\n";
    return std::nullopt;
  }
}

bool any_recommended(const json& document) {
  for (const auto& [mode, verdict] : document["modes"].items()) {
    if (verdict["verdict"] == "recommended") return true;
  }
  return false;
}

}  // namespace

void add_recommend_command(CLI::App& parent, RecommendCommand& recommend) {
  recommend.app = parent.add_subcommand(
      "recommend", "Recommend a pool size per mode from a sweep run with --search");
  recommend.app->description(
      "Recommends a pool size per mode from a sweep run with --search.\n\n"
      "Reads DIR/sweep.json, whose points carry SLO capacities (the highest rate each pool\n"
      "holds within the SLO). A pool passes when its point ran, its run is valid, its search\n"
      "found a capacity (or the maximum rate met the SLO) and the capacity's lower bound is at\n"
      "least --rate (without --rate: at least 95% of the mode's best). The recommendation is\n"
      "the smallest passing pool whose next larger pool also passes, so that a pool just\n"
      "before a contention peak is not chosen by accident. Inline runs the work on the\n"
      "reactor: its pool size does not matter, and only its capacity is judged. When the data\n"
      "cannot support a choice (a plain sweep without --search, invalid runs, fewer than 2\n"
      "usable pool sizes, no pool passing) the mode gets no recommendation and the reason;\n"
      "nothing is guessed.\n\n"
      "Beside each verdict, as cross-checks: Little's law (the requests in flight the rate\n"
      "needs, rate x S), the CPU model's knee P* = K x S_w / c, and a Universal Scalability\n"
      "Law fit of throughput against pool size (its peak). Writes the document\n"
      "(poolbench.recommendation/1, results/README.md) to DIR/recommendation.json and prints\n"
      "a table per mode.");
  recommend.app->add_option("dir", recommend.dir, "The sweep's output directory")
      ->required()
      ->type_name("DIR");
  recommend.app
      ->add_option("--rate", recommend.rate,
                   "The target rate the pool must hold within the SLO (req/s, > 0)")
      ->check(CLI::PositiveNumber)
      ->type_name("R");
  recommend.app
      ->add_option("--json", recommend.json_path,
                   "Write the recommendation here instead of DIR/recommendation.json")
      ->type_name("FILE");
  recommend.app->add_flag("--quiet,-q", recommend.quiet, "No table on stdout");
  recommend.app->footer(
      "EXIT STATUS\n"
      "  0  a pool size is recommended for at least one mode\n"
      "  1  the recommendation could not be written\n"
      "  2  bad flags, or DIR/sweep.json missing, unreadable or not a poolbench.sweep/2 file\n"
      "  3  no mode could be recommended: the data cannot support it (see each reason)\n\n"
      "EXAMPLES\n"
      "  loadgen recommend results/search --rate 600\n"
      "  loadgen recommend results/search --json /tmp/recommendation.json --quiet");
}

int recommend_command(RecommendCommand& recommend) {
  const std::filesystem::path dir = recommend.dir;
  const auto sweep = read_sweep(dir / "sweep.json");
  if (!sweep) return kExitUsage;
  json document;
  try {
    document = poolbench::recommend(*sweep, recommend.rate);
  } catch (const std::exception& e) {  // not a sweep/2 document, or a mistyped field
    std::cerr << "loadgen recommend: " << (dir / "sweep.json").string() << ": " << e.what() << "\n";
    return kExitUsage;
  }
  const std::filesystem::path out = recommend.json_path.empty()
                                        ? dir / "recommendation.json"
                                        : std::filesystem::path(recommend.json_path);
  try {
    write_json_atomically(out, document);
  } catch (const std::exception& e) {
    std::cerr << "loadgen recommend: " << e.what() << "\n";
    return 1;
  }
  if (!recommend.quiet) {
    print_verdicts(document);
    std::printf("recommendation: %s\n", out.string().c_str());
  }
  return any_recommended(document) ? 0 : kExitNoRecommendation;
}

}  // namespace poolbench::cli
