#include "sweep.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <system_error>

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
                      int pool_size) {
  const WorkSpec spec = WorkSpec::parse(work);
  if (spec.kind != WorkSpec::Kind::sleep) return nullptr;  // CPU-bound work shares the cores
  const double service_s = spec.mean_nanoseconds() / 1e9;
  if (service_s <= 0) return nullptr;
  const double workers = is_inline(mode) ? 1.0 : static_cast<double>(pool_size);
  const double capacity_rps = workers / service_s;
  json prediction = {
      {"model", nullptr},
      {"workers", workers},
      {"service_time_us", service_s * 1e6},
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

SweepOutcome run_sweep(const SweepSettings& settings, const SweepHooks& hooks) {
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
  const auto command = split_command(settings.server_command.empty() ? default_server_command()
                                                                     : settings.server_command);
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
  json points = json::array();
  for (std::size_t index = 0; index < grid.size() && !outcome.interrupted; ++index) {
    const SweepPoint& point = grid[index];
    if (hooks.on_point_start) hooks.on_point_start(point, index, grid.size());
    const auto log_path = settings.out_dir / (point.name + ".server.log");
    json entry = {{"mode", point.mode}, {"pool_size", point.pool_size},
                  {"status", "ok"},     {"reason", nullptr},
                  {"file", nullptr},    {"result", nullptr}};

    const std::uint16_t port = pick_free_port();
    const auto argv = substitute_placeholders(command, {{"{port}", std::to_string(port)},
                                                        {"{mode}", point.mode},
                                                        {"{pool}", std::to_string(point.pool_size)},
                                                        {"{work}", settings.work}});
    json server = server_record(point, settings.work, argv, log_path);
    std::optional<ChildProcess> process;
    try {
      process.emplace(
          ChildProcess::spawn(argv, {.stdout_path = log_path, .stderr_path = log_path}));
      wait_until_accepting(*process, host, port, settings.server_start_timeout);
    } catch (const std::exception& failure) {
      entry["status"] = "failed";
      entry["reason"] = std::string("server did not start: ") + failure.what();
    }

    if (entry["status"] == "ok") {
      LoadSettings load = settings.load;
      load.target = (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
                    std::to_string(port);
      try {
        const RunResult result = run_load(load, hooks.run);
        json run = to_json(result);
        if (result.end == RunEnd::kInterrupted) {
          entry["status"] = "interrupted";
          outcome.interrupted = true;
        } else if (result.end == RunEnd::kConnectionsLost) {
          entry["status"] = "failed";
          entry["reason"] = "the server closed every connection mid-run";
        }
        record_exit(server, process->stop(settings.server_stop_grace));
        run["server"] = server;
        json prediction = model_prediction(load, settings.work, point.mode, point.pool_size);
        add_ratios(prediction, run);
        run["model_prediction"] = prediction;
        write_json_atomically(settings.out_dir / (point.name + ".json"), run);
        entry["file"] = point.name + ".json";
        entry["result"] = std::move(run);
      } catch (const std::exception& failure) {
        entry["status"] = "failed";
        entry["reason"] = failure.what();
      }
    }
    if (process && process->running())
      record_exit(server, process->stop(settings.server_stop_grace));
    if (entry["result"].is_null()) entry["server"] = server;
    if (entry["status"] == "failed") ++outcome.failed_points;
    if (hooks.on_point_done) hooks.on_point_done(point, entry);
    points.push_back(std::move(entry));
  }

  outcome.document = {
      {"schema", kSweepSchema},
      {"config",
       {{"argv", settings.argv},
        {"modes", settings.modes},
        {"pool_sizes", settings.pool_sizes},
        {"server_command",
         settings.server_command.empty() ? default_server_command() : settings.server_command},
        {"work", settings.work},
        {"target_host", host}}},
      {"complete", !outcome.interrupted},
      {"failed_points", outcome.failed_points},
      {"points", std::move(points)}};
  write_json_atomically(settings.out_dir / "sweep.json", outcome.document);
  return outcome;
}

}  // namespace poolbench
