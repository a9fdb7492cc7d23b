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
#include <sstream>

#include <CLI/CLI.hpp>

#include "cli.hpp"
#include "engine.hpp"
#include "result.hpp"

namespace {

using poolbench::LoadSettings;
using json = nlohmann::json;

constexpr int kExitUsage = 2;

// The one piece of global state: a signal handler can only reach globals. Lock-free atomics
// are async-signal-safe.
std::atomic<bool> g_stop{false};
std::atomic<int> g_signal{0};

void on_stop_signal(int signal_number) {
  g_signal.store(signal_number);
  g_stop.store(true);
}

void install_stop_handlers() {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  signal(SIGPIPE, SIG_IGN);  // a dead server is an error code on the socket, not a signal
}

// Fails early (before any load) when an output file could not be written at the end.
void check_writable(const std::string& path, const char* flag) {
  if (path.empty()) return;
  const std::filesystem::path p(path);
  const std::filesystem::path dir = p.has_parent_path() ? p.parent_path() : ".";
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    throw CLI::ValidationError(flag, "cannot write " + path + ": directory " + dir.string() +
                                         " is not writable (" + std::strerror(errno) + ")");
  }
}

std::string format_ms(std::int64_t us) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3f ms", static_cast<double>(us) / 1000.0);
  return text;
}

// --- run -------------------------------------------------------------------------------------

struct RunCommand {
  CLI::App* app = nullptr;
  LoadSettings settings;
  std::string json_path;
  std::string hgrm_path;
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
  run.app->add_flag("--quiet,-q", run.quiet, "No live status line on stderr")->group(output);
  run.app->footer(
      "EXIT STATUS\n"
      "  0    the run completed (see \"valid\" and \"reasons\" in the summary/JSON)\n"
      "  1    the server went away mid-run (the partial result is still written)\n"
      "  2    bad flags, or nothing reachable at --target within --connect-timeout\n"
      "  130  interrupted by SIGINT (what was measured is written)\n\n"
      "EXAMPLES\n"
      "  loadgen run --target 127.0.0.1:9090 -c 16 -d 1 --duration 10s --json run.json\n"
      "  loadgen run --target 127.0.0.1:9090 --rate 1000 --arrival poisson --hgrm run.hgrm\n"
      "  loadgen run --target 127.0.0.1:6379 --protocol raw --request PING --expect +PONG "
      "-c 50 -d 16");
}

class StatusLine {
 public:
  explicit StatusLine(bool quiet) : quiet_(quiet), tty_(::isatty(STDERR_FILENO) == 1) {}
  ~StatusLine() { finish(); }

  void show(const poolbench::IntervalStats& s) {
    if (quiet_) return;
    char line[200];
    std::snprintf(line, sizeof line,
                  "[%7.1fs %-7s] %10.1f req/s  p50 %s  p99 %s  max %s  errors %llu  "
                  "timeouts %llu",
                  s.start_s + s.length_s, std::string(to_string(s.phase)).c_str(), s.throughput_rps,
                  format_ms(s.p50_us).c_str(), format_ms(s.p99_us).c_str(),
                  format_ms(s.max_us).c_str(), static_cast<unsigned long long>(s.errors),
                  static_cast<unsigned long long>(s.timeouts));
    // A terminal gets the line redrawn in place; a log or pipe gets one line per interval.
    std::fprintf(stderr, tty_ ? "\r\033[K%s" : "%s\n", line);
    std::fflush(stderr);
    drawn_ = true;
  }

  void finish() {
    if (drawn_ && tty_) std::fputc('\n', stderr);
    drawn_ = false;
  }

 private:
  bool quiet_;
  bool tty_;
  bool drawn_ = false;
};

int run_command(RunCommand& run) {
  install_stop_handlers();
  StatusLine status(run.quiet);
  poolbench::RunHooks hooks;
  hooks.stop = &g_stop;
  hooks.on_interval = [&status](const poolbench::IntervalStats& s) { status.show(s); };

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

  const json doc = poolbench::to_json(result);
  int code = poolbench::exit_code_for(result);
  if (result.end == poolbench::RunEnd::kInterrupted && g_signal.load() != 0) {
    code = 128 + g_signal.load();
  }
  if (result.end == poolbench::RunEnd::kConnectionsLost) {
    std::cerr << "loadgen: the server closed every connection; the result is partial\n";
  }
  try {
    if (!run.json_path.empty()) poolbench::write_json_atomically(run.json_path, doc);
    if (!run.hgrm_path.empty()) {
      std::ostringstream hgrm;
      result.response_time.write_hgrm(hgrm, 1000.0);
      poolbench::write_text_atomically(run.hgrm_path, hgrm.str());
    }
  } catch (const std::exception& e) {
    std::cerr << "loadgen: " << e.what() << "\n";
    if (code == 0) code = 1;
  }
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
      "and tail latency the way ../shared/METHODOLOGY.md says they must be measured.",
      "loadgen");
  app.require_subcommand(1);
  app.footer("Run 'loadgen SUBCOMMAND --help' for a subcommand's flags.");
  RunCommand run;
  add_run_command(app, run);
  MergeCommand merge;
  add_merge_command(app, merge);

  const std::vector<std::string> args(argv, argv + argc);
  try {
    app.parse(argc, argv);
    if (run.app->parsed()) {
      poolbench::finish_load_settings(*run.app, run.settings, args);
      check_writable(run.json_path, "--json");
      check_writable(run.hgrm_path, "--hgrm");
    }
    if (merge.app->parsed()) check_writable(merge.json_path, "--json");
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : kExitUsage;
  }
  if (run.app->parsed()) return run_command(run);
  if (merge.app->parsed()) return merge_command(merge);
  return kExitUsage;
}
