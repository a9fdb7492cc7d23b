#include "run_command.hpp"

#include <iostream>
#include <optional>
#include <sstream>
#include <string>

#include "admin_client.hpp"
#include "cli.hpp"
#include "command_support.hpp"
#include "engine.hpp"
#include "result.hpp"
#include "result_summary.hpp"

namespace poolbench::cli {
namespace {

using json = nlohmann::json;

// The files asked for (--json, --hgrm, --hlog). False (and said on stderr) if one failed.
bool write_run_outputs(const RunCommand& run, const RunResult& result, const json& doc) {
  try {
    if (!run.json_path.empty()) write_json_atomically(run.json_path, doc);
    if (!run.hgrm_path.empty()) {
      std::ostringstream hgrm;
      result.response_time.write_hgrm(hgrm, 1000.0);
      write_text_atomically(run.hgrm_path, hgrm.str());
    }
    if (!run.hlog_path.empty()) {
      std::ostringstream hlog;
      write_hlog(hlog, result);
      write_text_atomically(run.hlog_path, hlog.str());
    }
    return true;
  } catch (const std::exception& e) {
    std::cerr << "loadgen: " << e.what() << "\n";
    return false;
  }
}

// --admin: checked before the load (a bad URL fails now, not after the run). Nothing without it.
void open_sampler(const std::string& admin, std::optional<AdminSampler>& sampler) {
  if (admin.empty()) return;
  const auto url = parse_admin_url(admin);
  fetch_server_stats(url);
  sampler.emplace(url);
  sampler->sample(0, "start");
}

// --fail-on: the outcomes go in the document; the exit code says whether the run met them (99)
// or could not be judged because the measurement is invalid (3). A run that ended early keeps
// its own code.
int judge_thresholds(const std::vector<Threshold>& thresholds, const RunResult& result, json& doc,
                     int code) {
  json judged = thresholds_to_json(evaluate_thresholds(thresholds, result));
  judged["judged"] = result.valid;
  const bool passed = judged["passed"].get<bool>();
  doc["thresholds"] = std::move(judged);
  if (code != 0) return code;
  if (!result.valid) return kExitInvalidMeasurement;
  return passed ? 0 : kExitThresholdFailed;
}

// --json, --hgrm, --hlog, --quiet, --admin, --fail-on.
void add_run_output_options(CLI::App& app, RunCommand& run) {
  const std::string output = "Output";
  app.add_option("--json", run.json_path, "Write the result (schema poolbench.run/1) here")
      ->type_name("FILE")
      ->group(output);
  app.add_option("--hgrm", run.hgrm_path,
                 "Write the response-time percentile distribution (HdrHistogram .hgrm, "
                 "milliseconds) here")
      ->type_name("FILE")
      ->group(output);
  app.add_option("--hlog", run.hlog_path,
                 "Write each interval's response-time histogram here, as an HdrHistogram "
                 "interval log (.hlog, microseconds; warm-up and drain intervals tagged) for "
                 "HistogramLogProcessor, HistogramLogAnalyzer and hdr-plot")
      ->type_name("FILE")
      ->group(output);
  app.add_flag("--quiet,-q", run.quiet, "No live status line on stderr")->group(output);
  app.add_option("--admin", run.admin,
                 "The server's admin endpoint (reference_server --admin-port): GET /stats "
                 "is sampled each --interval and stored as \"server_stats\" (queue depth, "
                 "busy threads, stage percentiles). Unreachable before the load: exit 2. "
                 "Samples that fail mid-run are listed in server_stats.missing and make the "
                 "run invalid (server_stats_incomplete)")
      ->type_name("URL")
      ->group(output);
  app.add_option("--fail-on", run.fail_on,
                 "Thresholds the finished run must meet, comma-separated: pNN<=DURATION "
                 "(response time), errors<=RATE ((errors + timeouts) / scheduled, e.g. "
                 "0.1%), achieved>=RATIO (achieved / offered rate). Outcomes go in the JSON "
                 "(\"thresholds\") and the summary; see EXIT STATUS")
      ->type_name("LIST")
      ->group(output);
}

}  // namespace

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
  add_load_options(*run.app, run.settings);
  add_share_options(*run.app, run.settings);
  add_run_output_options(*run.app, run);
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
      "-c 50 -d 16\n"
      "  # share 1 of 4 of a 20,000 req/s Poisson load, all four starting at one instant:\n"
      "  loadgen run --target 198.18.0.1:9090 -c 64 --rate 20000 --arrival poisson "
      "--segment 1/4 --start-at 2026-12-02T04:30:00Z --json share-1.json");
}

void finish_run_command(RunCommand& run, const std::vector<std::string>& argv) {
  finish_load_settings(*run.app, run.settings, argv);
  check_writable(run.json_path, "--json");
  check_writable(run.hgrm_path, "--hgrm");
  check_writable(run.hlog_path, "--hlog");
  if (run.fail_on.empty()) return;
  try {
    run.thresholds = parse_thresholds(run.fail_on);
  } catch (const std::invalid_argument& e) {
    throw CLI::ValidationError("--fail-on", e.what());
  }
}

int run_command(RunCommand& run) {
  install_stop_handlers();
  StatusLine status(run.quiet);
  std::optional<AdminSampler> sampler;
  try {
    open_sampler(run.admin, sampler);
  } catch (const std::exception& e) {
    std::cerr << "loadgen: --admin " << run.admin << ": " << e.what() << "\n";
    return kExitUsage;
  }
  RunHooks hooks;
  hooks.stop = stop_flag();
  hooks.on_interval = [&status, &sampler](const IntervalStats& s) {
    status.show(s);
    if (sampler) sampler->on_interval(s);
  };

  RunResult result;
  try {
    result = run_load(run.settings, hooks);
  } catch (const ConnectError& e) {
    status.finish();
    std::cerr << "loadgen: " << e.what() << "\n";
    return kExitUsage;
  } catch (const std::invalid_argument& e) {
    status.finish();
    std::cerr << "loadgen: " << e.what() << "\n";
    return kExitUsage;
  }
  status.finish();

  json server_stats;
  if (sampler) {
    server_stats = sampler->finish(result);
    if (AdminSampler::incomplete(server_stats)) result.add_reason("server_stats_incomplete");
  }
  json doc = to_json(result);
  if (sampler) doc["server_stats"] = std::move(server_stats);
  int code = exit_code_for(result);
  if (!run.thresholds.empty()) code = judge_thresholds(run.thresholds, result, doc, code);
  if (result.end == RunEnd::kInterrupted) code = stopped_exit_code();
  if (result.end == RunEnd::kConnectionsLost) {
    std::cerr << "loadgen: " << connections_lost_cause(result) << "; the result is partial\n";
  }
  if (!write_run_outputs(run, result, doc) && code == 0) code = 1;
  print_summary(std::cout, doc);
  return code;
}

}  // namespace poolbench::cli
