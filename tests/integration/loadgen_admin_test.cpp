// loadgen run --admin against the real reference_server: the server's view is stored next to
// the client's, and every field of it is documented in results/README.md (and vice versa).
#include <gtest/gtest.h>

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "documented_schema.hpp"
#include "server_process.hpp"

namespace poolbench::testing {
namespace {

using json = nlohmann::json;

struct TempFile {
  explicit TempFile(const std::string& name)
      : path(std::filesystem::temp_directory_path() /
             ("poolbench-" + std::to_string(::getpid()) + "-" + name)) {}
  ~TempFile() {
    std::error_code ignored;
    std::filesystem::remove(path, ignored);
  }
  std::filesystem::path path;
};

// Runs loadgen with `args`; returns its exit code.
int run_loadgen(std::vector<std::string> args) {
  args.insert(args.begin(), POOLBENCH_LOADGEN_BIN);
  auto child = ChildProcess::spawn(
      args, {.stdout_path = "/dev/null", .stderr_path = "/dev/null", .cpus = {}});
  const auto status = child.wait_for(std::chrono::seconds(60));
  return status ? exit_code_of(*status) : -1;
}

// A run against a server with its admin endpoint; returns the run document.
json run_with_admin(const std::vector<std::string>& server_flags, const std::string& name) {
  TempFile admin_port(name + ".admin-port");
  TempFile out(name + ".json");
  std::vector<std::string> flags = server_flags;
  flags.insert(flags.end(), {"--admin-port", "0", "--admin-port-file", admin_port.path.string()});
  ServerProcess server(flags);
  const auto port = wait_for_port_file(server.process(), admin_port.path, std::chrono::seconds(10));
  const int code =
      run_loadgen({"run", "-q", "-t", "127.0.0.1:" + std::to_string(server.port()), "-c", "4",
                   "--warmup", "500ms", "--duration", "1s", "--interval", "250ms", "--admin",
                   "http://127.0.0.1:" + std::to_string(port), "--json", out.path.string()});
  EXPECT_EQ(code, 0);
  std::ifstream in(out.path);
  return json::parse(in);
}

TEST(LoadgenAdmin, ServerStatsAreStoredAndDocumented) {
  const json run = run_with_admin(
      {"--mode", "call-in-thread", "--pool-size", "2", "--work", "sleep:2ms"}, "documented");
  ASSERT_TRUE(run.contains("server_stats"));
  // The stages under window.stages_ns are documented as a whole ("as in latency_us").
  std::map<std::string, json> present;
  collect_fields(
      json{{"server_stats", run["server_stats"]}}, "",
      [](const std::string& path) { return path.rfind("server_stats.window.stages_ns.", 0) == 0; },
      present);
  const auto documented = documented_fields("Server's view");
  ASSERT_GT(documented.size(), 30u) << "the README table was not found";
  for (const auto& [path, value] : present) {
    ASSERT_TRUE(documented.count(path) > 0) << path << " is not in results/README.md";
    EXPECT_TRUE(has_type(value, documented.at(path))) << path << " is not " << documented.at(path);
  }
  for (const auto& [path, type] : documented) {
    EXPECT_TRUE(present.count(path) > 0) << path << " is documented but not written";
  }
  for (const char* key : {"count", "min", "mean", "p50", "p99", "p99_9", "max", "histogram"}) {
    EXPECT_TRUE(run["server_stats"]["window"]["stages_ns"]["service"].contains(key)) << key;
  }
}

TEST(LoadgenAdmin, TheServersViewAgreesWithTheClients) {
  const json run = run_with_admin(
      {"--mode", "defer-to-thread", "--pool-size", "2", "--work", "sleep:5ms"}, "agrees");
  const json& stats = run["server_stats"];
  EXPECT_EQ(stats["mode"], "defer-to-thread");
  EXPECT_EQ(stats["samples_failed"], 0);
  const json& samples = stats["samples"];
  // start + 6 intervals of 250 ms (warm-up, window, drain) + end, at least.
  ASSERT_GE(samples.size(), 7u);
  EXPECT_EQ(samples.front()["phase"], "start");
  EXPECT_EQ(samples.back()["phase"], "end");
  // 4 connections on 2 workers: while the load runs, both are busy and up to 2 requests wait.
  // (A snapshot, so not in every sample: a busy machine can catch the replies on their way back
  // and the next requests not yet sent.)
  int loaded = 0;
  int saturated = 0;
  std::int64_t stage_total = 0;
  for (std::size_t i = 1; i < samples.size(); ++i) {
    const json& s = samples[i];
    if (s["phase"] == "measure") {
      ++loaded;
      saturated += s["busy"] == 2;
      EXPECT_LE(s["busy"].get<int>(), 2) << s.dump();
      EXPECT_EQ(s["pool_size"], 2);
      EXPECT_LE(s["queued"].get<int>(), 2);
    }
    stage_total += s["stages"]["service"]["count"].get<std::int64_t>();
    for (const char* stage : {"dispatch", "queue_wait", "return_hop"}) {
      EXPECT_EQ(s["stages"][stage]["count"], s["stages"]["service"]["count"]) << stage;
    }
  }
  EXPECT_GE(loaded, 3);
  EXPECT_GE(saturated, 1) << "no sample saw both workers busy";
  // The per-sample differences add up to everything completed after the first sample.
  EXPECT_EQ(stage_total, samples.back()["completed"].get<std::int64_t>() -
                             samples.front()["completed"].get<std::int64_t>());
  // The window: the server completed about what the client measured (the drain adds a little;
  // the first sample is taken a few ms after the window starts), and its service stage is the
  // 5 ms sleep (ns).
  const json& window = stats["window"];
  EXPECT_EQ(window["from_s"], 0.5);
  const double ratio = window["completed"].get<double>() / run["completed"].get<double>();
  EXPECT_GT(ratio, 0.8);
  EXPECT_LT(ratio, 1.5);
  EXPECT_EQ(window["stages_ns"]["service"]["count"], window["completed"]);
  EXPECT_GE(window["stages_ns"]["service"]["p50"].get<std::int64_t>(), 5'000'000);
  EXPECT_LT(window["stages_ns"]["service"]["p50"].get<std::int64_t>(), 50'000'000);
}

// Unreachable when the run starts: a clear refusal (exit 2) before any load, not a run without
// a server view.
TEST(LoadgenAdmin, AnUnreachableAdminEndpointFailsBeforeTheLoad) {
  ServerProcess server({"--work", "none"});
  EXPECT_EQ(run_loadgen({"run", "-q", "-t", "127.0.0.1:" + std::to_string(server.port()),
                         "--duration", "1s", "--admin", "http://127.0.0.1:1"}),
            2);
  EXPECT_EQ(run_loadgen({"run", "-q", "-t", "127.0.0.1:" + std::to_string(server.port()),
                         "--duration", "1s", "--admin", "not a url"}),
            2);
}

// An admin endpoint that stops answering: it forwards the first `forwarded` requests to the real
// admin port, then answers 503 to the rest (one request per connection, as the sampler sends).
class FailingAdminProxy {
 public:
  FailingAdminProxy(std::uint16_t admin_port, int forwarded)
      : admin_port_(admin_port), forwarded_(forwarded) {
    listener_ = listen_on_loopback(port_, 16, "FailingAdminProxy");
    thread_ = std::thread([this] { serve(); });
  }
  ~FailingAdminProxy() {
    ::shutdown(listener_, SHUT_RDWR);
    ::close(listener_);
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  void serve() {
    for (int fd; (fd = ::accept(listener_, nullptr, nullptr)) >= 0; ::close(fd)) {
      const std::string request = read_until(fd, "\r\n\r\n");
      const std::string reply = served_++ < forwarded_
                                    ? forward(request)
                                    : "HTTP/1.1 503 Service Unavailable\r\nContent-Length: "
                                      "0\r\nConnection: close\r\n\r\n";
      ::send(fd, reply.data(), reply.size(), MSG_NOSIGNAL);
    }
  }
  std::string forward(const std::string& request) const {
    const int upstream = connect_to_loopback(admin_port_);
    ::send(upstream, request.data(), request.size(), MSG_NOSIGNAL);
    std::string reply = read_until(upstream, "");  // "Connection: close": to the end
    ::close(upstream);
    return reply;
  }
  // Reads until `end` has arrived (or the peer closes, with an empty `end`).
  static std::string read_until(int fd, const std::string& end) {
    std::string data;
    char buffer[65536];
    while (end.empty() || data.find(end) == std::string::npos) {
      const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
      if (n <= 0) break;
      data.append(buffer, static_cast<std::size_t>(n));
    }
    return data;
  }

  std::uint16_t admin_port_;
  int forwarded_;
  int served_ = 0;
  int listener_ = -1;
  std::uint16_t port_ = 0;
  std::thread thread_;
};

// The old code left failed samples out and still called the run valid: a window with no server
// view for most of it looked like a complete one.
TEST(LoadgenAdmin, SamplesThatFailMidRunAreListedAndMakeTheRunInvalid) {
  TempFile admin_port("gaps.admin-port");
  TempFile out("gaps.json");
  ServerProcess server(
      {"--work", "none", "--admin-port", "0", "--admin-port-file", admin_port.path.string()});
  const auto port = wait_for_port_file(server.process(), admin_port.path, std::chrono::seconds(10));
  // Forwarded: the check before the load, the "start" sample and the first interval's.
  FailingAdminProxy proxy(port, 3);
  const int code = run_loadgen({"run", "-q", "-t", "127.0.0.1:" + std::to_string(server.port()),
                                "-c", "2", "--warmup", "200ms", "--duration", "600ms", "--interval",
                                "100ms", "--admin", proxy.url(), "--json", out.path.string()});
  EXPECT_EQ(code, 0);
  std::ifstream in(out.path);
  const json run = json::parse(in);
  const json& stats = run["server_stats"];
  ASSERT_EQ(stats["samples"].size(), 2u) << stats.dump();
  const json& missing = stats["missing"];
  EXPECT_EQ(stats["samples_failed"], missing.size());
  ASSERT_GE(missing.size(), 8u) << missing.dump();  // 7 more intervals at least, and "end"
  EXPECT_EQ(missing.back()["phase"], "end");
  EXPECT_FALSE(missing.back()["error"].get<std::string>().empty()) << missing.dump();
  EXPECT_TRUE(std::any_of(missing.begin(), missing.end(),
                          [](const json& m) { return m["phase"] == "measure"; }));
  EXPECT_FALSE(run["valid"].get<bool>());
  const json& reasons = run["reasons"];
  EXPECT_NE(std::find(reasons.begin(), reasons.end(), "server_stats_incomplete"), reasons.end())
      << reasons.dump();
}

TEST(LoadgenAdmin, SweepAdminSamplesEveryPointsServer) {
  const auto out = std::filesystem::temp_directory_path() /
                   ("poolbench-sweep-admin-" + std::to_string(::getpid()));
  EXPECT_EQ(run_loadgen({"sweep",      "--admin",    "--quiet",   "--no-calibrate", "-c",
                         "2",          "--duration", "500ms",     "--warmup",       "250ms",
                         "--interval", "250ms",      "--modes",   "call-in-thread", "--pool-sizes",
                         "1,2",        "--work",     "sleep:2ms", "--out",          out.string()}),
            0);
  for (const char* name : {"call-in-thread-pool1.json", "call-in-thread-pool2.json"}) {
    std::ifstream in(out / name);
    const json run = json::parse(in);
    ASSERT_TRUE(run.contains("server_stats")) << name;
    const json& stats = run["server_stats"];
    EXPECT_EQ(stats["mode"], "call-in-thread");
    EXPECT_EQ(stats["samples_failed"], 0) << stats["missing"].dump();
    EXPECT_EQ(stats["samples"].back()["pool_size"], run["server"]["pool_size"]) << name;
    // Samples are taken just after their interval ends, not at it: a ratio, not an inequality.
    const double ratio =
        stats["window"]["completed"].get<double>() / run["completed"].get<double>();
    EXPECT_GT(ratio, 0.8) << name;
    EXPECT_LT(ratio, 1.5) << name;
  }
  std::error_code ignored;
  std::filesystem::remove_all(out, ignored);
  // A custom server command must say where the admin port goes.
  EXPECT_EQ(
      run_loadgen({"sweep", "--admin", "--quiet", "--server-cmd",
                   std::string(POOLBENCH_SERVER_BIN) + " --port {port}", "--out", out.string()}),
      2);
  std::filesystem::remove_all(out, ignored);
}

}  // namespace
}  // namespace poolbench::testing
