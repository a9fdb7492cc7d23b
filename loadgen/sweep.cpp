#include "sweep.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <system_error>

#include "admin_client.hpp"
#include "calibration.hpp"
#include "model.hpp"
#include "point_runner.hpp"
#include "process.hpp"
#include "reference_server/process_usage.hpp"
#include "reference_server/work.hpp"
#include "result.hpp"

namespace poolbench {
namespace {

using json = nlohmann::json;

std::filesystem::path own_executable() {
  std::error_code error;
  auto path = std::filesystem::read_symlink("/proc/self/exe", error);
  return error ? std::filesystem::path() : path;
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
  const int smallest_pool =
      *std::min_element(settings.pool_sizes.begin(), settings.pool_sizes.end());
  for (const auto& mode : settings.modes) {
    for (int pool : settings.pool_sizes) {
      // A search costs minutes; inline mode's pool does no work, so one size says it all.
      if (settings.search && mode == "inline" && pool != smallest_pool) continue;
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

void prepare_output_dir(const std::filesystem::path& dir) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error || ::access(dir.c_str(), W_OK | X_OK) != 0) {
    throw std::runtime_error("cannot write to output directory " + dir.string() +
                             (error ? ": " + error.message() : ""));
  }
}

// A searched point: the whole search in <name>.search.json, its outcome and capacity in the
// entry (sweep.json stays readable).
void keep_search(json& entry, const SweepPoint& point, const std::filesystem::path& out_dir) {
  const json document = std::move(entry["search"]);
  json summary = {{"file", point.name + ".search.json"},
                  {"outcome", document["outcome"]},
                  {"message", document["message"]},
                  {"capacity", document["capacity"]},
                  {"best_achieved_rps", document["best_achieved_rps"]},
                  {"probes", document["cost"]["probes"]},
                  {"wall_s", document["cost"]["wall_s"]}};
  try {
    write_json_atomically(out_dir / (point.name + ".search.json"), document);
  } catch (const std::exception& failure) {
    entry["status"] = "failed";
    entry["reason"] = failure.what();
    summary["file"] = nullptr;
  }
  entry["search"] = std::move(summary);
}

// Runs one grid point, puts the model's prediction beside its result and writes its JSON. The
// sweep.json entry of the point.
json run_point(const PointRunner& runner, const SweepPoint& point, const SweepSettings& settings,
               const RequestCosts& costs) {
  json entry = runner.run(point, settings.load);
  if (entry.contains("search")) keep_search(entry, point, settings.out_dir);
  if (!entry["result"].is_object()) return entry;
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
  return entry;
}

// A search starts at the capacity the mode's previous point found (pools grow along the grid,
// and capacity with them); 0: the search's own start rate.
double start_rate_for(const SweepPoint& point, const json& points) {
  if (points.empty()) return 0;
  const json& previous = points.back();
  if (previous["mode"] != point.mode || !previous.contains("search")) return 0;
  const json& low = previous["search"]["capacity"]["low_rps"];
  return low.is_number() ? low.get<double>() : 0;
}

// Puts a running server's pool back as the sweep found it: the size restored, or null.
json restore_pool(const SweepPlan& plan) {
  if (!plan.original_pool_size) return nullptr;
  try {
    resize_server_pool(*plan.running, *plan.original_pool_size);
    return *plan.original_pool_size;
  } catch (const std::exception& failure) {
    std::fprintf(stderr, "loadgen sweep: could not restore the pool size %d: %s\n",
                 *plan.original_pool_size, failure.what());
    return nullptr;
  }
}

// The sweep's `config` object (results/README.md, sweep/2).
json sweep_config(const SweepSettings& settings, const SweepPlan& plan, json restored) {
  json server_command = nullptr;
  json running_server = nullptr;
  if (plan.running) {
    running_server = {{"admin", plan.running->text},
                      {"target", settings.load.target},
                      {"original_pool_size", *plan.original_pool_size},
                      {"restored_pool_size", std::move(restored)}};
  } else {
    server_command =
        settings.server_command.empty() ? default_server_command() : settings.server_command;
  }
  return {{"argv", settings.argv},
          {"modes", settings.modes},
          {"pool_sizes", settings.pool_sizes},
          {"server_command", server_command},
          {"running_server", running_server},
          {"work", settings.work},
          {"admin", settings.admin || plan.running.has_value()},
          {"target_host", plan.host},
          {"server_cpus", cpu_list_or_null(settings.server_cpus)},
          {"generator_cpus", cpu_list_or_null(settings.generator_cpus)},
          {"serialized_cpu", settings.serialized_cpu},
          {"attached", settings.attached},
          {"search", settings.search ? json{{"slo", settings.search->slo.to_json()},
                                            {"criteria", settings.search->to_json()}}
                                     : json(nullptr)}};
}

}  // namespace

SweepOutcome run_sweep(const SweepSettings& requested, const SweepHooks& hooks) {
  SweepSettings settings = requested;
  const SweepPlan plan = plan_sweep(settings);
  prepare_output_dir(settings.out_dir);
  place_on_cpus(settings);

  SweepOutcome outcome;
  PointRunner runner{settings, plan.command, plan.host, plan.running, hooks.run};
  json calibration = nullptr;
  if (settings.calibrate && !WorkSpec::parse(settings.work).parts.empty()) {
    calibration = calibrate(runner, settings);
    if (hooks.on_calibrated) hooks.on_calibrated(calibration);
    outcome.interrupted = calibration["status"] == "interrupted";
  }
  const RequestCosts costs = request_costs(settings.work, calibration);

  json points = json::array();
  if (settings.search) runner.enable_search(hooks.search);
  for (std::size_t index = 0; index < plan.grid.size() && !outcome.interrupted; ++index) {
    const SweepPoint& point = plan.grid[index];
    if (hooks.on_point_start) hooks.on_point_start(point, index, plan.grid.size());
    runner.set_start_rate(start_rate_for(point, points));
    json entry = run_point(runner, point, settings, costs);
    if (entry["status"] == "failed") ++outcome.failed_points;
    if (entry["status"] == "interrupted") outcome.interrupted = true;
    if (hooks.on_point_done) hooks.on_point_done(point, entry);
    points.push_back(std::move(entry));
  }

  json config = sweep_config(settings, plan, restore_pool(plan));
  json knee = knee_summary(points);
  outcome.document = {{"schema", kSweepSchema},
                      {"config", std::move(config)},
                      {"calibration", std::move(calibration)},
                      {"complete", !outcome.interrupted},
                      {"failed_points", outcome.failed_points},
                      {"knee", std::move(knee)},
                      {"points", std::move(points)}};
  write_json_atomically(settings.out_dir / "sweep.json", outcome.document);
  return outcome;
}

}  // namespace poolbench
