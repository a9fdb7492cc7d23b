// `loadgen sweep` for real: it starts real reference_server processes (or resizes a running
// one) and writes its files.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "documented_schema.hpp"
#include "process.hpp"
#include "process_usage.hpp"
#include "sanitized.hpp"
#include "server_process.hpp"

namespace poolbench {
namespace {

using json = nlohmann::json;

struct Sweep {
  int exit_code;
  std::filesystem::path out;
};

Sweep run_sweep_process(const std::string& name, std::vector<std::string> flags,
                        std::chrono::seconds limit = std::chrono::seconds(120)) {
  const auto out = std::filesystem::temp_directory_path() /
                   ("poolbench-sweep-" + std::to_string(::getpid()) + "-" + name);
  std::filesystem::remove_all(out);
  std::vector<std::string> argv{POOLBENCH_LOADGEN_BIN, "sweep", "--quiet", "--out", out.string()};
  argv.insert(argv.end(), flags.begin(), flags.end());
  auto process = ChildProcess::spawn(
      argv, {.stdout_path = "/dev/null", .stderr_path = "/dev/null", .cpus = {}});
  const auto status = process.wait_for(limit);
  EXPECT_TRUE(status.has_value()) << "the sweep did not finish";
  return {status ? exit_code_of(*status) : -1, out};
}

// A server started for --running: an admin port on 0, announced in a file named after `name`.
std::filesystem::path admin_port_file(const std::string& name) {
  return std::filesystem::temp_directory_path() /
         ("poolbench-sweep-" + name + "-" + std::to_string(::getpid()) + ".admin-port");
}
std::vector<std::string> with_admin_port(std::vector<std::string> flags, const std::string& name) {
  flags.insert(flags.end(),
               {"--admin-port", "0", "--admin-port-file", admin_port_file(name).string()});
  return flags;
}
std::string admin_url(testing::ServerProcess& server, const std::string& name) {
  const auto port =
      wait_for_port_file(server.process(), admin_port_file(name), std::chrono::seconds(10));
  std::filesystem::remove(admin_port_file(name));
  return "http://127.0.0.1:" + std::to_string(port);
}

json read_json(const std::filesystem::path& path) {
  std::ifstream in(path);
  return json::parse(in);
}

// Whether a probe of a search failed only because this generator fell behind its own schedule
// (no other reason, in any trial): a loadgen starved of CPU on a busy machine measures itself
// there, not the server, and the search then walks below what the pool can do. (Above the
// pool's capacity, sends also wait for a free slot; such probes fail for the SLO too.)
bool some_probe_failed_only_behind_schedule(const json& search) {
  const json only_invalid = json::array({"run_invalid"});
  const json only_lag = json::array({"schedule_lag_exceeded"});
  for (const json& probe : search["probes"]) {
    if (probe["pass"] == true) continue;
    for (const json& trial : probe["trials"]) {
      if (trial["reasons"] == only_invalid && trial["run_reasons"] == only_lag) return true;
    }
  }
  return false;
}

// One line per probe (rate, verdict, reasons, the SLO percentile and its interval): what a failed
// comparison of capacities needs to be understood from a CI log alone.
std::string probes_of(const json& search) {
  std::string text;
  for (const json& probe : search["probes"]) {
    text += "\n  " + probe["rate_rps"].dump() + " rps " + (probe["pass"] == true ? "pass" : "fail");
    for (const json& trial : probe["trials"]) {
      text += " | " + trial["reasons"].dump() + " run " + trial["run_reasons"].dump() + " slo_us " +
              trial["slo_value_us"].dump() + " ci " + trial["ci95_us"].dump() + " achieved " +
              trial["achieved_ratio"].dump();
    }
  }
  return text;
}

TEST(Sweep, ATinyGridWritesOneFilePerPointAndTheSweepDocument) {
  const auto sweep = run_sweep_process(
      "tiny", {"--modes", "inline,call-in-thread", "--pool-sizes", "1,4", "--connections", "4",
               "--duration", "1s", "--warmup", "0.2s", "--work", "sleep:20ms", "--server-cmd",
               std::string(POOLBENCH_SERVER_BIN) +
                   " --port {port} --mode {mode} --pool-size {pool} --work {work}"});
  ASSERT_EQ(sweep.exit_code, 0);
  const json doc = read_json(sweep.out / "sweep.json");
  EXPECT_EQ(doc["schema"], "poolbench.sweep/2");
  ASSERT_EQ(doc["points"].size(), 4u);
  // S_eff, measured first with one connection and one worker: the 20 ms sleep plus a little.
  ASSERT_EQ(doc["calibration"]["status"], "ok") << doc["calibration"].dump();
  const double service_time_us = doc["calibration"]["service_time_us"].get<double>();
  EXPECT_GE(service_time_us, 20'000);
  EXPECT_LT(service_time_us, 30'000);
  for (const auto& point : doc["points"]) {
    EXPECT_EQ(point["status"], "ok") << point.dump();
    const std::string stem =
        point["mode"].get<std::string>() + "-pool" + std::to_string(point["pool_size"].get<int>());
    ASSERT_TRUE(std::filesystem::exists(sweep.out / (stem + ".json"))) << stem;
    EXPECT_TRUE(std::filesystem::exists(sweep.out / (stem + ".server.log"))) << stem;
    const json run = read_json(sweep.out / (stem + ".json"));
    EXPECT_EQ(run["schema"], "poolbench.run/1");
    EXPECT_EQ(run["server"]["mode"], point["mode"]);
    EXPECT_EQ(run["server"]["exit_status"], 0);  // SIGTERM: the server drained and exited 0
    // 4 connections, S = S_eff (about 20 ms): 1/S inline or with one worker, 4/S with four.
    const bool one_worker = point["mode"] == "inline" || point["pool_size"] == 1;
    const json& model = run["model_prediction"];
    EXPECT_EQ(model["service_time_source"], "calibrated");
    // One worker holds a request for S_w = S - d (d: the round trip of a request with no
    // work); four connections on four workers are limited by their own cycle, S.
    const double worker_time_us = model["worker_time_us"].get<double>();
    EXPECT_LT(worker_time_us, service_time_us);
    EXPECT_DOUBLE_EQ(worker_time_us,
                     service_time_us - doc["calibration"]["round_trip_us"].get<double>());
    EXPECT_DOUBLE_EQ(model["concurrency_bound_rps"].get<double>(),
                     one_worker ? 1e6 / worker_time_us : 4e6 / service_time_us);
    EXPECT_EQ(model["bound"], "concurrency");  // a sleep hardly uses the CPU
    EXPECT_NEAR(run["model_prediction"]["throughput_ratio"].get<double>(), 1.0, 0.15) << stem;
  }
}

TEST(Sweep, APointWhoseServerCannotStartIsMarkedFailedAndTheSweepGoesOn) {
  const auto sweep = run_sweep_process(
      "failing", {"--modes", "call-in-thread", "--pool-sizes", "1,2", "--duration", "1s",
                  "--server-cmd", "/bin/false {port}", "--server-start-timeout", "2s"});
  EXPECT_EQ(sweep.exit_code, 1);
  const json doc = read_json(sweep.out / "sweep.json");
  ASSERT_EQ(doc["points"].size(), 2u);
  for (const auto& point : doc["points"]) {
    EXPECT_EQ(point["status"], "failed");
    EXPECT_NE(point["reason"].get<std::string>().find("exited with 1"), std::string::npos)
        << point["reason"];
  }
  EXPECT_EQ(doc["failed_points"], 2);
}

TEST(Sweep, ARunningServerIsResizedBetweenPointsAndItsPoolSizePutBack) {
  testing::ServerProcess server(with_admin_port(
      {"--mode", "defer-to-thread", "--pool-size", "3", "--work", "sleep:10ms"}, "running"));
  const std::string admin = admin_url(server, "running");
  const auto sweep = run_sweep_process(
      "running", {"--running", admin, "--target", "127.0.0.1:" + std::to_string(server.port()),
                  "--pool-sizes", "1,4", "--connections", "8", "--duration", "1s", "--warmup",
                  "0.25s", "--interval", "250ms"});
  ASSERT_EQ(sweep.exit_code, 0);
  const json doc = read_json(sweep.out / "sweep.json");
  const json& running = doc["config"]["running_server"];
  EXPECT_EQ(running["admin"], admin);
  EXPECT_EQ(running["original_pool_size"], 3);
  EXPECT_EQ(running["restored_pool_size"], 3);
  EXPECT_EQ(doc["config"]["modes"], json::array({"defer-to-thread"}));  // the server's own
  EXPECT_EQ(doc["config"]["work"], "sleep:10ms");
  ASSERT_EQ(doc["calibration"]["status"], "ok") << doc["calibration"].dump();
  // Its work cannot be changed for the no-op run: c is the one-connection run's.
  EXPECT_EQ(doc["calibration"]["cpu_time_source"], "alone");
  EXPECT_EQ(doc["calibration"]["cpu_time_us"], doc["calibration"]["cpu_time_alone_us"]);
  // The server's resources come from its /stats.
  EXPECT_TRUE(
      read_json(sweep.out / "defer-to-thread-pool4.json")["resources"]["server"].is_object());
  ASSERT_EQ(doc["points"].size(), 2u);
  double throughput[2] = {0, 0};
  for (int i = 0; i < 2; ++i) {
    const json& point = doc["points"][i];
    ASSERT_EQ(point["status"], "ok") << point.dump();
    const json run = read_json(sweep.out / point["file"].get<std::string>());
    EXPECT_EQ(run["server"]["running"], admin);
    // The server's own view: every sample during the load shows the point's pool size.
    for (const json& sample : run["server_stats"]["samples"]) {
      EXPECT_EQ(sample["pool_size"], point["pool_size"]) << sample.dump();
    }
    EXPECT_TRUE(run["accounting_ok"].get<bool>());
    throughput[i] = run["throughput_rps"].get<double>();
  }
  // A model fact, not a speed: 8 connections of 10 ms sleeps make 4 workers about 4x one.
  EXPECT_GT(throughput[1] / throughput[0], 2.5);
  EXPECT_LT(throughput[1] / throughput[0], 5.0);
  // One server process all along (ServerProcess checks it drains and exits 0 at the end).
  EXPECT_TRUE(server.process().running());
}

// Every field the sweep writes (sweep.json, and a point's own records) is in results/README.md.
void expect_documented(const json& sweep_doc, const json& run) {
  const auto sweep_fields = testing::documented_fields("Sweep document");
  const auto point_fields = testing::documented_fields("Sweep point");
  ASSERT_GT(sweep_fields.size(), 40u) << "the README table was not found or not parsed";
  std::map<std::string, json> present;
  testing::collect_fields(
      sweep_doc, "", [](const std::string& path) { return path == "points[].result"; }, present);
  for (const auto& [path, value] : present) {
    std::string documented = path;
    for (const std::string mode : {"inline", "call-in-thread", "defer-to-thread"}) {
      if (path.starts_with("knee." + mode))
        documented = "knee.<mode>" + path.substr(5 + mode.size());
    }
    // An object is documented by its fields (collect_fields lists them too).
    if (value.is_object()) continue;
    EXPECT_TRUE(sweep_fields.count(documented) > 0) << path << " is not in results/README.md";
  }
  present.clear();
  for (const char* record : {"server", "resources", "model_prediction"}) {
    testing::collect_fields(
        json{{record, run[record]}}, "", [](const std::string&) { return false; }, present);
  }
  for (const auto& [path, value] : present) {
    if (value.is_object() && point_fields.count(path) == 0) continue;
    EXPECT_TRUE(point_fields.count(path) > 0) << path << " is not in results/README.md";
  }
}

// Spin work costs CPU time: on one CPU, 5 ms of CPU per request allow at most 200 requests/s
// whatever the pool, the server's CPU per request is at least the spin, and the model says the
// CPU is the bound. (Model-level facts: a slow machine only lowers the throughput.)
// --search at every point of a running server's grid (resized, cooled down, re-warmed): the
// capacity per pool size, the search files, and capacities that grow with the pool and stay
// under its bound P / S (a model fact, not a speed).
TEST(Sweep, SearchingARunningServerGivesACapacityPerPoolSize) {
  testing::ServerProcess server(with_admin_port(
      {"--mode", "call-in-thread", "--pool-size", "2", "--work", "sleep:10ms"}, "search"));
  const std::string admin = admin_url(server, "search");
  const auto sweep = run_sweep_process(
      "search",
      {"--running", admin, "--target", "127.0.0.1:" + std::to_string(server.port()), "--pool-sizes",
       "1,4", "--search", "--slo", "p90<=60ms", "--connections", "16", "--depth", "4", "--duration",
       "300ms", "--warmup", "200ms", "--trials", "1", "--max-trials", "2", "--precision", "0.3",
       "--min-samples", "300", "--start-rate", "80",
       // Sends up to 5 ms late are harmless against a 60 ms objective (their lag is in the
       // response times); 1 ms is often missed on a CI machine running two tests at once.
       "--late-send", "5ms",
       // Bounds the walk down if every probe fails: a trial lasts --min-samples / rate.
       "--min-rate", "40", "--cool-down", "100ms", "--no-calibrate"},
      std::chrono::seconds(280));
  ASSERT_EQ(sweep.exit_code, 0);
  const json doc = read_json(sweep.out / "sweep.json");
  EXPECT_EQ(doc["config"]["search"]["slo"]["text"], "p90<=60ms");
  ASSERT_EQ(doc["points"].size(), 2u);
  json searches[2];
  for (int i = 0; i < 2; ++i) {
    const json& point = doc["points"][i];
    ASSERT_EQ(point["status"], "ok") << point.dump();
    searches[i] = read_json(sweep.out / point["search"]["file"].get<std::string>());
    EXPECT_EQ(searches[i]["schema"], "poolbench.search/1");
    EXPECT_EQ(searches[i]["capacity"], point["search"]["capacity"]);
  }
  if (some_probe_failed_only_behind_schedule(searches[0]) ||
      some_probe_failed_only_behind_schedule(searches[1])) {
    GTEST_SKIP() << "the generator could not keep its schedule on this machine, so a probe "
                    "failed for it and the capacities measure the machine, not the pool: "
                 << searches[0]["message"] << "; " << searches[1]["message"];
  }
  double capacity[2] = {0, 0};
  for (int i = 0; i < 2; ++i) {
    const json& point = doc["points"][i];
    ASSERT_EQ(point["search"]["outcome"], "found") << point["search"].dump();
    capacity[i] = point["search"]["capacity"]["low_rps"].get<double>();
    EXPECT_LE(capacity[i], point["pool_size"].get<int>() / 0.010) << point.dump();
    // The point's run is the one at the highest passing rate.
    EXPECT_EQ(point["result"]["requested_rps"].get<double>(), capacity[i]);
  }
  EXPECT_GT(capacity[1], capacity[0])
      << "pool 1:" << probes_of(searches[0]) << "\npool 4:" << probes_of(searches[1]);
  EXPECT_TRUE(server.process().running());
}

TEST(Sweep, CpuWorkOnOneCpuIsCappedAtOneOverItsCpuTime) {
  const std::vector<int> cpus = allowed_cpus();
  const int server_cpu = cpus.back();
  std::vector<std::string> flags{"--modes",       "call-in-thread",
                                 "--pool-sizes",  "1,4",
                                 "--connections", "8",
                                 "--duration",    "1.5s",
                                 "--warmup",      "0.3s",
                                 "--work",        "spin:5ms",
                                 "--server-cpus", std::to_string(server_cpu)};
  if (cpus.size() >= 2) flags.insert(flags.end(), {"--loadgen-cpus", std::to_string(cpus.front())});
  const auto sweep = run_sweep_process("cpu", flags);
  ASSERT_EQ(sweep.exit_code, 0);
  const json doc = read_json(sweep.out / "sweep.json");
  EXPECT_EQ(doc["config"]["server_cpus"], std::to_string(server_cpu));
  ASSERT_EQ(doc["calibration"]["status"], "ok") << doc["calibration"].dump();
  // c = the spin's 5 ms + the server's own CPU per request, measured busy with no work.
  const json& calibration = doc["calibration"];
  EXPECT_EQ(calibration["cpu_time_source"], "spin parts + busy overhead");
  ASSERT_EQ(calibration["overhead"]["status"], "ok") << calibration.dump();
  const double overhead_us = calibration["overhead"]["cpu_us_per_request"].get<double>();
  EXPECT_GT(overhead_us, 0);
  EXPECT_LT(overhead_us, 5000);
  EXPECT_DOUBLE_EQ(calibration["cpu_time_us"].get<double>(), 5000 + overhead_us);
  EXPECT_GE(calibration["cpu_time_alone_us"].get<double>(), 5000 * 0.99);
  EXPECT_LT(calibration["cpu_time_alone_us"].get<double>(), 5000 * 2.0);
  EXPECT_TRUE(std::filesystem::exists(sweep.out / "calibration-overhead.server.log"));
  const json run = read_json(sweep.out / "call-in-thread-pool4.json");
  const json& server = run["resources"]["server"];
  ASSERT_TRUE(server.is_object()) << run["resources"].dump();
  EXPECT_EQ(server["cpus"], json::array({server_cpu}));
  EXPECT_GE(server["cpu_us_per_request"].get<double>(), 5000 * 0.99);
  EXPECT_LT(server["cpu_us_per_request"].get<double>(), 5000 * 2.0);
  EXPECT_LE(server["utilization"].get<double>(), 1.05);
  EXPECT_LE(run["throughput_rps"].get<double>(), 200 * 1.05);
  const json& model = run["model_prediction"];
  EXPECT_EQ(model["bound"], "cpu");
  EXPECT_EQ(model["cpus"], 1);
  EXPECT_LE(model["throughput_rps"].get<double>(), 200.0);
  EXPECT_LE(model["mva_throughput_rps"].get<double>(), model["throughput_rps"].get<double>());
  EXPECT_LT(model["knee_pool"].get<double>(), 2.0);  // P* = S/c: a spin-only request is all CPU
  EXPECT_TRUE(doc["knee"].contains("call-in-thread"));
  expect_documented(doc, run);
}

TEST(Sweep, BadFlagsExitTwo) {
  EXPECT_EQ(run_sweep_process("bad-cpus", {"--server-cpus", "one"}).exit_code, 2);
  EXPECT_EQ(run_sweep_process("absent-cpu", {"--loadgen-cpus", "1000"}).exit_code, 2);
  EXPECT_EQ(run_sweep_process("bad-mode", {"--modes", "threaded"}).exit_code, 2);
  EXPECT_EQ(run_sweep_process("bad-work", {"--work", "sleep:forever"}).exit_code, 2);
  EXPECT_EQ(run_sweep_process("bad-pool", {"--pool-sizes", "0"}).exit_code, 2);
  // --running: nothing listening there, or together with flags that start servers.
  const std::string nowhere = "http://127.0.0.1:" + std::to_string(pick_free_port());
  EXPECT_EQ(run_sweep_process("running-nowhere", {"--running", nowhere}).exit_code, 2);
  EXPECT_EQ(
      run_sweep_process("running-and-modes", {"--running", nowhere, "--modes", "inline"}).exit_code,
      2);
}

}  // namespace
}  // namespace poolbench
