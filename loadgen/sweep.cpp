#include "sweep.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <system_error>

#include "admin_client.hpp"
#include "model.hpp"
#include "process.hpp"
#include "process_usage.hpp"
#include "result.hpp"
#include "usage_recorder.hpp"
#include "work.hpp"

namespace poolbench {
namespace {

using json = nlohmann::json;

std::filesystem::path own_executable() {
  std::error_code error;
  auto path = std::filesystem::read_symlink("/proc/self/exe", error);
  return error ? std::filesystem::path() : path;
}

bool is_inline(std::string_view mode) {
  return mode == "inline";
}

json server_record(const SweepPoint& point, const std::string& work,
                   const std::vector<std::string>& argv, const std::filesystem::path& log) {
  return {{"mode", point.mode},
          {"pool_size", point.pool_size},
          {"work", work},
          {"argv", argv},
          {"exit_status", nullptr},
          {"exit", nullptr},
          {"log", log.filename().string()}};
}

void record_exit(json& server, int wait_status) {
  server["exit_status"] = exit_code_of(wait_status);
  server["exit"] = describe_wait_status(wait_status);
}

// The counters a running server reports in its /stats "process" object.
std::optional<ProcessUsage> usage_from_stats(const json& stats) {
  if (!stats.contains("process") || !stats["process"].is_object()) return std::nullopt;
  const json& process = stats["process"];
  ProcessUsage usage;
  usage.cpu_s = process.value("cpu_s", 0.0);
  usage.cpu_user_s = process.value("cpu_user_s", 0.0);
  usage.cpu_system_s = process.value("cpu_system_s", 0.0);
  usage.voluntary_switches = process.value("voluntary_context_switches", std::uint64_t{0});
  usage.involuntary_switches = process.value("involuntary_context_switches", std::uint64_t{0});
  usage.threads = process.value("threads", 0);
  usage.cpus = process.value("cpus", std::vector<int>{});
  return usage;
}

// Runs one point: starts the server, waits until it accepts, runs the load, stops the server;
// or, against a running server, resizes its pool and runs the load. Returns the point's
// sweep.json entry: status ok|failed|interrupted, reason, and the run document with its
// "server" record (no model: the caller adds it).
class PointRunner {
 public:
  PointRunner(const SweepSettings& settings, const std::vector<std::string>& command,
              const std::string& host, const std::optional<AdminUrl>& running,
              const RunHooks& hooks)
      : settings_(settings), command_(command), host_(host), running_(running), hooks_(hooks) {}

  json run(const SweepPoint& point, const LoadSettings& load) const {
    return running_ ? run_resized(point, load) : run_started(point, load);
  }

  // What one request costs alone: one connection against one worker. Its response time is the
  // effective service time S (timer slack and the loopback round trip included): the median
  // for work of fixed cost (a few scheduling outliers on a shared machine would inflate a
  // mean), the mean when the cost varies. The server's CPU time per request is c.
  json calibrate() const {
    const bool pool_mode = std::any_of(settings_.modes.begin(), settings_.modes.end(),
                                       [](const std::string& mode) { return !is_inline(mode); });
    const SweepPoint point{pool_mode ? "call-in-thread" : "inline", 1, "calibration"};
    LoadSettings load = settings_.load;
    load.connections = 1;
    load.depth = 1;
    load.rate = 0;
    load.think_time = {};
    load.requests = 0;
    load.duration = std::min<std::chrono::nanoseconds>(load.duration, std::chrono::seconds(2));
    load.warmup = std::min<std::chrono::nanoseconds>(load.warmup, std::chrono::milliseconds(200));
    json entry = run(point, load);
    const WorkSpec work = WorkSpec::parse(settings_.work);
    json calibration = {{"status", entry["status"]},
                        {"reason", entry["reason"]},
                        {"mode", point.mode},
                        {"pool_size", 1},
                        {"connections", 1},
                        {"service_time_us", nullptr},
                        {"service_time_statistic", work.is_fixed() ? "p50" : "mean"},
                        {"cpu_time_us", nullptr},
                        {"nominal_service_time_us", work.mean_nanoseconds() / 1e3},
                        {"nominal_cpu_time_us", work.mean_cpu_nanoseconds() / 1e3}};
    if (!entry["result"].is_object()) return calibration;
    const json& result = entry["result"];
    const json& latency = result["latency_us"];
    calibration["service_time_us"] = latency.value(work.is_fixed() ? "p50" : "mean", 0.0);
    calibration["mean_us"] = latency.value("mean", 0.0);
    calibration["p50_us"] = latency.value("p50", 0);
    calibration["p99_us"] = latency.value("p99", 0);
    calibration["requests"] = result.value("completed", 0);
    const json& server = result["resources"].is_object() ? result["resources"]["server"] : json();
    if (server.is_object() && server["cpu_us_per_request"].is_number()) {
      calibration["cpu_time_us"] = server["cpu_us_per_request"];
    }
    if (calibration["requests"].get<int>() == 0 || calibration["cpu_time_us"].is_null()) {
      calibration["status"] = "failed";
      if (calibration["reason"].is_null()) {
        calibration["reason"] = "no request completed, or the server's CPU time was unreadable";
      }
    }
    return calibration;
  }

 private:
  static json new_entry(const SweepPoint& point) {
    return {{"mode", point.mode}, {"pool_size", point.pool_size},
            {"status", "ok"},     {"reason", nullptr},
            {"file", nullptr},    {"result", nullptr}};
  }

  json run_started(const SweepPoint& point, LoadSettings load) const {
    const auto log_path = settings_.out_dir / (point.name + ".server.log");
    json entry = new_entry(point);
    const std::uint16_t port = pick_free_port();
    const std::uint16_t admin_port = settings_.admin ? pick_free_port() : 0;
    const auto argv =
        substitute_placeholders(command_, {{"{port}", std::to_string(port)},
                                           {"{mode}", point.mode},
                                           {"{pool}", std::to_string(point.pool_size)},
                                           {"{work}", settings_.work},
                                           {"{admin_port}", std::to_string(admin_port)}});
    json server = server_record(point, settings_.work, argv, log_path);
    std::optional<ChildProcess> process;
    try {
      process.emplace(ChildProcess::spawn(
          argv, {.stdout_path = log_path, .stderr_path = log_path, .cpus = settings_.server_cpus}));
      wait_until_accepting(*process, host_, port, settings_.server_start_timeout);
      const std::string bracketed =
          host_.find(':') != std::string::npos ? "[" + host_ + "]" : host_;
      load.target = bracketed + ":" + std::to_string(port);
      std::optional<AdminUrl> admin;
      if (settings_.admin) admin = parse_admin_url(bracketed + ":" + std::to_string(admin_port));
      const pid_t pid = process->pid();
      json run = measure(entry, load, admin, [pid] { return usage_of(pid); });
      record_exit(server, process->stop(settings_.server_stop_grace));
      run["server"] = std::move(server);
      entry["result"] = std::move(run);
    } catch (const std::exception& failure) {
      entry["status"] = "failed";
      entry["reason"] = (process && !process->running() ? "server did not start: " : "") +
                        std::string(failure.what());
      if (process) record_exit(server, process->stop(settings_.server_stop_grace));
      entry["server"] = std::move(server);
    }
    return entry;
  }

  json run_resized(const SweepPoint& point, const LoadSettings& load) const {
    json entry = new_entry(point);
    json server = {{"mode", point.mode},     {"pool_size", point.pool_size},
                   {"work", settings_.work}, {"running", running_->text},
                   {"exit_status", nullptr}, {"exit", nullptr}};
    try {
      resize_server_pool(*running_, point.pool_size);
      const AdminUrl& admin = *running_;
      json run = measure(entry, load, running_, [&admin] {
        try {
          return usage_from_stats(fetch_server_stats(admin));
        } catch (const std::exception&) {
          return std::optional<ProcessUsage>();  // a missed sample: the span uses the others
        }
      });
      run["server"] = std::move(server);
      entry["result"] = std::move(run);
    } catch (const std::exception& failure) {
      entry["status"] = "failed";
      entry["reason"] = failure.what();
      entry["server"] = std::move(server);
    }
    return entry;
  }

  // Runs the load (sampling the server's /stats at `admin`, if given, as `loadgen run --admin`
  // does, and the server's and our CPU and context switches), marks `entry` interrupted or
  // failed as the run ended, and returns the run document.
  json measure(json& entry, const LoadSettings& load, const std::optional<AdminUrl>& admin,
               UsageRecorder::Source server_usage) const {
    std::optional<AdminSampler> sampler;
    UsageRecorder usage(std::move(server_usage));
    RunHooks hooks = hooks_;
    if (admin) {
      sampler.emplace(*admin);
      sampler->sample(0, "start");
    }
    hooks.on_interval = [this, &sampler, &usage](const IntervalStats& interval) {
      if (hooks_.on_interval) hooks_.on_interval(interval);
      if (sampler) sampler->on_interval(interval);
      usage.on_interval(interval);
    };
    usage.start();
    const RunResult result = run_load(load, hooks);
    json run = to_json(result);
    run["resources"] = usage.finish();
    if (sampler) run["server_stats"] = sampler->finish(result);
    if (result.end == RunEnd::kInterrupted) {
      entry["status"] = "interrupted";
    } else if (result.end == RunEnd::kConnectionsLost) {
      entry["status"] = "failed";
      entry["reason"] = "the server closed every connection mid-run";
    }
    return run;
  }

  const SweepSettings& settings_;
  const std::vector<std::string>& command_;
  const std::string& host_;
  const std::optional<AdminUrl>& running_;
  const RunHooks& hooks_;
};

}  // namespace

std::string default_server_command() {
  std::filesystem::path server = "reference_server";  // from PATH, unless built beside us
  const auto self = own_executable();
  if (!self.empty()) {
    const auto built = self.parent_path().parent_path() / "reference_server" / "reference_server";
    if (std::filesystem::exists(built)) server = built;
  }
  return server.string() + " --port {port} --mode {mode} --pool-size {pool} --work {work}";
}

std::vector<std::string> split_command(std::string_view command) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  char quote = 0;
  for (char c : command) {
    if (quote != 0) {
      if (c == quote) {
        quote = 0;
      } else {
        word += c;
      }
    } else if (c == '\'' || c == '"') {
      quote = c;
      in_word = true;
    } else if (c == ' ' || c == '\t' || c == '\n') {
      if (in_word) words.push_back(std::exchange(word, {}));
      in_word = false;
    } else {
      word += c;
      in_word = true;
    }
  }
  if (quote != 0) {
    throw std::invalid_argument("unbalanced " + std::string(1, quote) +
                                " in server command: " + std::string(command));
  }
  if (in_word) words.push_back(word);
  if (words.empty()) throw std::invalid_argument("the server command is empty");
  return words;
}

std::vector<std::string> substitute_placeholders(const std::vector<std::string>& words,
                                                 const std::map<std::string, std::string>& values) {
  std::vector<std::string> result;
  result.reserve(words.size());
  for (const auto& word : words) {
    const auto found = values.find(word);
    result.push_back(found == values.end() ? word : found->second);
  }
  return result;
}

namespace {

// What the sweep found out before its first point.
struct SweepPlan {
  std::optional<AdminUrl> running;
  std::optional<int> original_pool_size;  // a running server's, put back at the end
  std::vector<std::string> command;       // the server command template, split
  std::string host;
  std::vector<SweepPoint> grid;
};

// Checks the settings and completes them: a running server's mode and work, the server
// command (with an admin port when asked). Throws std::invalid_argument or runtime_error.
SweepPlan plan_sweep(SweepSettings& settings) {
  SweepPlan plan;
  if (!settings.running_server_admin.empty()) {
    plan.running = parse_admin_url(settings.running_server_admin);
    const json stats = fetch_server_stats(*plan.running);
    if (!stats.contains("mode") || !stats.contains("work") || !stats.contains("pool")) {
      throw std::runtime_error(plan.running->text +
                               "/stats does not say the server's mode, work and pool size: is "
                               "it reference_server's admin endpoint?");
    }
    settings.modes = {stats["mode"].get<std::string>()};
    settings.work = stats["work"].get<std::string>();
    plan.original_pool_size = stats["pool"]["size"].get<int>();
  }
  if (settings.modes.empty()) throw std::invalid_argument("--modes is empty");
  if (settings.pool_sizes.empty()) throw std::invalid_argument("--pool-sizes is empty");
  for (const auto& mode : settings.modes) {
    if (mode != "inline" && mode != "call-in-thread" && mode != "defer-to-thread") {
      throw std::invalid_argument("unknown mode '" + mode +
                                  "' in --modes: expected inline, call-in-thread, defer-to-thread");
    }
  }
  for (int size : settings.pool_sizes) {
    if (size < 1) throw std::invalid_argument("pool sizes must be at least 1");
  }
  WorkSpec::parse(settings.work);  // reject a bad --work before starting anything
  plan.command = split_command(settings.server_command.empty() ? default_server_command()
                                                               : settings.server_command);
  if (settings.admin && !plan.running &&
      std::find(plan.command.begin(), plan.command.end(), "{admin_port}") == plan.command.end()) {
    if (!settings.server_command.empty()) {
      throw std::invalid_argument(
          "--admin needs {admin_port} in --server-cmd (e.g. --admin-port {admin_port})");
    }
    plan.command.insert(plan.command.end(), {"--admin-port", "{admin_port}"});
  }
  settings.load.validate();
  plan.host = parse_target(settings.load.target).host;
  for (const auto& mode : settings.modes) {
    for (int pool : settings.pool_sizes) {
      plan.grid.push_back({mode, pool, mode + "-pool" + std::to_string(pool)});
    }
  }
  return plan;
}

// Pins this thread to the generator's CPUs (the load's threads, created later, inherit them)
// and settles the servers' CPUs: as asked, or the CPUs we had before pinning.
void place_on_cpus(SweepSettings& settings) {
  const std::vector<int> available = allowed_cpus(0);
  for (const auto* list : {&settings.generator_cpus, &settings.server_cpus}) {
    for (int cpu : *list) {
      if (std::find(available.begin(), available.end(), cpu) == available.end()) {
        throw std::invalid_argument("CPU " + std::to_string(cpu) +
                                    " is not available to this process (it may use " +
                                    format_cpu_list(available) + ")");
      }
    }
  }
  if (settings.generator_cpus.empty()) return;
  if (settings.server_cpus.empty()) settings.server_cpus = available;
  pin_this_thread(settings.generator_cpus);
}

// The costs the model predicts with: the calibration's, or the work spec's nominal ones.
RequestCosts request_costs(const std::string& work, const json& calibration) {
  if (calibration.is_object() && calibration["status"] == "ok") {
    return {calibration["service_time_us"].get<double>() / 1e6,
            calibration["cpu_time_us"].get<double>() / 1e6, "calibrated"};
  }
  const WorkSpec spec = WorkSpec::parse(work);
  return {spec.mean_nanoseconds() / 1e9, spec.mean_cpu_nanoseconds() / 1e9, "nominal"};
}

// K for a point: the CPUs its server was allowed, as read during the run; else ours.
int server_cpu_count(const json& run, const SweepSettings& settings) {
  const json& resources = run.contains("resources") ? run["resources"] : json();
  if (resources.is_object() && resources["server"].is_object() &&
      !resources["server"]["cpus"].empty()) {
    return static_cast<int>(resources["server"]["cpus"].size());
  }
  return static_cast<int>(settings.server_cpus.empty() ? allowed_cpus(0).size()
                                                       : settings.server_cpus.size());
}

json cpu_list_or_null(const std::vector<int>& cpus) {
  return cpus.empty() ? json(nullptr) : json(format_cpu_list(cpus));
}

}  // namespace

SweepOutcome run_sweep(const SweepSettings& requested, const SweepHooks& hooks) {
  SweepSettings settings = requested;
  const SweepPlan plan = plan_sweep(settings);
  std::error_code error;
  std::filesystem::create_directories(settings.out_dir, error);
  if (error || ::access(settings.out_dir.c_str(), W_OK | X_OK) != 0) {
    throw std::runtime_error("cannot write to output directory " + settings.out_dir.string() +
                             (error ? ": " + error.message() : ""));
  }
  place_on_cpus(settings);

  SweepOutcome outcome;
  const PointRunner runner{settings, plan.command, plan.host, plan.running, hooks.run};
  json calibration = nullptr;
  if (settings.calibrate && !WorkSpec::parse(settings.work).parts.empty()) {
    calibration = runner.calibrate();
    if (hooks.on_calibrated) hooks.on_calibrated(calibration);
    outcome.interrupted = calibration["status"] == "interrupted";
  }
  const RequestCosts costs = request_costs(settings.work, calibration);

  json points = json::array();
  for (std::size_t index = 0; index < plan.grid.size() && !outcome.interrupted; ++index) {
    const SweepPoint& point = plan.grid[index];
    if (hooks.on_point_start) hooks.on_point_start(point, index, plan.grid.size());
    json entry = runner.run(point, settings.load);
    if (entry["result"].is_object()) {
      json& run = entry["result"];
      const ServerShape shape{point.mode, point.pool_size, server_cpu_count(run, settings),
                              settings.serialized_cpu};
      json prediction = model_prediction(settings.load, costs, shape);
      add_model_ratios(prediction, run);
      run["model_prediction"] = std::move(prediction);
      try {
        write_json_atomically(settings.out_dir / (point.name + ".json"), run);
        entry["file"] = point.name + ".json";
      } catch (const std::exception& failure) {
        entry["status"] = "failed";
        entry["reason"] = failure.what();
      }
    }
    if (entry["status"] == "failed") ++outcome.failed_points;
    if (entry["status"] == "interrupted") outcome.interrupted = true;
    if (hooks.on_point_done) hooks.on_point_done(point, entry);
    points.push_back(std::move(entry));
  }

  json restored = nullptr;
  if (plan.original_pool_size) {
    try {
      resize_server_pool(*plan.running, *plan.original_pool_size);
      restored = *plan.original_pool_size;
    } catch (const std::exception& failure) {
      std::fprintf(stderr, "loadgen sweep: could not restore the pool size %d: %s\n",
                   *plan.original_pool_size, failure.what());
    }
  }

  json server_command = nullptr;
  json running_server = nullptr;
  if (plan.running) {
    running_server = {{"admin", plan.running->text},
                      {"target", settings.load.target},
                      {"original_pool_size", *plan.original_pool_size},
                      {"restored_pool_size", restored}};
  } else {
    server_command =
        settings.server_command.empty() ? default_server_command() : settings.server_command;
  }
  json knee = knee_summary(points);
  outcome.document = {{"schema", kSweepSchema},
                      {"config",
                       {{"argv", settings.argv},
                        {"modes", settings.modes},
                        {"pool_sizes", settings.pool_sizes},
                        {"server_command", server_command},
                        {"running_server", running_server},
                        {"work", settings.work},
                        {"admin", settings.admin || plan.running.has_value()},
                        {"target_host", plan.host},
                        {"server_cpus", cpu_list_or_null(settings.server_cpus)},
                        {"generator_cpus", cpu_list_or_null(settings.generator_cpus)},
                        {"serialized_cpu", settings.serialized_cpu}}},
                      {"calibration", std::move(calibration)},
                      {"complete", !outcome.interrupted},
                      {"failed_points", outcome.failed_points},
                      {"knee", std::move(knee)},
                      {"points", std::move(points)}};
  write_json_atomically(settings.out_dir / "sweep.json", outcome.document);
  return outcome;
}

}  // namespace poolbench
