#include "point_runner.hpp"

#include <algorithm>
#include <cstdio>
#include <thread>

#include "process.hpp"
#include "reference_server/process_usage.hpp"
#include "result.hpp"

namespace poolbench {
namespace {

using json = nlohmann::json;

json server_record(const SweepPoint& point, const std::string& work,
                   const std::vector<std::string>& argv, const std::filesystem::path& log) {
  return {{"mode", point.mode}, {"pool_size", point.pool_size},  {"work", work},
          {"argv", argv},       {"exit_status", nullptr},        {"exit", nullptr},
          {"stop", nullptr},    {"log", log.filename().string()}};
}

// reference_server's exit status for a drain cut by --drain-timeout (its --help).
constexpr int kDrainCutExitStatus = 3;

// Stops the point's server (its whole process group) and records how it ended. Anything but a
// clean exit flags the point and is said on stderr: the run's requests were measured, but the
// server did not stop as a drained one does.
void stop_and_record_exit(ChildProcess& process, std::chrono::milliseconds grace, json& server) {
  const int wait_status = process.stop(grace);
  const int code = exit_code_of(wait_status);
  server["exit_status"] = code;
  server["exit"] = describe_wait_status(wait_status);
  const char* stop = process.was_killed()          ? "killed"
                     : code == 0                   ? "clean"
                     : code == kDrainCutExitStatus ? "drain_cut"
                                                   : "failed";
  server["stop"] = stop;
  if (server["stop"] != "clean") {
    std::fprintf(stderr, "loadgen sweep: the server of pool %s %s on stop (%s)\n",
                 server["pool_size"].dump().c_str(), server["exit"].get<std::string>().c_str(),
                 stop);
  }
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

// The server's record goes in the run document, or in the entry when there is no run (a
// search where no rate passed).
void attach_server(json& entry, json run, json server) {
  if (!run.is_object()) {
    entry["server"] = std::move(server);
    return;
  }
  run["server"] = std::move(server);
  entry["result"] = std::move(run);
}

json new_entry(const SweepPoint& point) {
  return {{"mode", point.mode}, {"pool_size", point.pool_size},
          {"status", "ok"},     {"reason", nullptr},
          {"file", nullptr},    {"result", nullptr}};
}

}  // namespace

json PointRunner::run(const SweepPoint& point, const LoadSettings& load,
                      const std::string& work) const {
  return running_ ? run_resized(point, load)
                  : run_started(point, load, work.empty() ? settings_.work : work);
}

bool PointRunner::can_change_work() const {
  return !running_ && std::find(command_.begin(), command_.end(), "{work}") != command_.end();
}

json PointRunner::run_started(const SweepPoint& point, LoadSettings load,
                              const std::string& work) const {
  const auto log_path = settings_.out_dir / (point.name + ".server.log");
  json entry = new_entry(point);
  const std::uint16_t port = pick_free_port();
  const std::uint16_t admin_port = settings_.admin ? pick_free_port() : 0;
  const auto argv =
      substitute_placeholders(command_, {{"{port}", std::to_string(port)},
                                         {"{mode}", point.mode},
                                         {"{pool}", std::to_string(point.pool_size)},
                                         {"{work}", work},
                                         {"{admin_port}", std::to_string(admin_port)}});
  json server = server_record(point, work, argv, log_path);
  std::optional<ChildProcess> process;
  try {
    process.emplace(ChildProcess::spawn(
        argv, {.stdout_path = log_path, .stderr_path = log_path, .cpus = settings_.server_cpus}));
    wait_until_accepting(*process, host_, port, settings_.server_start_timeout);
    // A server may listen on its line port before its admin port (reference_server does): the
    // "start" sample must not find the admin port closed.
    if (settings_.admin) {
      wait_until_accepting(*process, host_, admin_port, settings_.server_start_timeout);
    }
    const std::string bracketed = host_.find(':') != std::string::npos ? "[" + host_ + "]" : host_;
    load.target = bracketed + ":" + std::to_string(port);
    std::optional<AdminUrl> admin;
    if (settings_.admin) admin = parse_admin_url(bracketed + ":" + std::to_string(admin_port));
    const pid_t pid = process->pid();
    json run = measure(entry, load, admin, [pid] { return usage_of(pid); });
    stop_and_record_exit(*process, settings_.server_stop_grace, server);
    attach_server(entry, std::move(run), std::move(server));
  } catch (const std::exception& failure) {
    entry["status"] = "failed";
    entry["reason"] = (process && !process->running() ? "server did not start: " : "") +
                      std::string(failure.what());
    if (process) stop_and_record_exit(*process, settings_.server_stop_grace, server);
    entry["server"] = std::move(server);
  }
  return entry;
}

json PointRunner::run_resized(const SweepPoint& point, const LoadSettings& load) const {
  json entry = new_entry(point);
  json server = {{"mode", point.mode},     {"pool_size", point.pool_size},
                 {"work", settings_.work}, {"running", running_->text},
                 {"exit_status", nullptr}, {"exit", nullptr},
                 {"stop", nullptr}};
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
    attach_server(entry, std::move(run), std::move(server));
  } catch (const std::exception& failure) {
    entry["status"] = "failed";
    entry["reason"] = failure.what();
    entry["server"] = std::move(server);
  }
  return entry;
}

json PointRunner::measure(json& entry, const LoadSettings& load,
                          const std::optional<AdminUrl>& admin,
                          UsageRecorder::Source server_usage) const {
  if (settings_.search && search_hooks_) return search(entry, load, admin, server_usage);
  return measure_once(entry, load, admin, server_usage);
}

// The point's search: every trial is one measure_once against the same server. A search that
// ends with the target gone marks the point failed.
json PointRunner::search(json& entry, const LoadSettings& load,
                         const std::optional<AdminUrl>& admin,
                         const UsageRecorder::Source& server_usage) const {
  if (running_) std::this_thread::sleep_for(settings_.cool_down);
  SearchSettings search = *settings_.search;
  if (start_rate_ > 0)
    search.start_rate = std::clamp(start_rate_, search.min_rate, search.max_rate);
  const TrialRunner run_trial = [&](const LoadSettings& trial_load) {
    TrialRun trial;
    json ignored = new_entry({});
    trial.document = measure_once(ignored, trial_load, admin, server_usage, &trial.result);
    return trial;
  };
  SearchResult found = run_search(load, search, run_trial, *search_hooks_);
  if (found.outcome == SearchOutcome::kInterrupted) entry["status"] = "interrupted";
  if (found.outcome == SearchOutcome::kTargetFailed) {
    entry["status"] = "failed";
    entry["reason"] = found.document["message"];
  }
  entry["search"] = std::move(found.document);
  return found.best_passing_run;
}

// Runs the load (sampling the server's /stats at `admin`, if given, as `loadgen run --admin`
// does, and the server's and our CPU and context switches), marks `entry` interrupted or
// failed as the run ended, and returns the run document (and the result, if asked).
json PointRunner::measure_once(json& entry, const LoadSettings& load,
                               const std::optional<AdminUrl>& admin,
                               const UsageRecorder::Source& server_usage,
                               RunResult* result_out) const {
  std::optional<AdminSampler> sampler;
  std::vector<UsageRecorder::NamedSource> others;
  for (const auto& [name, pid] : settings_.measured_processes)
    others.emplace_back(name, [pid = pid] { return usage_of(pid); });
  UsageRecorder usage(server_usage, std::move(others));
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
  RunResult result = run_load(load, hooks);
  json server_stats;
  if (sampler) {
    server_stats = sampler->finish(result);
    if (AdminSampler::incomplete(server_stats)) result.add_reason("server_stats_incomplete");
  }
  json run = to_json(result);
  run["resources"] = usage.finish();
  if (sampler) run["server_stats"] = std::move(server_stats);
  if (result.end == RunEnd::kInterrupted) {
    entry["status"] = "interrupted";
  } else if (result.end == RunEnd::kConnectionsLost) {
    entry["status"] = "failed";
    entry["reason"] = connections_lost_cause(result);
  }
  if (result_out) *result_out = result;
  return run;
}

}  // namespace poolbench
