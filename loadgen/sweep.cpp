#include "sweep.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <system_error>

#include "admin_client.hpp"
#include "process.hpp"
#include "result.hpp"
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

// Measured / predicted, for every predicted figure the run also measured.
void add_ratios(json& prediction, const json& run) {
  if (prediction.is_null()) return;
  const double throughput = run.value("throughput_rps", 0.0);
  if (prediction.value("throughput_rps", 0.0) > 0) {
    prediction["throughput_ratio"] = throughput / prediction["throughput_rps"].get<double>();
  }
  if (prediction.contains("mean_latency_us") && prediction["mean_latency_us"].get<double>() > 0 &&
      run.contains("latency_us")) {
    prediction["mean_latency_ratio"] =
        run["latency_us"].value("mean", 0.0) / prediction["mean_latency_us"].get<double>();
  }
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

  // S_eff, as METHODOLOGY.md asks: the response time of one connection against one worker is
  // the effective service time (timer slack and the loopback round trip included). The median,
  // not the mean: on a shared machine a few scheduling outliers would inflate the mean, and the
  // service time of fixed sleep work has no spread of its own.
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
    json calibration = {
        {"status", entry["status"]},
        {"reason", entry["reason"]},
        {"mode", point.mode},
        {"pool_size", 1},
        {"connections", 1},
        {"service_time_us", nullptr},
        {"nominal_service_time_us", WorkSpec::parse(settings_.work).mean_nanoseconds() / 1e3}};
    if (entry["result"].is_object()) {
      const json& latency = entry["result"]["latency_us"];
      calibration["service_time_us"] = latency.value("p50", 0.0);
      calibration["mean_us"] = latency.value("mean", 0.0);
      calibration["p50_us"] = latency.value("p50", 0);
      calibration["p99_us"] = latency.value("p99", 0);
      calibration["requests"] = entry["result"].value("completed", 0);
      if (calibration["requests"].get<int>() == 0) calibration["status"] = "failed";
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
      process.emplace(
          ChildProcess::spawn(argv, {.stdout_path = log_path, .stderr_path = log_path}));
      wait_until_accepting(*process, host_, port, settings_.server_start_timeout);
      const std::string bracketed =
          host_.find(':') != std::string::npos ? "[" + host_ + "]" : host_;
      load.target = bracketed + ":" + std::to_string(port);
      std::optional<AdminUrl> admin;
      if (settings_.admin) admin = parse_admin_url(bracketed + ":" + std::to_string(admin_port));
      json run = measure(entry, load, admin);
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
      json run = measure(entry, load, running_);
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
  // does), marks `entry` interrupted or failed as the run ended, and returns the run document.
  json measure(json& entry, const LoadSettings& load, const std::optional<AdminUrl>& admin) const {
    std::optional<AdminSampler> sampler;
    RunHooks hooks = hooks_;
    if (admin) {
      sampler.emplace(*admin);
      sampler->sample(0, "start");
      hooks.on_interval = [this, &sampler](const IntervalStats& interval) {
        if (hooks_.on_interval) hooks_.on_interval(interval);
        sampler->on_interval(interval);
      };
    }
    const RunResult result = run_load(load, hooks);
    json run = to_json(result);
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

json model_prediction(const LoadSettings& load, std::string_view work, std::string_view mode,
                      int pool_size, std::optional<double> calibrated_service_time_us) {
  const WorkSpec spec = WorkSpec::parse(work);
  if (spec.kind != WorkSpec::Kind::sleep) return nullptr;  // CPU-bound work shares the cores
  const double nominal_s = spec.mean_nanoseconds() / 1e9;
  const double service_s =
      calibrated_service_time_us ? *calibrated_service_time_us / 1e6 : nominal_s;
  if (service_s <= 0) return nullptr;
  const double workers = is_inline(mode) ? 1.0 : static_cast<double>(pool_size);
  const double capacity_rps = workers / service_s;
  json prediction = {
      {"model", nullptr},
      {"workers", workers},
      {"service_time_us", service_s * 1e6},
      {"service_time_source", calibrated_service_time_us ? "calibrated" : "nominal"},
      {"nominal_service_time_us", nominal_s * 1e6},
      {"exact", spec.distribution == WorkSpec::Distribution::fixed && spec.outliers.empty()}};
  if (load.model() == LoadModel::kClosed) {
    const double in_flight = static_cast<double>(load.connections) * load.depth;
    const double think_s = std::chrono::duration<double>(load.think_time).count();
    const double throughput = std::min(in_flight / (service_s + think_s), capacity_rps);
    prediction["model"] = "closed: X = min(N/(S+Z), c/S), R = N/X - Z";
    prediction["in_flight"] = in_flight;
    prediction["throughput_rps"] = throughput;
    prediction["mean_latency_us"] = (in_flight / throughput - think_s) * 1e6;
  } else {
    prediction["model"] = "open: X = min(rate, c/S); utilization = rate / (c/S)";
    prediction["throughput_rps"] = std::min(load.rate, capacity_rps);
    prediction["utilization"] = load.rate / capacity_rps;
  }
  return prediction;
}

SweepOutcome run_sweep(const SweepSettings& requested, const SweepHooks& hooks) {
  SweepSettings settings = requested;
  // A running server: its mode and work are what it reports, and the pool size it has now is
  // put back when the sweep ends.
  std::optional<AdminUrl> running;
  std::optional<int> original_pool_size;
  if (!settings.running_server_admin.empty()) {
    running = parse_admin_url(settings.running_server_admin);
    const json stats = fetch_server_stats(*running);
    if (!stats.contains("mode") || !stats.contains("work") || !stats.contains("pool")) {
      throw std::runtime_error(running->text +
                               "/stats does not say the server's mode, work and pool size: is "
                               "it reference_server's admin endpoint?");
    }
    settings.modes = {stats["mode"].get<std::string>()};
    settings.work = stats["work"].get<std::string>();
    original_pool_size = stats["pool"]["size"].get<int>();
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
  auto command = split_command(settings.server_command.empty() ? default_server_command()
                                                               : settings.server_command);
  if (settings.admin && !running &&
      std::find(command.begin(), command.end(), "{admin_port}") == command.end()) {
    if (!settings.server_command.empty()) {
      throw std::invalid_argument(
          "--admin needs {admin_port} in --server-cmd (e.g. "
          "--admin-port {admin_port})");
    }
    command.insert(command.end(), {"--admin-port", "{admin_port}"});
  }
  settings.load.validate();
  const std::string host = parse_target(settings.load.target).host;

  std::error_code error;
  std::filesystem::create_directories(settings.out_dir, error);
  if (error || ::access(settings.out_dir.c_str(), W_OK | X_OK) != 0) {
    throw std::runtime_error("cannot write to output directory " + settings.out_dir.string() +
                             (error ? ": " + error.message() : ""));
  }

  std::vector<SweepPoint> grid;
  for (const auto& mode : settings.modes) {
    for (int pool : settings.pool_sizes) {
      grid.push_back({mode, pool, mode + "-pool" + std::to_string(pool)});
    }
  }

  SweepOutcome outcome;
  const PointRunner runner{settings, command, host, running, hooks.run};
  json calibration = nullptr;
  std::optional<double> service_time_us;
  const WorkSpec work = WorkSpec::parse(settings.work);
  if (settings.calibrate && work.kind == WorkSpec::Kind::sleep &&
      work.distribution == WorkSpec::Distribution::fixed && work.outliers.empty()) {
    calibration = runner.calibrate();
    if (hooks.on_calibrated) hooks.on_calibrated(calibration);
    if (calibration["status"] == "ok") service_time_us = calibration["service_time_us"];
    outcome.interrupted = calibration["status"] == "interrupted";
  }

  json points = json::array();
  for (std::size_t index = 0; index < grid.size() && !outcome.interrupted; ++index) {
    const SweepPoint& point = grid[index];
    if (hooks.on_point_start) hooks.on_point_start(point, index, grid.size());
    json entry = runner.run(point, settings.load);
    if (entry["result"].is_object()) {
      json& run = entry["result"];
      json prediction = model_prediction(settings.load, settings.work, point.mode, point.pool_size,
                                         service_time_us);
      add_ratios(prediction, run);
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
  if (original_pool_size) {
    try {
      resize_server_pool(*running, *original_pool_size);
      restored = *original_pool_size;
    } catch (const std::exception& failure) {
      std::fprintf(stderr, "loadgen sweep: could not restore the pool size %d: %s\n",
                   *original_pool_size, failure.what());
    }
  }

  json server_command = nullptr;
  json running_server = nullptr;
  if (running) {
    running_server = {{"admin", running->text},
                      {"target", settings.load.target},
                      {"original_pool_size", *original_pool_size},
                      {"restored_pool_size", restored}};
  } else {
    server_command =
        settings.server_command.empty() ? default_server_command() : settings.server_command;
  }
  outcome.document = {{"schema", kSweepSchema},
                      {"config",
                       {{"argv", settings.argv},
                        {"modes", settings.modes},
                        {"pool_sizes", settings.pool_sizes},
                        {"server_command", server_command},
                        {"running_server", running_server},
                        {"work", settings.work},
                        {"admin", settings.admin || running.has_value()},
                        {"target_host", host}}},
                      {"calibration", std::move(calibration)},
                      {"complete", !outcome.interrupted},
                      {"failed_points", outcome.failed_points},
                      {"points", std::move(points)}};
  write_json_atomically(settings.out_dir / "sweep.json", outcome.document);
  return outcome;
}

}  // namespace poolbench
