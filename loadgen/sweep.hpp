// The sweep: the project's main job. For every (mode, pool size) point of a grid it starts a
// server from a command template, waits until it accepts, drives the same load at it
// (run_load), stops it (SIGTERM, SIGKILL after a grace period), and records the run, the
// server's exit status and, for sleep work, what queueing theory predicts. Or, given a running
// server's admin endpoint, it resizes that one server between points (its mode is fixed).
//
// Output under the out directory: one run document per point (<mode>-pool<N>.json, schema
// poolbench.run/1 plus "server" and "model_prediction"), the server's log per point
// (<mode>-pool<N>.server.log), and sweep.json (schema poolbench.sweep/1) holding them all.
// For fixed sleep work a calibration run comes first (calibration.server.log; sweep.json
// "calibration"): one connection against one worker measures the effective service time S_eff
// (the sleep's timer slack and the loopback round trip included), which the model then uses.
// A point whose server does not start, or dies, is marked failed and the sweep goes on.
//
// Threading: run_sweep runs on the caller's thread; each point's load runs as run_load does.
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

namespace poolbench {

inline constexpr const char* kSweepSchema = "poolbench.sweep/1";

struct SweepSettings {
  LoadSettings load;  // the target's host is used; its port is each point's server port
  std::vector<std::string> modes{"inline", "call-in-thread", "defer-to-thread"};
  std::vector<int> pool_sizes{1, 2, 4, 8, 16, 32};
  // Split like a shell would split words (quotes group, no expansion), run without a shell.
  // Arguments that are exactly {port}, {mode}, {pool}, {work} or {admin_port} are replaced.
  std::string server_command;
  std::string work = "sleep:10ms";  // {work}, and the service time the model predicts with
  std::filesystem::path out_dir;
  std::chrono::milliseconds server_start_timeout{10'000};
  std::chrono::milliseconds server_stop_grace{5'000};
  // Fixed sleep work: before the grid, measure S_eff (median response time of one connection
  // against one worker) and predict with it.
  bool calibrate = true;
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
};

// The project's own server next to this loadgen binary, with every placeholder.
std::string default_server_command();

std::vector<std::string> split_command(std::string_view command);  // throws on an open quote
std::vector<std::string> substitute_placeholders(const std::vector<std::string>& words,
                                                 const std::map<std::string, std::string>& values);

// Closed loop, sleep work: X = min(N/(S+Z), c/S) and R = N/X - Z with N = connections x depth
// in flight, S the mean service time, Z the think time, c the workers (1 inline). Open loop:
// X = min(rate, c/S). S is the calibrated S_eff when given, else the work spec's mean. Null
// when there is no model (spin work, or no work).
nlohmann::json model_prediction(const LoadSettings& load, std::string_view work,
                                std::string_view mode, int pool_size,
                                std::optional<double> calibrated_service_time_us = std::nullopt);

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
  RunHooks run;  // per-interval status and the stop flag, passed to every point's run_load
};

struct SweepOutcome {
  nlohmann::json document;  // what sweep.json holds
  std::size_t failed_points = 0;
  bool interrupted = false;
};

// Throws std::invalid_argument for bad settings, std::runtime_error if out_dir is unusable.
SweepOutcome run_sweep(const SweepSettings& settings, const SweepHooks& hooks);

}  // namespace poolbench
