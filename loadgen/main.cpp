// loadgen: flags -> settings -> run / merge. Each subcommand is a struct with its flags and a
// function; adding one (sweep) means one `add_..._command` call and one `if` in main.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>

#include <CLI/CLI.hpp>

#include "admin_client.hpp"
#include "cli.hpp"
#include "command_support.hpp"
#include "engine.hpp"
#include "recommend_command.hpp"
#include "reference_server/process_usage.hpp"
#include "result.hpp"
#include "result_merge.hpp"
#include "result_summary.hpp"
#include "search_command.hpp"
#include "slo.hpp"
#include "sweep_command.hpp"

namespace {

using poolbench::LoadSettings;
using json = nlohmann::json;
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

// --- run -------------------------------------------------------------------------------------

struct RunCommand {
  CLI::App* app = nullptr;
  LoadSettings settings;
  std::string json_path;
  std::string hgrm_path;
  std::string hlog_path;
  std::string admin;  // the server's admin endpoint, sampled each interval
  std::string fail_on;
  std::vector<poolbench::Threshold> thresholds;  // --fail-on, parsed
  bool quiet = false;
};

void add_run_command(CLI::App& parent, RunCommand& run) {
  run.app = parent.add_subcommand("run", "Drive one load against a server and measure it");
  run.app->description(
      "Drives one load against a line-protocol server and measures it.\n\n"
      "Closed loop (default): --connections x --depth requests stay in flight; each reply\n"
      "starts the next request (after --think-time). Open loop (--rate): requests are\n"
      "scheduled at intended times (uniform or poisson) whatever the server does, and\n"
      "response time is measured from the intended time, so a stalled server shows in the\n"
      "percentiles (no coordinated omission). Service time (from the actual send) and the\n"
      "schedule lag (actual - intended send) are reported beside it.\n\n"
      "The first --warmup is excluded from every number; requests intended within --duration\n"
      "after it are measured, and waited for up to --timeout after the window.");
  poolbench::add_load_options(*run.app, run.settings);
  const std::string output = "Output";
  run.app->add_option("--json", run.json_path, "Write the result (schema poolbench.run/1) here")
      ->type_name("FILE")
      ->group(output);
  run.app
      ->add_option("--hgrm", run.hgrm_path,
                   "Write the response-time percentile distribution (HdrHistogram .hgrm, "
                   "milliseconds) here")
      ->type_name("FILE")
      ->group(output);
  run.app
      ->add_option("--hlog", run.hlog_path,
                   "Write each interval's response-time histogram here, as an HdrHistogram "
                   "interval log (.hlog, microseconds; warm-up and drain intervals tagged) for "
                   "HistogramLogProcessor, HistogramLogAnalyzer and hdr-plot")
      ->type_name("FILE")
      ->group(output);
  run.app->add_flag("--quiet,-q", run.quiet, "No live status line on stderr")->group(output);
  run.app
      ->add_option("--admin", run.admin,
                   "The server's admin endpoint (reference_server --admin-port): GET /stats "
                   "is sampled each --interval and stored as \"server_stats\" (queue depth, "
                   "busy threads, stage percentiles)")
      ->type_name("URL")
      ->group(output);
  run.app
      ->add_option("--fail-on", run.fail_on,
                   "Thresholds the finished run must meet, comma-separated: pNN<=DURATION "
                   "(response time), errors<=RATE ((errors + timeouts) / scheduled, e.g. "
                   "0.1%), achieved>=RATIO (achieved / offered rate). Outcomes go in the JSON "
                   "(\"thresholds\") and the summary; see EXIT STATUS")
      ->type_name("LIST")
      ->group(output);
  run.app->footer(
      "EXIT STATUS\n"
      "  0    the run completed (see \"valid\" and \"reasons\" in the summary/JSON), and\n"
      "       met every --fail-on threshold\n"
      "  1    the server went away mid-run (the partial result is still written)\n"
      "  2    bad flags, or nothing reachable at --target within --connect-timeout\n"
      "  3    with --fail-on: the measurement itself is invalid (its self-checks failed), so\n"
      "       the thresholds were not judged\n"
      "  99   with --fail-on: a threshold failed (the thresholds say which)\n"
      "  130  interrupted by SIGINT (what was measured is written)\n\n"
      "EXAMPLES\n"
      "  loadgen run --target 127.0.0.1:9090 -c 16 -d 1 --duration 10s --json run.json\n"
      "  loadgen run --target 127.0.0.1:9090 --rate 1000 --arrival poisson --hgrm run.hgrm\n"
      "  loadgen run --target 127.0.0.1:9090 --duration 60s --interval 1s --hlog run.hlog\n"
      "  loadgen run --target 127.0.0.1:9090 --rate 500 --fail-on 'p99<=20ms,errors<=0.1%'\n"
      "  loadgen run --target 127.0.0.1:6379 --protocol raw --request PING --expect +PONG "
      "-c 50 -d 16");
}

// The files asked for (--json, --hgrm, --hlog). False (and said on stderr) if one failed.
bool write_run_outputs(const RunCommand& run, const poolbench::RunResult& result, const json& doc) {
  try {
    if (!run.json_path.empty()) poolbench::write_json_atomically(run.json_path, doc);
    if (!run.hgrm_path.empty()) {
      std::ostringstream hgrm;
      result.response_time.write_hgrm(hgrm, 1000.0);
      poolbench::write_text_atomically(run.hgrm_path, hgrm.str());
    }
    if (!run.hlog_path.empty()) {
      std::ostringstream hlog;
      poolbench::write_hlog(hlog, result);
      poolbench::write_text_atomically(run.hlog_path, hlog.str());
    }
    return true;
  } catch (const std::exception& e) {
    std::cerr << "loadgen: " << e.what() << "\n";
    return false;
  }
}

// --admin: checked before the load (a bad URL fails now, not after the run). Nothing without it.
void open_sampler(const std::string& admin, std::optional<poolbench::AdminSampler>& sampler) {
  if (admin.empty()) return;
  const auto url = poolbench::parse_admin_url(admin);
  poolbench::fetch_server_stats(url);
  sampler.emplace(url);
  sampler->sample(0, "start");
}

// --fail-on: the outcomes go in the document; the exit code says whether the run met them (99)
// or could not be judged because the measurement is invalid (3). A run that ended early keeps
// its own code.
int judge_thresholds(const std::vector<poolbench::Threshold>& thresholds,
                     const poolbench::RunResult& result, json& doc, int code) {
  json judged = poolbench::thresholds_to_json(poolbench::evaluate_thresholds(thresholds, result));
  judged["judged"] = result.valid;
  const bool passed = judged["passed"].get<bool>();
  doc["thresholds"] = std::move(judged);
  if (code != 0) return code;
  if (!result.valid) return kExitInvalidMeasurement;
  return passed ? 0 : kExitThresholdFailed;
}

int run_command(RunCommand& run) {
  install_stop_handlers();
  StatusLine status(run.quiet);
  std::optional<poolbench::AdminSampler> sampler;
  try {
    open_sampler(run.admin, sampler);
  } catch (const std::exception& e) {
    std::cerr << "loadgen: --admin " << run.admin << ": " << e.what() << "\n";
    return kExitUsage;
  }
  poolbench::RunHooks hooks;
  hooks.stop = stop_flag();
  hooks.on_interval = [&status, &sampler](const poolbench::IntervalStats& s) {
    status.show(s);
    if (sampler) sampler->on_interval(s);
  };

  poolbench::RunResult result;
  try {
    result = poolbench::run_load(run.settings, hooks);
  } catch (const poolbench::ConnectError& e) {
    status.finish();
    std::cerr << "loadgen: " << e.what() << "\n";
    return kExitUsage;
  } catch (const std::invalid_argument& e) {
    status.finish();
    std::cerr << "loadgen: " << e.what() << "\n";
    return kExitUsage;
  }
  status.finish();

  json doc = poolbench::to_json(result);
  if (sampler) doc["server_stats"] = sampler->finish(result);
  int code = poolbench::exit_code_for(result);
  if (!run.thresholds.empty()) code = judge_thresholds(run.thresholds, result, doc, code);
  if (result.end == poolbench::RunEnd::kInterrupted) code = stopped_exit_code();
  if (result.end == poolbench::RunEnd::kConnectionsLost) {
    std::cerr << "loadgen: the server closed every connection; the result is partial\n";
  }
  if (!write_run_outputs(run, result, doc) && code == 0) code = 1;
  poolbench::print_summary(std::cout, doc);
  return code;
}

// --- merge -----------------------------------------------------------------------------------

struct MergeCommand {
  CLI::App* app = nullptr;
  std::vector<std::string> inputs;
  std::string json_path;
  bool concurrent = false;
};

void add_merge_command(CLI::App& parent, MergeCommand& merge) {
  merge.app = parent.add_subcommand("merge", "Merge run results (histograms, not percentiles)");
  merge.app->description(
      "Merges run results of one experiment. Histograms are merged and every percentile is\n"
      "recomputed from the merged histogram (percentiles are never averaged); counts add.\n"
      "By default the inputs are repetitions: throughput is pooled over their windows, with\n"
      "a 95% t interval of the per-run throughputs and the spread of their p99. With\n"
      "--concurrent they ran at the same time against one server: throughputs add.\n"
      "Files with another schema or incompatible settings are refused, naming the field.");
  merge.app->add_option("files", merge.inputs, "Run result files (schema poolbench.run/1)")
      ->required()
      ->check(CLI::ExistingFile)
      ->type_name("FILE");
  merge.app->add_option("--json", merge.json_path, "Write the merged result here")
      ->type_name("FILE");
  merge.app->add_flag("--concurrent", merge.concurrent,
                      "The inputs ran at the same time (loads add up)");
  merge.app->footer(
      "EXIT STATUS\n  0  merged\n  1  the output could not be written\n"
      "  2  bad flags, unreadable input, different schemas or incompatible settings");
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
    merged = poolbench::merge_runs(runs, merge.inputs, {merge.concurrent});
  } catch (const poolbench::MergeError& e) {
    std::cerr << "loadgen merge: " << e.what() << "\n";
    return kExitUsage;
  }
  try {
    if (!merge.json_path.empty()) poolbench::write_json_atomically(merge.json_path, merged);
  } catch (const std::exception& e) {
    std::cerr << "loadgen merge: " << e.what() << "\n";
    return 1;
  }
  poolbench::print_summary(std::cout, merged);
  return 0;
}

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
    if (run.app->parsed()) {
      poolbench::finish_load_settings(*run.app, run.settings, args);
      check_writable(run.json_path, "--json");
      check_writable(run.hgrm_path, "--hgrm");
      check_writable(run.hlog_path, "--hlog");
      if (!run.fail_on.empty()) {
        try {
          run.thresholds = poolbench::parse_thresholds(run.fail_on);
        } catch (const std::invalid_argument& e) {
          throw CLI::ValidationError("--fail-on", e.what());
        }
      }
    }
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
