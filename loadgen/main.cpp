// loadgen: one subcommand per *_command.hpp (run, merge, sweep, search, recommend). Each is a
// struct with its flags and three functions (add_..., finish_... after parsing, ..._command);
// adding one means an `add_..._command` call and two `if`s here.
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "command_support.hpp"
#include "merge_command.hpp"
#include "recommend_command.hpp"
#include "run_command.hpp"
#include "search_command.hpp"
#include "sweep_command.hpp"

namespace {

using namespace poolbench::cli;

// Lists each subcommand by the first sentence of its description (the whole description is
// the top of the subcommand's own --help, like a man page's DESCRIPTION).
class ManPageFormatter : public CLI::Formatter {
 public:
  std::string make_subcommand(const CLI::App* sub) const override {
    std::string summary = sub->get_description();
    summary = summary.substr(0, summary.find('\n'));
    const auto sentence_end = summary.find(". ");
    if (sentence_end != std::string::npos) summary = summary.substr(0, sentence_end + 1);
    std::stringstream out;
    CLI::detail::format_help(out, sub->get_display_name(), summary, column_width_);
    return out.str();
  }
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app(
      "loadgen: a load generator for line-protocol servers that measures throughput "
      "and tail latency without coordinated omission (results/README.md says how).",
      "loadgen");
  app.formatter(std::make_shared<ManPageFormatter>());  // before the subcommands: they copy it
  app.require_subcommand(1);
  app.footer("Run 'loadgen SUBCOMMAND --help' for a subcommand's flags.");
  RunCommand run;
  add_run_command(app, run);
  MergeCommand merge;
  add_merge_command(app, merge);
  SweepCommand sweep;
  add_sweep_command(app, sweep);
  SearchCommand search;
  add_search_command(app, search);
  RecommendCommand recommend;
  add_recommend_command(app, recommend);

  const std::vector<std::string> args(argv, argv + argc);
  try {
    app.parse(argc, argv);
    if (run.app->parsed()) finish_run_command(run, args);
    if (merge.app->parsed()) check_writable(merge.json_path, "--json");
    if (sweep.app->parsed()) finish_sweep_command(sweep, args);
    if (search.app->parsed()) finish_search_command(search, args);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : kExitUsage;
  }
  if (run.app->parsed()) return run_command(run);
  if (merge.app->parsed()) return merge_command(merge);
  if (sweep.app->parsed()) return sweep_command(sweep);
  if (search.app->parsed()) return search_command(search);
  if (recommend.app->parsed()) return recommend_command(recommend);
  return kExitUsage;
}
