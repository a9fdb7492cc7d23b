#include "calibration.hpp"

#include <algorithm>

#include "reference_server/work.hpp"

namespace poolbench {
namespace {

using json = nlohmann::json;

LoadSettings short_closed_loop(const LoadSettings& sweep_load, int connections, int depth,
                               std::chrono::nanoseconds duration) {
  LoadSettings load = sweep_load;
  load.connections = connections;
  load.depth = depth;
  load.rate = 0;
  load.think_time = {};
  load.requests = 0;
  load.duration = std::min(load.duration, duration);
  load.warmup = std::min<std::chrono::nanoseconds>(load.warmup, std::chrono::milliseconds(200));
  return load;
}

const json& server_resources(const json& entry) {
  static const json none;
  const json& result = entry["result"];
  if (!result.is_object() || !result["resources"].is_object()) return none;
  return result["resources"]["server"];
}

// The second run: no work, the CPUs saturated by requests that each go to a worker of their own
// and back (a pool as large as the connections, one request in flight on each), so every request
// pays the hand-offs and wake-ups the real work's requests pay when the server is busy; deeper
// pipelines would batch them away and understate c. The server's CPU per request, or null.
json measure_busy_overhead(const PointRunner& runner, const SweepSettings& settings,
                           const std::string& mode) {
  const int connections = std::clamp(settings.load.connections, 8, 64);
  const SweepPoint point{mode, connections, "calibration-overhead"};
  const LoadSettings load =
      short_closed_loop(settings.load, connections, 1, std::chrono::seconds(1));
  const json entry = runner.run(point, load, "none");
  json overhead = {
      {"status", entry["status"]},    {"reason", entry["reason"]},       {"mode", mode},
      {"pool_size", connections},     {"connections", load.connections}, {"depth", load.depth},
      {"cpu_us_per_request", nullptr}};
  const json& server = server_resources(entry);
  if (server.is_object() && server["cpu_us_per_request"].is_number()) {
    overhead["cpu_us_per_request"] = server["cpu_us_per_request"];
    overhead["utilization"] = server["utilization"];
    overhead["throughput_rps"] = entry["result"]["throughput_rps"];
  } else if (overhead["status"] == "ok") {
    overhead["status"] = "failed";
    overhead["reason"] = "the server's CPU time was unreadable";
  }
  return overhead;
}

// A request with no work, alone: the loopback round trip and the server's hand-offs, the part
// of S that does not hold a worker. Its median, or null.
json measure_round_trip(const PointRunner& runner, const SweepSettings& settings,
                        const std::string& mode) {
  const SweepPoint point{mode, 1, "calibration-round-trip"};
  const json entry = runner.run(
      point, short_closed_loop(settings.load, 1, 1, std::chrono::milliseconds(500)), "none");
  if (entry["status"] != "ok" || !entry["result"].is_object() ||
      entry["result"].value("completed", 0) == 0) {
    return nullptr;
  }
  return entry["result"]["latency_us"].value("p50", 0.0);
}

}  // namespace

json calibrate(const PointRunner& runner, const SweepSettings& settings) {
  const bool pool_mode = std::any_of(settings.modes.begin(), settings.modes.end(),
                                     [](const std::string& mode) { return mode != "inline"; });
  const SweepPoint point{pool_mode ? "call-in-thread" : "inline", 1, "calibration"};
  const json entry =
      runner.run(point, short_closed_loop(settings.load, 1, 1, std::chrono::seconds(2)));
  const WorkSpec work = WorkSpec::parse(settings.work);
  const char* statistic = work.is_fixed() ? "p50" : "mean";
  json calibration = {{"status", entry["status"]},
                      {"reason", entry["reason"]},
                      {"mode", point.mode},
                      {"pool_size", 1},
                      {"connections", 1},
                      {"service_time_us", nullptr},
                      {"service_time_statistic", statistic},
                      {"cpu_time_us", nullptr},
                      {"cpu_time_source", nullptr},
                      {"cpu_time_alone_us", nullptr},
                      {"overhead", nullptr},
                      {"round_trip_us", nullptr},
                      {"nominal_service_time_us", work.mean_nanoseconds() / 1e3},
                      {"nominal_cpu_time_us", work.mean_cpu_nanoseconds() / 1e3}};
  if (!entry["result"].is_object()) return calibration;
  const json& latency = entry["result"]["latency_us"];
  calibration["service_time_us"] = latency.value(statistic, 0.0);
  calibration["mean_us"] = latency.value("mean", 0.0);
  calibration["p50_us"] = latency.value("p50", 0);
  calibration["p99_us"] = latency.value("p99", 0);
  calibration["requests"] = entry["result"].value("completed", 0);
  const json& alone = server_resources(entry);
  if (alone.is_object()) calibration["cpu_time_alone_us"] = alone["cpu_us_per_request"];
  if (calibration["requests"].get<int>() == 0 || !calibration["cpu_time_alone_us"].is_number()) {
    calibration["status"] = "failed";
    if (calibration["reason"].is_null()) {
      calibration["reason"] = "no request completed, or the server's CPU time was unreadable";
    }
    return calibration;
  }
  calibration["cpu_time_us"] = calibration["cpu_time_alone_us"];
  calibration["cpu_time_source"] = "alone";
  if (calibration["status"] == "ok" && runner.can_change_work()) {
    calibration["round_trip_us"] = measure_round_trip(runner, settings, point.mode);
    json overhead = measure_busy_overhead(runner, settings, point.mode);
    if (overhead["status"] == "ok") {
      calibration["cpu_time_us"] =
          work.mean_cpu_nanoseconds() / 1e3 + overhead["cpu_us_per_request"].get<double>();
      calibration["cpu_time_source"] = "spin parts + busy overhead";
    }
    if (overhead["status"] == "interrupted") calibration["status"] = "interrupted";
    calibration["overhead"] = std::move(overhead);
  }
  return calibration;
}

RequestCosts request_costs(const std::string& work, const json& calibration) {
  if (calibration.is_object() && calibration["status"] == "ok") {
    const json& round_trip =
        calibration.contains("round_trip_us") ? calibration["round_trip_us"] : json();
    return {calibration["service_time_us"].get<double>() / 1e6,
            calibration["cpu_time_us"].get<double>() / 1e6, "calibrated",
            round_trip.is_number() ? round_trip.get<double>() / 1e6 : 0.0};
  }
  const WorkSpec spec = WorkSpec::parse(work);
  return {spec.mean_nanoseconds() / 1e9, spec.mean_cpu_nanoseconds() / 1e9, "nominal"};
}

}  // namespace poolbench
