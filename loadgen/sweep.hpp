// The sweep: the project's main job. For every (mode, pool size) point of a grid it starts a
// server from a command template, waits until it accepts, drives the same load at it
// (run_load), stops it (SIGTERM, SIGKILL after a grace period), and records the run, the
// server's exit status and what the queueing model predicts (model.hpp; loadgen/README.md §7). Or,
// given a running server's admin endpoint, it resizes that one server between points (its mode is
// fixed).
//
// Output under the out directory: one run document per point (<mode>-pool<N>.json, schema
// poolbench.run/1 plus "server", "resources" and "model_prediction"), the server's log per
// point (<mode>-pool<N>.server.log), and sweep.json (schema poolbench.sweep/2) holding them
// all with the knee per mode. A calibration run comes first (calibration.server.log; sweep.json
// "calibration"): one connection against one worker measures what a request costs when it is
// alone, its time S (the sleep's timer slack and the loopback round trip included) and the
// server's CPU time c, which the model (model.hpp) then uses. A point whose server does not
// start, or dies, is marked failed and the sweep goes on.
//
// CPUs: the generator may pin itself (generator_cpus) and the servers it starts
// (server_cpus), so that on a small machine the two do not take each other's CPU time; the
// server's allowed CPUs are the model's K.
//
// Threading: run_sweep runs on the caller's thread, which it may pin (before run_load starts
// any thread, so the generator's threads inherit it); each point's load runs as run_load does.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine.hpp"
#include "search.hpp"

namespace poolbench {

inline constexpr const char* kSweepSchema = "poolbench.sweep/2";

struct SweepSettings {
  LoadSettings load;  // the target's host is used; its port is each point's server port
  std::vector<std::string> modes{"inline", "call-in-thread", "defer-to-thread"};
  std::vector<int> pool_sizes{1, 2, 4, 8, 16, 32};
  // Split like a shell would split words (quotes group, no expansion), run without a shell.
  // Arguments that are exactly {port}, {mode}, {pool}, {work} or {admin_port} are replaced.
  std::string server_command;
  std::string work = "sleep:10ms";  // {work}, and the costs the model predicts with
  std::filesystem::path out_dir;
  std::chrono::milliseconds server_start_timeout{10'000};
  std::chrono::milliseconds server_stop_grace{5'000};
  // Before the grid, measure what one request costs alone (one connection, one worker): S, the
  // median response time (the mean when the work's cost varies), and c, the server's CPU time
  // per request; the model predicts with them.
  bool calibrate = true;
  // Pin this generator to these CPUs, and start each server on server_cpus (empty: the CPUs
  // this process had before pinning itself). Throws std::invalid_argument for CPUs not
  // available to this process.
  std::vector<int> generator_cpus;
  std::vector<int> server_cpus;
  // The server runs its CPU work under one lock (CPython's GIL: the Twisted peer), so the
  // model allows it one CPU whatever its affinity.
  bool serialized_cpu = false;
  // Each server also gets an admin port ({admin_port}; the default command passes it as
  // --admin-port) and the sweep samples its GET /stats every interval into the point's
  // "server_stats", as `loadgen run --admin` does (results/README.md).
  bool admin = false;
  // A server already running instead of one started per point: its admin endpoint
  // (http://HOST:PORT). The sweep takes the mode and work from its GET /stats, resizes its pool
  // before each point (POST /pool?size=N), samples /stats as `admin` does, and puts the pool
  // size it found back at the end. The load goes to load.target. server_command is unused.
  std::string running_server_admin;
  std::vector<std::string> argv;  // the exact command line, for the record
  // Instead of one run per point, search each point's SLO capacity (search.hpp): the point's
  // result is then the run at the highest passing rate, its search <name>.search.json. Inline
  // mode is searched at the smallest pool size only (its pool does no work). Each point after a
  // mode's first starts at the previous point's capacity.
  std::optional<SearchSettings> search;
  // --running: a pause before each point after the resize, so that the previous point's
  // backlog is gone; each trial's warm-up re-warms the server.
  std::chrono::milliseconds cool_down{1'000};
  // Other processes whose CPU time and context switches every point records beside the
  // server's (the run's resources.processes.<name>), e.g. a database the servers call.
  std::vector<std::pair<std::string, pid_t>> measured_processes;
  // JSON documents kept in sweep.json's config.attached.<name>, e.g. the database's settings.
  nlohmann::json attached = nlohmann::json::object();
};

// The project's own server next to this loadgen binary, with every placeholder.
std::string default_server_command();

std::vector<std::string> split_command(std::string_view command);  // throws on an open quote
std::vector<std::string> substitute_placeholders(const std::vector<std::string>& words,
                                                 const std::map<std::string, std::string>& values);

struct SweepPoint {
  std::string mode;
  int pool_size = 0;
  std::string name;  // "<mode>-pool<N>", the file stem
};

struct SweepHooks {
  std::function<void(const SweepPoint&, std::size_t index, std::size_t total)> on_point_start;
  // `point` is the point's entry in sweep.json (status, reason, file, result).
  std::function<void(const SweepPoint&, const nlohmann::json& point)> on_point_done;
  // After the calibration run, with sweep.json's "calibration" object.
  std::function<void(const nlohmann::json& calibration)> on_calibrated;
  SearchHooks search;  // with SweepSettings::search: progress per trial
  RunHooks run;        // per-interval status and the stop flag, passed to every point's run_load
};

struct SweepOutcome {
  nlohmann::json document;  // what sweep.json holds
  std::size_t failed_points = 0;
  bool interrupted = false;
};

// Throws std::invalid_argument for bad settings, std::runtime_error if out_dir is unusable.
SweepOutcome run_sweep(const SweepSettings& settings, const SweepHooks& hooks);

}  // namespace poolbench
