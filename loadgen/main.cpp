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
#include "engine.hpp"
#include "process_usage.hpp"
#include "result.hpp"
#include "sweep.hpp"

namespace {

using poolbench::LoadSettings;
using json = nlohmann::json;

constexpr int kExitUsage = 2;

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
  std::string hlog_path;
  std::string admin;  // the server's admin endpoint, sampled each interval
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
  run.app->footer(
      "EXIT STATUS\n"
      "  0    the run completed (see \"valid\" and \"reasons\" in the summary/JSON)\n"
      "  1    the server went away mid-run (the partial result is still written)\n"
      "  2    bad flags, or nothing reachable at --target within --connect-timeout\n"
      "  130  interrupted by SIGINT (what was measured is written)\n\n"
      "EXAMPLES\n"
      "  loadgen run --target 127.0.0.1:9090 -c 16 -d 1 --duration 10s --json run.json\n"
      "  loadgen run --target 127.0.0.1:9090 --rate 1000 --arrival poisson --hgrm run.hgrm\n"
      "  loadgen run --target 127.0.0.1:9090 --duration 60s --interval 1s --hlog run.hlog\n"
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
  std::optional<poolbench::AdminSampler> sampler;
  if (!run.admin.empty()) {
    try {
      const auto url = poolbench::parse_admin_url(run.admin);
      poolbench::fetch_server_stats(url);  // fail before the load, not after it
      sampler.emplace(url);
    } catch (const std::exception& e) {
      std::cerr << "loadgen: --admin " << run.admin << ": " << e.what() << "\n";
      return kExitUsage;
    }
    sampler->sample(0, "start");
  }
  poolbench::RunHooks hooks;
  hooks.stop = &g_stop;
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
    if (!run.hlog_path.empty()) {
      std::ostringstream hlog;
      poolbench::write_hlog(hlog, result);
      poolbench::write_text_atomically(run.hlog_path, hlog.str());
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

// --- sweep -----------------------------------------------------------------------------------

struct SweepCommand {
  CLI::App* app = nullptr;
  poolbench::SweepSettings settings;
  std::string out = "results/sweep";
  std::string start_timeout = "10s";
  std::string stop_grace = "5s";
  bool quiet = false;
  bool no_calibrate = false;
  std::string server_cpus;
  std::string generator_cpus;
};

void add_sweep_command(CLI::App& parent, SweepCommand& sweep) {
  sweep.app =
      parent.add_subcommand("sweep", "Run the same load against a grid of modes x pool sizes");
  sweep.app->description(
      "Runs one load against every point of a grid of modes x pool sizes (the main job).\n\n"
      "For each point it starts a server from --server-cmd (run without a shell; arguments that\n"
      "are exactly {port}, {mode}, {pool}, {work} or {admin_port} are replaced), waits until it\n"
      "accepts, runs the load (the same flags as 'loadgen run'), stops the server (SIGTERM,\n"
      "SIGKILL after --server-stop-grace) and records its exit status, the server's CPU\n"
      "utilisation, CPU and context switches per request (from /proc/PID) and its own. A\n"
      "calibration run first measures what a request costs alone (one connection, one worker):\n"
      "its time S and the server's CPU time c. Every point then records the model's bounds,\n"
      "X <= min(min(N,P)/S, K/c) on K allowed CPUs, the exact MVA curve and the predicted knee\n"
      "P* = K*S/c, with measured/predicted ratios; sweep.json says per mode where the measured\n"
      "knee is (the smallest pool within 95% of the best throughput).\n\n"
      "Writes under --out: <mode>-pool<N>.json per point (poolbench.run/1 + server +\n"
      "resources + model_prediction), <mode>-pool<N>.server.log, and sweep.json\n"
      "(poolbench.sweep/2) with every point. A point whose server fails is marked failed and\n"
      "the sweep goes on.\n\n"
      "With --running it starts no server: it resizes one running reference_server between\n"
      "points through its admin endpoint, so the grid is that server's mode x --pool-sizes.");
  poolbench::add_load_options(*sweep.app, sweep.settings.load);
  const std::string grid = "Grid";
  sweep.app->add_option("--modes", sweep.settings.modes, "Modes to run, comma-separated")
      ->delimiter(',')
      ->capture_default_str()
      ->group(grid);
  sweep.app->add_option("--pool-sizes", sweep.settings.pool_sizes, "Pool sizes, comma-separated")
      ->delimiter(',')
      ->capture_default_str()
      ->group(grid);
  sweep.app
      ->add_option("--work", sweep.settings.work,
                   "The server's work spec (reference_server --help): fills {work}; its spin and "
                   "sleep parts are the model's nominal c and S - c")
      ->capture_default_str()
      ->group(grid);
  sweep.app
      ->add_option("--server-cmd", sweep.settings.server_command,
                   "Server command template (default: the reference_server built beside "
                   "loadgen, with --port {port} --mode {mode} --pool-size {pool} --work {work})")
      ->group(grid);
  sweep.app
      ->add_option("--server-start-timeout", sweep.start_timeout,
                   "How long a server may take to accept connections")
      ->capture_default_str()
      ->group(grid);
  sweep.app
      ->add_option("--server-stop-grace", sweep.stop_grace,
                   "After SIGTERM, how long before SIGKILL")
      ->capture_default_str()
      ->group(grid);
  sweep.app
      ->add_flag("--admin", sweep.settings.admin,
                 "Give each server an admin port ({admin_port}; the default command passes "
                 "--admin-port) and store its sampled /stats as \"server_stats\" per point "
                 "(stage decomposition, queue depth)")
      ->group(grid);
  sweep.app
      ->add_option("--running", sweep.settings.running_server_admin,
                   "Sweep a server that is already running instead of starting one per point: "
                   "its admin URL (reference_server --admin-port, e.g. http://127.0.0.1:9091). "
                   "The load goes to --target; the pool is resized before each point "
                   "(POST /pool?size=N) and put back to its size at the end; the mode and work "
                   "are the server's own (GET /stats), and /stats is sampled as --admin does")
      ->excludes("--server-cmd")
      ->excludes("--modes")
      ->excludes("--work")
      ->excludes("--admin")
      ->excludes("--server-start-timeout")
      ->excludes("--server-stop-grace")
      ->group(grid);
  sweep.app
      ->add_flag("--no-calibrate", sweep.no_calibrate,
                 "Predict with the work spec's nominal costs instead of S and c measured first "
                 "with one connection and one worker")
      ->group(grid);
  const std::string cpus = "CPUs";
  sweep.app
      ->add_option("--server-cpus", sweep.server_cpus,
                   "Start every server on these CPUs only (taskset -c notation: 1, 1-3, 0,2); "
                   "their number is the model's K. Default: the CPUs loadgen may use (before "
                   "--loadgen-cpus)")
      ->group(cpus);
  sweep.app
      ->add_option("--loadgen-cpus", sweep.generator_cpus,
                   "Run this generator on these CPUs only, so that it does not take the server's "
                   "CPU time. Default: all it may use")
      ->group(cpus);
  sweep.app
      ->add_flag("--gil", sweep.settings.serialized_cpu,
                 "The server runs its CPU work under one global lock (CPython's GIL, e.g. the "
                 "Twisted peer): the model allows it one CPU, whatever --server-cpus says")
      ->group(cpus);
  sweep.app->add_option("--out", sweep.out, "Output directory (created)")
      ->capture_default_str()
      ->group("Output");
  sweep.app->add_flag("--quiet,-q", sweep.quiet, "No per-interval status line")->group("Output");
  sweep.app->footer(
      "EXIT STATUS\n"
      "  0    every point ran\n"
      "  1    some points failed (see \"status\" and \"reason\" in sweep.json)\n"
      "  2    bad flags, or the output directory is not writable\n"
      "  130  interrupted by SIGINT (the points so far are written)\n\n"
      "EXAMPLE\n"
      "  loadgen sweep -c 32 --duration 5s --modes inline,call-in-thread --pool-sizes 1,4,16 \\\n"
      "      --work sleep:10ms --out results/demo\n"
      "  loadgen sweep --server-cmd \"/usr/bin/python3 scripts/twisted_server.py --port {port} \\\n"
      "      --mode {mode} --pool-size {pool} --work {work}\" --out results/twisted\n"
      "  loadgen sweep --running http://127.0.0.1:9091 --target 127.0.0.1:9090 \\\n"
      "      --pool-sizes 1,4,16 --out results/resized\n"
      "  loadgen sweep -c 64 --modes call-in-thread --work spin:2ms+sleep:8ms \\\n"
      "      --loadgen-cpus 0 --server-cpus 1 --out results/knee   # knee at P* = 1*10/2 = 5");
}

// One line per point, then the knee per mode.
void print_sweep_table(const json& document) {
  std::printf("%-16s %5s %9s %9s %6s %9s %9s %9s %7s %7s  %s\n", "mode", "pool", "req/s", "bound",
              "ratio", "mva", "p50 ms", "p99 ms", "srv cpu", "cs/req", "status");
  for (const json& point : document["points"]) {
    const json& run = point["result"];
    const bool has_run = run.is_object();
    const json model = has_run ? run["model_prediction"] : json();
    const json server =
        has_run && run["resources"].is_object() ? run["resources"]["server"] : json();
    const auto number = [](const json& object, const char* key) {
      return object.is_object() && object[key].is_number() ? object[key].get<double>() : 0.0;
    };
    std::printf("%-16s %5d %9.1f %9.1f %6.3f %9.1f %9.3f %9.3f %6.0f%% %7.2f  %s\n",
                point["mode"].get<std::string>().c_str(), point["pool_size"].get<int>(),
                has_run ? run.value("throughput_rps", 0.0) : 0.0, number(model, "throughput_rps"),
                number(model, "throughput_ratio"), number(model, "mva_throughput_rps"),
                has_run ? run["latency_us"].value("p50", 0) / 1000.0 : 0.0,
                has_run ? run["latency_us"].value("p99", 0) / 1000.0 : 0.0,
                100 * number(server, "utilization"), number(server, "context_switches_per_request"),
                point["status"].get<std::string>().c_str());
  }
  for (const auto& [mode, knee] : document["knee"].items()) {
    std::printf("%s: best %.1f req/s at pool %d; measured knee at pool %d", mode.c_str(),
                knee["best_throughput_rps"].get<double>(), knee["best_pool"].get<int>(),
                knee["measured_knee_pool"].get<int>());
    if (knee["predicted_knee_pool"].is_number()) {
      std::printf(", predicted P* = %.1f (%d grid steps away)",
                  knee["predicted_knee_pool"].get<double>(), knee["knee_grid_steps"].get<int>());
    }
    if (knee["plateau_bound_rps"].is_number()) {
      std::printf("; plateau %.3f of the bound %.1f req/s", knee["plateau_ratio"].get<double>(),
                  knee["plateau_bound_rps"].get<double>());
    }
    std::printf("\n");
  }
}

int sweep_command(SweepCommand& sweep) {
  install_stop_handlers();
  try {
    if (!sweep.server_cpus.empty()) {
      sweep.settings.server_cpus = poolbench::parse_cpu_list(sweep.server_cpus);
    }
    if (!sweep.generator_cpus.empty()) {
      sweep.settings.generator_cpus = poolbench::parse_cpu_list(sweep.generator_cpus);
    }
  } catch (const std::exception& e) {
    std::cerr << "loadgen sweep: " << e.what() << "\n";
    return kExitUsage;
  }
  sweep.settings.out_dir = sweep.out;
  sweep.settings.calibrate = !sweep.no_calibrate;
  StatusLine status(sweep.quiet);
  poolbench::SweepHooks hooks;
  hooks.run.stop = &g_stop;
  hooks.run.on_interval = [&status](const poolbench::IntervalStats& s) { status.show(s); };
  hooks.on_calibrated = [&status](const json& calibration) {
    status.finish();
    if (calibration["status"] != "ok") {
      std::fprintf(stderr, "calibration failed (%s): predicting with the nominal costs\n",
                   calibration["reason"].is_string()
                       ? calibration["reason"].get<std::string>().c_str()
                       : "no replies");
      return;
    }
    std::fprintf(stderr,
                 "calibration: S = %.3f ms (one connection, one worker; nominal %.3f ms); server "
                 "CPU c = %.3f ms per request (%s; alone %.3f ms; nominal %.3f ms)\n",
                 calibration["service_time_us"].get<double>() / 1000.0,
                 calibration["nominal_service_time_us"].get<double>() / 1000.0,
                 calibration["cpu_time_us"].get<double>() / 1000.0,
                 calibration["cpu_time_source"].get<std::string>().c_str(),
                 calibration["cpu_time_alone_us"].get<double>() / 1000.0,
                 calibration["nominal_cpu_time_us"].get<double>() / 1000.0);
  };
  // The time left, from the points so far (servers' start and stop included).
  const auto sweep_start = std::chrono::steady_clock::now();
  hooks.on_point_start = [sweep_start](const poolbench::SweepPoint& point, std::size_t index,
                                       std::size_t total) {
    std::string left;
    if (index > 0) {
      const double elapsed =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - sweep_start).count();
      left = ", about " + std::to_string(std::lround(elapsed / index * (total - index))) + " s";
    }
    std::fprintf(stderr, "[%zu/%zu] %s pool %d (%zu left after this%s)\n", index + 1, total,
                 point.mode.c_str(), point.pool_size, total - index - 1, left.c_str());
  };
  hooks.on_point_done = [&status](const poolbench::SweepPoint&, const json& point) {
    status.finish();
    if (point["status"] != "ok") {
      std::fprintf(stderr, "    %s: %s\n", point["status"].get<std::string>().c_str(),
                   point["reason"].is_string() ? point["reason"].get<std::string>().c_str() : "");
      return;
    }
    const json& run = point["result"];
    const json& model = run["model_prediction"];
    std::fprintf(stderr, "    %.1f req/s  p50 %s  p99 %s", run.value("throughput_rps", 0.0),
                 format_ms(run["latency_us"].value("p50", 0)).c_str(),
                 format_ms(run["latency_us"].value("p99", 0)).c_str());
    if (!model.is_null()) {
      std::fprintf(stderr, "  bound %.1f req/s (%s, x%.3f)  mva %.1f",
                   model.value("throughput_rps", 0.0), model.value("bound", "").c_str(),
                   model.value("throughput_ratio", 0.0), model.value("mva_throughput_rps", 0.0));
    }
    const json& server = run["resources"].is_object() ? run["resources"]["server"] : json();
    if (server.is_object()) {
      std::fprintf(stderr, "  server CPU %.0f%%, %.3f ms and %.1f switches per request",
                   100 * server.value("utilization", 0.0),
                   server.value("cpu_us_per_request", 0.0) / 1000.0,
                   server.value("context_switches_per_request", 0.0));
    }
    std::fprintf(stderr, "\n");
  };

  poolbench::SweepOutcome outcome;
  try {
    outcome = poolbench::run_sweep(sweep.settings, hooks);
  } catch (const std::exception& e) {  // bad settings, an unusable --out or --running
    std::cerr << "loadgen sweep: " << e.what() << "\n";
    return kExitUsage;
  }
  print_sweep_table(outcome.document);
  std::printf("results: %s/sweep.json\n", sweep.out.c_str());
  if (outcome.interrupted) return 128 + (g_signal.load() != 0 ? g_signal.load() : SIGINT);
  return outcome.failed_points > 0 ? 1 : 0;
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

  const std::vector<std::string> args(argv, argv + argc);
  try {
    app.parse(argc, argv);
    if (run.app->parsed()) {
      poolbench::finish_load_settings(*run.app, run.settings, args);
      check_writable(run.json_path, "--json");
      check_writable(run.hgrm_path, "--hgrm");
      check_writable(run.hlog_path, "--hlog");
    }
    if (merge.app->parsed()) check_writable(merge.json_path, "--json");
    if (sweep.app->parsed()) {
      poolbench::finish_load_settings(*sweep.app, sweep.settings.load, args);
      sweep.settings.argv = args;
      sweep.settings.server_start_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(
          poolbench::parse_duration(sweep.start_timeout));
      sweep.settings.server_stop_grace = std::chrono::duration_cast<std::chrono::milliseconds>(
          poolbench::parse_duration(sweep.stop_grace));
    }
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : kExitUsage;
  }
  if (run.app->parsed()) return run_command(run);
  if (merge.app->parsed()) return merge_command(merge);
  if (sweep.app->parsed()) return sweep_command(sweep);
  return kExitUsage;
}
