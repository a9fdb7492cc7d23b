// The load generator over real TCP: against scripted in-test servers (out-of-order, error,
// stray and swallowed replies, raw protocol) and against the real reference_server (the
// closed-loop model, a SIGSTOP stall in open loop, faults), and the loadgen binary's exit codes
// and files. Timing facts are model-level with generous tolerances; no absolute speeds.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine.hpp"
#include "loadgen_process.hpp"
#include "process.hpp"
#include "result.hpp"
#include "server_process.hpp"

namespace poolbench {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;
namespace fs = std::filesystem;
using testing::ServerProcess;

// --- a scripted line server ------------------------------------------------------------------

// Accepts connections on 127.0.0.1 and answers each batch of lines read in one recv() with
// whatever `reply` returns for it (its state is per connection). One thread per connection:
// small and obviously correct, for a handful of connections.
class ScriptedServer {
 public:
  using Reply = std::function<std::vector<std::string>(const std::vector<std::string>& batch)>;
  using ReplyFactory = std::function<Reply()>;

  explicit ScriptedServer(ReplyFactory factory) : factory_(std::move(factory)) {
    listener_ = testing::listen_on_loopback(port_, 128, "ScriptedServer");
    acceptor_ = std::thread([this] { accept_loop(); });
  }

  ~ScriptedServer() {
    stopping_ = true;
    ::shutdown(listener_, SHUT_RDWR);
    ::close(listener_);
    acceptor_.join();
    std::lock_guard lock(mutex_);
    for (int fd : connections_)
      ::shutdown(fd, SHUT_RDWR);
    for (auto& thread : threads_)
      thread.join();
    for (int fd : connections_)
      ::close(fd);
  }

  std::string target() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  void accept_loop() {
    while (!stopping_) {
      const int fd = ::accept(listener_, nullptr, nullptr);
      if (fd < 0) return;
      std::lock_guard lock(mutex_);
      connections_.push_back(fd);
      threads_.emplace_back([this, fd, reply = factory_()] { serve(fd, reply); });
    }
  }

  static void serve(int fd, const Reply& reply) {
    std::string input;
    char buffer[65536];
    for (;;) {
      const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
      if (n <= 0) return;
      input.append(buffer, static_cast<std::size_t>(n));
      std::vector<std::string> batch;
      std::size_t begin = 0;
      for (std::size_t end; (end = input.find("\r\n", begin)) != std::string::npos;
           begin = end + 2) {
        batch.push_back(input.substr(begin, end - begin));
      }
      input.erase(0, begin);
      if (batch.empty()) continue;
      std::string out;
      for (const std::string& line : reply(batch))
        out += line + "\r\n";
      if (!out.empty() && ::send(fd, out.data(), out.size(), MSG_NOSIGNAL) < 0) return;
    }
  }

  ReplyFactory factory_;
  int listener_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  std::mutex mutex_;
  std::vector<int> connections_;
  std::vector<std::thread> threads_;
};

// Replies "ack:<line>" for every line, optionally transformed per line number.
ScriptedServer::ReplyFactory per_line(
    std::function<void(std::uint64_t n, const std::string& line, std::vector<std::string>&)> f) {
  return [f] {
    auto count = std::make_shared<std::uint64_t>(0);
    return [f, count](const std::vector<std::string>& batch) {
      std::vector<std::string> out;
      for (const std::string& line : batch)
        f((*count)++, line, out);
      return out;
    };
  };
}

LoadSettings quick_settings(const std::string& target) {
  LoadSettings s;
  s.target = target;
  s.connections = 2;
  s.depth = 8;
  s.duration = 500ms;
  s.warmup = 100ms;
  s.timeout = 2s;
  s.interval = 250ms;
  return s;
}

void expect_balanced(const RunResult& r) {
  EXPECT_EQ(r.completed + r.errors.requests + r.timeouts + r.unfinished, r.scheduled);
  EXPECT_TRUE(to_json(r)["accounting_ok"].get<bool>());
}

TEST(ScriptedServer, RepliesInReverseOrderAreAllMatchedToTheirRequests) {
  ScriptedServer server([] {
    return [](const std::vector<std::string>& batch) {
      std::vector<std::string> out;
      for (auto it = batch.rbegin(); it != batch.rend(); ++it)
        out.push_back("ack:" + *it);
      return out;
    };
  });
  LoadSettings s = quick_settings(server.target());
  s.depth = 16;
  const RunResult r = run_load(s, {});
  EXPECT_GT(r.completed, 100u);
  EXPECT_EQ(r.completed, r.scheduled);
  EXPECT_EQ(r.errors.total(), 0u) << to_json(r)["errors"].dump();
  expect_balanced(r);
}

TEST(ScriptedServer, ErrorRepliesCountAgainstTheirRequests) {
  ScriptedServer server(
      per_line([](std::uint64_t n, const std::string& line, std::vector<std::string>& out) {
        out.push_back((n % 10 == 9 ? "err:boom|" : "ack:") + line);
      }));
  const RunResult r = run_load(quick_settings(server.target()), {});
  ASSERT_GT(r.scheduled, 200u);
  EXPECT_EQ(r.errors.stray, 0u);
  EXPECT_EQ(r.errors.requests, r.errors.by_kind.at("err:boom"));
  // Every tenth line per connection: 10% of the measured ones, up to the window's edges.
  EXPECT_NEAR(static_cast<double>(r.errors.requests), 0.1 * static_cast<double>(r.scheduled),
              0.01 * static_cast<double>(r.scheduled) + 4);
  expect_balanced(r);
}

TEST(ScriptedServer, StrayRepliesAndMismatchesAreCountedApart) {
  ScriptedServer server(
      per_line([](std::uint64_t n, const std::string& line, std::vector<std::string>& out) {
        if (n % 50 == 25) {
          out.push_back("ack:" + line + "!");     // that request's mismatch
          out.push_back("ack:999999999 xxxxxx");  // an id we never sent
          out.push_back("hello?");                // garbage
          return;
        }
        out.push_back("ack:" + line);
      }));
  const RunResult r = run_load(quick_settings(server.target()), {});
  ASSERT_GT(r.errors.requests, 0u);
  EXPECT_EQ(r.errors.requests, r.errors.by_kind.at("mismatch"));
  EXPECT_GT(r.errors.by_kind.at("unknown_id"), 0u);
  EXPECT_GT(r.errors.by_kind.at("malformed"), 0u);
  EXPECT_EQ(r.errors.stray, r.errors.by_kind.at("unknown_id") + r.errors.by_kind.at("malformed"));
  expect_balanced(r);
  EXPECT_NE(std::find(r.reasons.begin(), r.reasons.end(), "protocol_errors"), r.reasons.end());
}

TEST(ScriptedServer, UnansweredRequestsTimeOutAndAreRecordedAtTheTimeout) {
  ScriptedServer server(
      per_line([](std::uint64_t n, const std::string& line, std::vector<std::string>& out) {
        if (n % 10 != 3) out.push_back("ack:" + line);  // every tenth is swallowed
      }));
  LoadSettings s = quick_settings(server.target());
  s.rate = 400;
  s.connections = 4;
  s.timeout = 200ms;
  const auto start = std::chrono::steady_clock::now();
  const RunResult r = run_load(s, {});
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_GT(r.timeouts, 5u);
  EXPECT_EQ(r.errors.total(), 0u);
  expect_balanced(r);
  // Recorded at the timeout value (to the histogram's precision), never dropped. (Not "nothing
  // above it": a late reply that beats the sweep, which runs every timeout / 20, is a completion.)
  EXPECT_GE(r.response_time.count_at_value(200'000), static_cast<std::int64_t>(r.timeouts));
  EXPECT_EQ(r.response_time.total_count(), static_cast<std::int64_t>(r.completed + r.timeouts));
  EXPECT_EQ(r.service_time.total_count(), static_cast<std::int64_t>(r.completed));
  // Warm-up + window + timeout, plus slack: the drain does not hang on what never comes.
  EXPECT_LT(elapsed, 100ms + 500ms + 200ms + 1500ms);
}

TEST(ScriptedServer, AnImpossibleRateIsFlaggedNeverSilentlyLowered) {
  // One connection to a server that takes 1 ms per batch cannot carry 20,000 requests/s: the
  // plan still schedules every request, those that cannot be sent in time time out.
  ScriptedServer server([] {
    return [](const std::vector<std::string>& batch) {
      std::this_thread::sleep_for(1ms);
      std::vector<std::string> out;
      for (const std::string& line : batch)
        out.push_back("ack:" + line);
      return out;
    };
  });
  LoadSettings s = quick_settings(server.target());
  s.connections = 1;
  s.depth = 1;
  s.rate = 20'000;
  s.duration = 300ms;
  s.timeout = 100ms;
  const RunResult r = run_load(s, {});
  EXPECT_EQ(r.scheduled, 6000u);  // rate x window, exactly
  EXPECT_GT(r.completed, 0u);
  EXPECT_GT(r.timeouts, r.completed);
  expect_balanced(r);
  EXPECT_LT(r.achieved_rps, 0.5 * s.rate);
  for (const char* reason : {"rate_not_achieved", "schedule_lag_exceeded", "timeouts"}) {
    EXPECT_NE(std::find(r.reasons.begin(), r.reasons.end(), reason), r.reasons.end()) << reason;
  }
}

TEST(ScriptedServer, RawProtocolMatchesInOrderAndChecksThePrefix) {
  ScriptedServer server(
      per_line([](std::uint64_t, const std::string& line, std::vector<std::string>& out) {
        out.push_back(line == "PING" ? "+PONG" : "-ERR unknown command");
      }));
  LoadSettings s = quick_settings(server.target());
  s.protocol = Protocol::kRaw;
  s.request = "PING";
  s.expect = "+PONG";
  RunResult r = run_load(s, {});
  EXPECT_GT(r.completed, 100u);
  EXPECT_EQ(r.errors.total(), 0u);
  expect_balanced(r);
  s.request = "HELLO";
  r = run_load(s, {});
  EXPECT_EQ(r.completed, 0u);
  EXPECT_EQ(r.errors.requests, r.scheduled);
  EXPECT_EQ(r.errors.by_kind.at("unexpected_reply"), r.scheduled);
}

// --- the real reference_server ---------------------------------------------------------------

RunResult closed_loop(const ServerProcess& server, int connections) {
  LoadSettings s;
  s.target = "127.0.0.1:" + std::to_string(server.port());
  s.connections = connections;
  s.duration = 1s;
  s.warmup = 300ms;  // > one closed-loop round (2-4 x 10 ms): removes the start transient
  return run_load(s, {});
}

TEST(ReferenceServer, ClosedLoopThroughputAndLatencyFollowTheModelForSleepWork) {
  // c workers, S = 10 ms sleep: X = min(C, c) / S_eff and R = C * S_eff / min(C, c), with
  // S_eff calibrated by a C = 1 run against the same server: its median, as
  // the sweep takes it, since a few scheduling outliers (a slow sanitizer build, a busy
  // machine) would inflate a mean.
  ServerProcess pool4({"--mode", "call-in-thread", "--pool-size", "4", "--work", "sleep:10ms"});
  const RunResult calibration = closed_loop(pool4, 1);
  const double s_eff = static_cast<double>(calibration.response_time.value_at_percentile(50)) / 1e6;
  ASSERT_GT(s_eff, 0.009);
  ServerProcess pool2({"--mode", "defer-to-thread", "--pool-size", "2", "--work", "sleep:10ms"});
  for (auto [server, workers] : {std::pair{&pool4, 4}, std::pair{&pool2, 2}}) {
    const RunResult r = closed_loop(*server, 8);
    SCOPED_TRACE("pool " + std::to_string(workers));
    EXPECT_NEAR(r.throughput_rps, workers / s_eff, 0.15 * workers / s_eff);
    EXPECT_NEAR(r.response_time.mean() / 1e6, 8 * s_eff / workers, 0.15 * 8 * s_eff / workers);
    EXPECT_NEAR(r.little_ratio, 1.0, 0.05);
    EXPECT_EQ(r.errors.total(), 0u);
    expect_balanced(r);
  }
}

TEST(ReferenceServer, PipelinedRequestsAnsweredOutOfOrderAreMatched) {
  // Exponential sleeps in a pool of 8 with 16 requests in flight per connection: the server
  // answers in completion order, far from the sending order.
  ServerProcess server(
      {"--mode", "defer-to-thread", "--pool-size", "8", "--work", "sleep:2ms,exp"});
  LoadSettings s = quick_settings("127.0.0.1:" + std::to_string(server.port()));
  s.depth = 16;
  const RunResult r = run_load(s, {});
  EXPECT_GT(r.completed, 200u);
  EXPECT_EQ(r.errors.total(), 0u) << to_json(r)["errors"].dump();
  EXPECT_EQ(r.completed, r.scheduled);
}

TEST(ReferenceServer, OpenLoopStallShowsInResponseTimeButNotInServiceTime) {
  // A stall, scaled down: 500/s for 2 s, pool 8, 1 ms sleep, the server stopped for
  // T = 200 ms. Few connections (4), so the stall holds only 4 requests on the wire; the
  // other ~100 wait in the generator, and their wait is charged to response time.
  ServerProcess server({"--mode", "call-in-thread", "--pool-size", "8", "--work", "sleep:1ms"});
  LoadSettings s;
  s.target = "127.0.0.1:" + std::to_string(server.port());
  s.connections = 4;
  s.rate = 500;
  s.duration = 2s;
  s.warmup = 300ms;
  std::thread staller([&server] {
    std::this_thread::sleep_for(1000ms);  // ~0.7 s into the window
    server.process().send_signal(SIGSTOP);
    std::this_thread::sleep_for(200ms);
    server.process().send_signal(SIGCONT);
  });
  const RunResult r = run_load(s, {});
  staller.join();
  EXPECT_EQ(r.scheduled, 1000u);  // exactly rate x window: nothing omitted
  EXPECT_EQ(r.completed, r.scheduled);
  const double t = 200'000;  // us
  const auto p99_9 = static_cast<double>(r.response_time.value_at_percentile(99.9));
  EXPECT_GE(p99_9, 0.85 * t);
  EXPECT_LE(p99_9, 2.0 * t);  // generous: the machine may delay SIGCONT
  EXPECT_GE(static_cast<double>(r.response_time.value_at_percentile(99)), 0.5 * t);
  EXPECT_LT(static_cast<double>(r.service_time.value_at_percentile(99)), 0.25 * t);
  EXPECT_GE(static_cast<double>(r.schedule_lag.value_at_percentile(99)), 0.25 * t);
  EXPECT_GT(r.late_sends, 50u);
  // Little's law holds across the stall: the requests held in the generator are in the system
  // from their intended times, in L as in the response times.
  EXPECT_GT(r.mean_in_system, 0);
  EXPECT_NEAR(r.little_ratio, 1.0, 0.05);
}

// --- the loadgen binary ------------------------------------------------------------------------

class LoadgenBinary : public testing::LoadgenTest {};

TEST_F(LoadgenBinary, AnUnreachableTargetIsOneLineAndExitCode2WithinTheConnectTimeout) {
  const std::uint16_t port = pick_free_port();  // nothing listens there
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(run({"run", "--target", "127.0.0.1:" + std::to_string(port), "--connect-timeout", "2s",
                 "--json", path("r.json")}),
            2);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  const std::string err = text("stderr");
  EXPECT_NE(err.find("cannot connect to 127.0.0.1:" + std::to_string(port)), std::string::npos)
      << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  EXPECT_FALSE(fs::exists(dir_ / "r.json"));
}

TEST_F(LoadgenBinary, BadFlagsExit2AndHelpReadsLikeAManPage) {
  EXPECT_EQ(run({"run", "--connections", "0"}), 2);
  EXPECT_NE(text("stderr").find("--connections"), std::string::npos);
  EXPECT_EQ(run({"run", "--duration", "soon"}), 2);
  EXPECT_EQ(run({"frobnicate"}), 2);
  EXPECT_EQ(run({"run", "--json", "/nonexistent-dir/r.json"}), 2);
  EXPECT_EQ(run({"run", "--help"}), 0);
  const std::string help = text("stdout");
  for (const char* needle : {"EXIT STATUS", "EXAMPLES", "--rate", "--arrival", "--warmup",
                             "--protocol", "--hgrm", "--hlog", "coordinated omission"}) {
    EXPECT_NE(help.find(needle), std::string::npos) << needle;
  }
}

TEST_F(LoadgenBinary, WritesTheRunJsonAndHgrmAndMergesRepetitions) {
  ServerProcess server({"--mode", "call-in-thread", "--pool-size", "4", "--work", "sleep:1ms"});
  const std::string target = "127.0.0.1:" + std::to_string(server.port());
  const std::vector<std::string> load = {"run",        "--target", target,     "-c",    "4",
                                         "--duration", "300ms",    "--warmup", "100ms", "--quiet"};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = load;
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  };
  ASSERT_EQ(run(with({"--json", path("a.json"), "--hgrm", path("a.hgrm")})), 0) << text("stderr");
  EXPECT_NE(text("stdout").find("response time"), std::string::npos);  // the summary table
  ASSERT_EQ(run(with({"--json", path("b.json")})), 0);
  ASSERT_EQ(run(with({"--json", path("c.json"), "--depth", "2"})), 0);
  const json a = document("a.json");
  EXPECT_EQ(a["schema"], "poolbench.run/1");
  EXPECT_EQ(a["config"]["argv"][0], POOLBENCH_LOADGEN_BIN);
  EXPECT_EQ(a["end"], "complete");
  EXPECT_TRUE(a["accounting_ok"].get<bool>());
  EXPECT_NE(text("a.hgrm").find("#[Mean"), std::string::npos);

  ASSERT_EQ(run({"merge", path("a.json"), path("b.json"), "--json", path("m.json")}), 0)
      << text("stderr");
  const json m = document("m.json");
  const json b = document("b.json");
  EXPECT_EQ(m["completed"], a["completed"].get<int>() + b["completed"].get<int>());
  EXPECT_EQ(m["latency_us"]["count"],
            a["latency_us"]["count"].get<int>() + b["latency_us"]["count"].get<int>());

  EXPECT_EQ(run({"merge", path("a.json"), path("c.json"), "--json", path("n.json")}), 2);
  EXPECT_NE(text("stderr").find("config.depth"), std::string::npos) << text("stderr");
  EXPECT_FALSE(fs::exists(dir_ / "n.json"));
}

TEST_F(LoadgenBinary, WritesAnHlogLinePerIntervalOfTheJsonTaggedByPhase) {
  ServerProcess server({"--mode", "call-in-thread", "--pool-size", "4", "--work", "sleep:1ms"});
  ASSERT_EQ(run({"run", "--target", "127.0.0.1:" + std::to_string(server.port()), "-c", "4",
                 "--warmup", "200ms", "--duration", "500ms", "--interval", "100ms", "--quiet",
                 "--json", path("r.json"), "--hlog", path("r.hlog")}),
            0)
      << text("stderr");
  const json r = document("r.json");
  std::istringstream hlog(text("r.hlog"));
  std::vector<std::string> header;
  std::vector<std::string> lines;
  for (std::string line; std::getline(hlog, line);)
    (line.starts_with("#") || line.starts_with("\"StartTimestamp\"") ? header : lines)
        .push_back(line);
  ASSERT_GE(header.size(), 5u);
  EXPECT_EQ(header[0], "#[Histogram log format version 1.3]");
  auto seconds_after = [&](const std::string& prefix) {
    for (const std::string& line : header)
      if (line.starts_with(prefix)) return std::stod(line.substr(prefix.size()));
    ADD_FAILURE() << prefix << " missing";
    return 0.0;
  };
  EXPECT_EQ(seconds_after("#[StartTime: "), seconds_after("#[BaseTime: "));
  EXPECT_EQ(header.back(),
            "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\","
            "\"Interval_Compressed_Histogram\"");

  const json& intervals = r["intervals"];
  ASSERT_EQ(lines.size(), intervals.size());
  std::int64_t measured_in_log = 0;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    SCOPED_TRACE(lines[i]);
    const json& interval = intervals[i];
    std::string line = lines[i];
    const std::string phase = interval["phase"];
    if (phase == "measure") {
      EXPECT_FALSE(line.starts_with("Tag=")) << "the measured window is untagged";
    } else {
      ASSERT_TRUE(line.starts_with("Tag=" + phase + ","));
      line = line.substr(line.find(',') + 1);
    }
    std::vector<std::string> fields;
    std::istringstream split(line);
    for (std::string field; std::getline(split, field, ',');)
      fields.push_back(field);
    ASSERT_EQ(fields.size(), 4u);
    EXPECT_NEAR(std::stod(fields[0]), interval["start_s"].get<double>(), 0.0005);
    EXPECT_NEAR(std::stod(fields[1]), interval["length_s"].get<double>(), 0.0005);
    const Histogram h = Histogram::decode_v2_base64(fields[3]);
    // The same histogram (the log is compressed harder, as Java's writer does).
    EXPECT_EQ(
        h.encode_v2_base64(),
        Histogram::decode_v2_base64(interval["histogram"].get<std::string>()).encode_v2_base64());
    EXPECT_EQ(h.total_count(),
              interval["completed"].get<std::int64_t>() + interval["timeouts"].get<std::int64_t>());
    EXPECT_NEAR(std::stod(fields[2]), static_cast<double>(h.max()) / 1000.0, 0.0005);
    if (phase == "measure") measured_in_log += h.total_count();
  }
  EXPECT_GT(measured_in_log, 0);
}

TEST_F(LoadgenBinary, AServerKilledMidRunGivesANonZeroExitAndAValidPartialResult) {
  ServerProcess server({"--mode", "call-in-thread", "--pool-size", "8", "--work", "sleep:10ms"});
  server.expect_unclean_exit();
  ChildProcess loadgen =
      start({"run", "--target", "127.0.0.1:" + std::to_string(server.port()), "--duration", "5s",
             "--warmup", "200ms", "--json", path("r.json"), "--quiet"});
  std::this_thread::sleep_for(1s);
  server.process().send_signal(SIGKILL);
  const auto status = loadgen.wait_for(10s);
  ASSERT_TRUE(status) << "loadgen hung after its server died";
  EXPECT_EQ(exit_code_of(*status), 1) << text("stderr");
  const json r = document("r.json");
  EXPECT_EQ(r["schema"], "poolbench.run/1");
  EXPECT_EQ(r["end"], "connections_lost");
  EXPECT_GT(r["completed"].get<int>(), 0);
  EXPECT_GT(r["errors"]["by_kind"]["connection_closed"].get<int>(), 0);
  EXPECT_TRUE(r["accounting_ok"].get<bool>());
  EXPECT_FALSE(r["valid"].get<bool>());
  EXPECT_LT(r["window_s"].get<double>(), 5.0);
}

TEST_F(LoadgenBinary, SigintStopsSendingWritesWhatWasMeasuredAndExits130) {
  ServerProcess server({"--mode", "call-in-thread", "--pool-size", "8", "--work", "sleep:10ms"});
  ChildProcess loadgen =
      start({"run", "--target", "127.0.0.1:" + std::to_string(server.port()), "--duration", "30s",
             "--warmup", "200ms", "--json", path("r.json")});
  std::this_thread::sleep_for(1s);
  const auto signalled = std::chrono::steady_clock::now();
  loadgen.send_signal(SIGINT);
  const auto status = loadgen.wait_for(10s);
  ASSERT_TRUE(status);
  EXPECT_LT(std::chrono::steady_clock::now() - signalled, 2s);
  EXPECT_EQ(exit_code_of(*status), 130);
  const json r = document("r.json");
  EXPECT_EQ(r["end"], "interrupted");
  EXPECT_GT(r["completed"].get<int>(), 0);
  EXPECT_TRUE(r["accounting_ok"].get<bool>());
  EXPECT_LT(r["window_s"].get<double>(), 2.0);
  // Without a terminal the status line is one plain line per interval.
  EXPECT_NE(text("stderr").find("req/s"), std::string::npos);
  EXPECT_EQ(text("stderr").find('\r'), std::string::npos);
}

}  // namespace
}  // namespace poolbench
