#include "sweep_command.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <utility>

#include "cli.hpp"
#include "command_support.hpp"
#include "reference_server/clock.hpp"
#include "reference_server/process_usage.hpp"

namespace poolbench::cli {
namespace {

using json = nlohmann::json;

// A --search sweep: the capacity interval per point.
void print_capacity_table(const json& document) {
  std::printf("%-16s %5s %23s %12s  %s\n", "mode", "pool", "SLO capacity req/s", "best req/s",
              "outcome");
  for (const json& point : document["points"]) {
    if (!point.contains("search")) continue;
    const json& search = point["search"];
    const auto bound = [](const json& value) {
      return value.is_number() ? std::to_string(std::lround(value.get<double>()))
                               : std::string("-");
    };
    const std::string interval =
        bound(search["capacity"]["low_rps"]) + " .. " + bound(search["capacity"]["high_rps"]);
    std::printf("%-16s %5d %23s %12.1f  %s\n", point["mode"].get<std::string>().c_str(),
                point["pool_size"].get<int>(), interval.c_str(),
                search["best_achieved_rps"].get<double>(),
                search["outcome"].get<std::string>().c_str());
  }
}

// One line per point, then the knee per mode.
void print_sweep_table(const json& document) {
  if (document["config"]["search"].is_object()) print_capacity_table(document);
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
    const bool beyond = knee.value("knee_in_grid", true) == false;
    if (knee["predicted_knee_pool"].is_number() && beyond) {
      std::printf(
          ", predicted P* = %.1f, beyond the grid: the pool, not the CPU, limits every "
          "point (CPU bound %.1f req/s)\n",
          knee["predicted_knee_pool"].get<double>(), knee["plateau_bound_rps"].get<double>());
      continue;
    }
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

void print_calibration(const json& calibration) {
  if (calibration["status"] != "ok") {
    std::fprintf(stderr, "calibration failed (%s): predicting with the nominal costs\n",
                 calibration["reason"].is_string()
                     ? calibration["reason"].get<std::string>().c_str()
                     : "no replies");
    return;
  }
  std::fprintf(stderr,
               "calibration: S = %.3f ms (one connection, one worker; nominal %.3f ms), of which "
               "%.3f ms outside the pool; server CPU c = %.3f ms per request (%s; alone %.3f ms; "
               "nominal %.3f ms)\n",
               calibration["service_time_us"].get<double>() / 1000.0,
               calibration["nominal_service_time_us"].get<double>() / 1000.0,
               calibration["round_trip_us"].is_number()
                   ? calibration["round_trip_us"].get<double>() / 1000.0
                   : 0.0,
               calibration["cpu_time_us"].get<double>() / 1000.0,
               calibration["cpu_time_source"].get<std::string>().c_str(),
               calibration["cpu_time_alone_us"].get<double>() / 1000.0,
               calibration["nominal_cpu_time_us"].get<double>() / 1000.0);
}

// A point's line: its throughput and tail, the model's bound and curve, the server's CPU.
void print_point(const json& point) {
  if (point.contains("search")) {
    std::fprintf(stderr, "    search: %s\n", point["search"]["message"].get<std::string>().c_str());
  }
  if (point["status"] != "ok") {
    std::fprintf(stderr, "    %s: %s\n", point["status"].get<std::string>().c_str(),
                 point["reason"].is_string() ? point["reason"].get<std::string>().c_str() : "");
    return;
  }
  if (!point["result"].is_object()) return;  // a search where no rate passed
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
}

// Progress on stderr: the status line per interval, the calibration, each point.
SweepHooks progress_hooks(StatusLine& status) {
  SweepHooks hooks;
  hooks.run.stop = stop_flag();
  hooks.run.on_interval = [&status](const IntervalStats& s) { status.show(s); };
  hooks.on_calibrated = [&status](const json& calibration) {
    status.finish();
    print_calibration(calibration);
  };
  // The time left, from the points so far (servers' start and stop included).
  const auto sweep_start = Clock::now();
  hooks.on_point_start = [sweep_start](const SweepPoint& point, std::size_t index,
                                       std::size_t total) {
    std::string left;
    if (index > 0) {
      const double elapsed = std::chrono::duration<double>(Clock::now() - sweep_start).count();
      left = ", about " + std::to_string(std::lround(elapsed / index * (total - index))) + " s";
    }
    std::fprintf(stderr, "[%zu/%zu] %s pool %d (%zu left after this%s)\n", index + 1, total,
                 point.mode.c_str(), point.pool_size, total - index - 1, left.c_str());
  };
  hooks.on_point_done = [&status](const SweepPoint&, const json& point) {
    status.finish();
    print_point(point);
  };
  return hooks;
}

// The grid and how its servers are started, stopped, observed and calibrated.
void add_grid_options(CLI::App& app, SweepCommand& sweep) {
  const std::string grid = "Grid";
  app.add_option("--modes", sweep.settings.modes, "Modes to run, comma-separated")
      ->delimiter(',')
      ->capture_default_str()
      ->group(grid);
  app.add_option("--pool-sizes", sweep.settings.pool_sizes, "Pool sizes, comma-separated")
      ->delimiter(',')
      ->capture_default_str()
      ->group(grid);
  app.add_option("--work", sweep.settings.work,
                 "The server's work spec (reference_server --help): fills {work}; its spin and "
                 "sleep parts are the model's nominal c and S - c")
      ->capture_default_str()
      ->group(grid);
  app.add_option("--server-cmd", sweep.settings.server_command,
                 "Server command template (default: the reference_server built beside "
                 "loadgen, with --port {port} --mode {mode} --pool-size {pool} --work {work})")
      ->group(grid);
  app.add_option("--server-start-timeout", sweep.start_timeout,
                 "How long a server may take to accept connections")
      ->capture_default_str()
      ->group(grid);
  app.add_option("--server-stop-grace", sweep.stop_grace, "After SIGTERM, how long before SIGKILL")
      ->capture_default_str()
      ->group(grid);
  app.add_flag("--admin", sweep.settings.admin,
               "Give each server an admin port ({admin_port}; the default command passes "
               "--admin-port) and store its sampled /stats as \"server_stats\" per point "
               "(stage decomposition, queue depth)")
      ->group(grid);
  app.add_option("--running", sweep.settings.running_server_admin,
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
  app.add_flag("--no-calibrate", sweep.no_calibrate,
               "Predict with the work spec's nominal costs instead of S and c measured first "
               "with one connection and one worker")
      ->group(grid);
}

// Where the servers and the generator run, and what the model takes K to be.
void add_cpu_options(CLI::App& app, SweepCommand& sweep) {
  const std::string cpus = "CPUs";
  app.add_option("--server-cpus", sweep.server_cpus,
                 "Start every server on these CPUs only (taskset -c notation: 1, 1-3, 0,2); "
                 "their number is the model's K. Default: the CPUs loadgen may use (before "
                 "--loadgen-cpus)")
      ->group(cpus);
  app.add_option("--loadgen-cpus", sweep.generator_cpus,
                 "Run this generator on these CPUs only, so that it does not take the server's "
                 "CPU time. Default: all it may use")
      ->group(cpus);
  app.add_flag("--gil", sweep.settings.serialized_cpu,
               "The server runs its CPU work under one global lock (CPython's GIL, e.g. the "
               "Twisted peer): the model allows it one CPU, whatever --server-cpus says")
      ->group(cpus);
}

// What else the sweep records: other processes' CPU, other documents.
void add_record_options(CLI::App& app, SweepCommand& sweep) {
  const std::string records = "Records";
  app.add_option("--measure-pid", sweep.measure_pids,
                 "NAME=PID: also record this process's CPU time and context switches at every "
                 "point, as the server's (the run's resources.processes.NAME), e.g. a database "
                 "the servers call: --measure-pid database=PID. Repeatable")
      ->group(records);
  app.add_option("--attach", sweep.attach,
                 "NAME=FILE: keep this JSON document in sweep.json (config.attached.NAME), e.g. "
                 "the database's version and settings. Repeatable")
      ->group(records);
}

// NAME=VALUE, NAME a plain word; throws std::invalid_argument naming the flag.
std::pair<std::string, std::string> named_value(const std::string& text, const char* flag) {
  const auto equals = text.find('=');
  const std::string name = text.substr(0, equals);
  const bool plain = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
  });
  if (equals == std::string::npos || !plain || equals + 1 == text.size()) {
    throw std::invalid_argument(std::string(flag) + " '" + text +
                                "': expected NAME=VALUE (NAME letters, digits, _ or -)");
  }
  return {name, text.substr(equals + 1)};
}

void read_records(SweepCommand& sweep) {
  for (const std::string& text : sweep.measure_pids) {
    auto [name, value] = named_value(text, "--measure-pid");
    char* end = nullptr;
    const long pid = std::strtol(value.c_str(), &end, 10);
    if (*end != '\0' || pid <= 0 || !usage_of(static_cast<pid_t>(pid))) {
      throw std::invalid_argument("--measure-pid " + text + ": no process " + value +
                                  " to measure (give a running process's PID)");
    }
    sweep.settings.measured_processes.emplace_back(name, static_cast<pid_t>(pid));
  }
  for (const std::string& text : sweep.attach) {
    auto [name, path] = named_value(text, "--attach");
    std::ifstream in(path);
    json document = in.is_open() ? json::parse(in, nullptr, false) : json(json::value_t::discarded);
    if (document.is_discarded()) {
      throw std::invalid_argument("--attach " + text + ": " + path +
                                  " is not a readable JSON file");
    }
    sweep.settings.attached[name] = std::move(document);
  }
}

// --search and the search's own flags (search_command.hpp), shared with `loadgen search`.
void add_search_grid_options(CLI::App& app, SweepCommand& sweep) {
  app.add_flag("--search", sweep.search,
               "At every point, search the highest rate that meets --slo (as 'loadgen search' "
               "does) instead of one run: the capacity curve per mode. Inline mode is searched "
               "at the smallest pool size only (its pool does no work)")
      ->group("Search");
  add_search_options(app, sweep.search_options, false);
  app.add_option("--cool-down", sweep.cool_down,
                 "With --running and --search: pause after each resize before the search")
      ->capture_default_str()
      ->group("Search");
}

}  // namespace

void add_sweep_command(CLI::App& parent, SweepCommand& sweep) {
  sweep.app =
      parent.add_subcommand("sweep", "Run the same load against a grid of modes x pool sizes");
  sweep.app->description(
      "Runs one load against every point of a grid of modes x pool sizes (the main job).\n\n"
      "For each point it starts a server from --server-cmd (run without a shell; arguments that\n"
      "are exactly {port}, {mode}, {pool}, {work} or {admin_port} are replaced), waits until it\n"
      "accepts, runs the load (the same flags as 'loadgen run'), stops the server and its whole\n"
      "process group (SIGTERM, SIGKILL after --server-stop-grace: a server under 'sh -c' goes\n"
      "too) and records its exit status and how it stopped (server.stop: clean, drain_cut for\n"
      "reference_server's exit 3, failed or killed; anything but clean is said on stderr), the\n"
      "server's CPU utilisation, CPU and context switches per request (from /proc/PID) and its\n"
      "own. A\n"
      "calibration first measures what a request costs: its time S alone (one connection, one\n"
      "worker), the part d of it outside the pool (a request with no work, alone) and the\n"
      "server's CPU time c (the work's spin parts plus the server's own CPU per request when\n"
      "busy, from a short run with no work). Every point then records the bounds\n"
      "X <= min(min(N,P)/S_w, K/c) with S_w = S - d on K allowed CPUs, the exact MVA curve and\n"
      "the predicted knee P* = K*S_w/c, with measured/predicted ratios; sweep.json says per mode\n"
      "where the measured knee is (the smallest pool within 95% of the best throughput).\n\n"
      "Writes under --out: <mode>-pool<N>.json per point (poolbench.run/1 + server +\n"
      "resources + model_prediction), <mode>-pool<N>.server.log, and sweep.json\n"
      "(poolbench.sweep/2) with every point. A point whose server fails is marked failed and\n"
      "the sweep goes on.\n\n"
      "With --running it starts no server: it resizes one running reference_server between\n"
      "points through its admin endpoint, so the grid is that server's mode x --pool-sizes.");
  add_load_options(*sweep.app, sweep.settings.load);
  add_grid_options(*sweep.app, sweep);
  add_cpu_options(*sweep.app, sweep);
  add_record_options(*sweep.app, sweep);
  add_search_grid_options(*sweep.app, sweep);
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
      "      --loadgen-cpus 0 --server-cpus 1 --out results/knee   # knee at P* = 1*10/2 = 5\n"
      "  loadgen sweep --search --slo 'p99<=50ms' -c 64 -d 4 --modes call-in-thread \\\n"
      "      --pool-sizes 1,2,4,8 --work sleep:10ms --out results/capacity");
}

int sweep_command(SweepCommand& sweep) {
  install_stop_handlers();
  try {
    if (!sweep.server_cpus.empty()) {
      sweep.settings.server_cpus = parse_cpu_list(sweep.server_cpus);
    }
    if (!sweep.generator_cpus.empty()) {
      sweep.settings.generator_cpus = parse_cpu_list(sweep.generator_cpus);
    }
    read_records(sweep);
  } catch (const std::exception& e) {
    std::cerr << "loadgen sweep: " << e.what() << "\n";
    return kExitUsage;
  }
  sweep.settings.out_dir = sweep.out;
  sweep.settings.calibrate = !sweep.no_calibrate;
  StatusLine status(sweep.quiet);
  SweepHooks hooks = progress_hooks(status);
  hooks.search = search_progress_hooks(sweep.quiet, "    ");
  const auto trial_done = hooks.search.on_trial_done;
  if (trial_done) {
    hooks.search.on_trial_done = [&status, trial_done](const json& trial, double rate,
                                                       const json& capacity) {
      status.finish();
      trial_done(trial, rate, capacity);
    };
  }
  SweepOutcome outcome;
  try {
    outcome = run_sweep(sweep.settings, hooks);
  } catch (const std::exception& e) {  // bad settings, an unusable --out or --running
    std::cerr << "loadgen sweep: " << e.what() << "\n";
    return kExitUsage;
  }
  print_sweep_table(outcome.document);
  std::printf("results: %s/sweep.json\n", sweep.out.c_str());
  if (outcome.interrupted) return stopped_exit_code();
  return outcome.failed_points > 0 ? 1 : 0;
}

void finish_sweep_command(SweepCommand& sweep, const std::vector<std::string>& argv) {
  if (sweep.search) {
    if (sweep.search_options.slo.empty()) {
      throw CLI::ValidationError("--search", "needs --slo, e.g. --slo 'p99<=50ms'");
    }
    if (sweep.app->count("--rate") > 0) {
      throw CLI::ValidationError("--rate", "--search chooses the rate: use --start-rate");
    }
    if (sweep.app->count("--arrival") == 0) sweep.settings.load.arrival = Arrival::kPoisson;
    finish_search_options(sweep.search_options);
    sweep.settings.search = sweep.search_options.settings;
    sweep.settings.cool_down =
        std::chrono::duration_cast<std::chrono::milliseconds>(parse_duration(sweep.cool_down));
  }
  finish_load_settings(*sweep.app, sweep.settings.load, argv);
  sweep.settings.argv = argv;
  sweep.settings.server_start_timeout =
      std::chrono::duration_cast<std::chrono::milliseconds>(parse_duration(sweep.start_timeout));
  sweep.settings.server_stop_grace =
      std::chrono::duration_cast<std::chrono::milliseconds>(parse_duration(sweep.stop_grace));
}

}  // namespace poolbench::cli
