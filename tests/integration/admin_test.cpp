// The admin endpoint of the real reference_server (--port 0 --admin-port 0), over real TCP:
// every route, bad routes, methods and requests, the stage histograms against the requests
// answered, the Prometheus text, and resizing the pool under load without losing a reply.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "admin_server_process.hpp"
#include "server_process.hpp"

namespace poolbench::testing {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
};

// A blocking read-all over a fresh socket (the LineClient reads lines; responses need bytes).
std::string send_and_read_all(std::uint16_t port, const std::string& bytes) {
  const int fd = testing::connect_to_loopback(port);
  std::string_view rest = bytes;
  while (!rest.empty()) {
    const ssize_t n = ::send(fd, rest.data(), rest.size(), MSG_NOSIGNAL);
    if (n <= 0) break;  // the server may answer and close before reading everything
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
  std::string received;
  char chunk[16384];
  for (;;) {
    const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) break;
    received.append(chunk, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return received;
}

HttpResponse http(std::uint16_t port, const std::string& bytes) {
  const std::string raw = send_and_read_all(port, bytes);
  HttpResponse response;
  const auto head_end = raw.find("\r\n\r\n");
  if (head_end == std::string::npos) {
    ADD_FAILURE() << "no complete response head in: " << raw;
    return response;
  }
  std::istringstream head(raw.substr(0, head_end));
  std::string status_line;
  std::getline(head, status_line);
  const std::regex status_re(R"(HTTP/1\.1 (\d{3}) [A-Za-z ]+\r)");
  std::smatch match;
  if (!std::regex_match(status_line, match, status_re)) {
    ADD_FAILURE() << "bad status line: " << status_line;
    return response;
  }
  response.status = std::stoi(match[1]);
  for (std::string line; std::getline(head, line);) {
    const auto colon = line.find(':');
    EXPECT_NE(colon, std::string::npos) << line;
    std::string name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(), ::tolower);
    std::string value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(' '));
    if (!value.empty() && value.back() == '\r') value.pop_back();
    response.headers[name] = value;
  }
  response.body = raw.substr(head_end + 4);
  EXPECT_EQ(response.headers["content-length"], std::to_string(response.body.size()));
  return response;
}

HttpResponse get(std::uint16_t port, const std::string& target, const std::string& method = "GET") {
  return http(port, method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
}

json stats(std::uint16_t admin_port) {
  const HttpResponse response = get(admin_port, "/stats");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.headers.at("content-type"), "application/json");
  return json::parse(response.body);
}

// Sends `n` requests on one connection and reads the n replies.
void round_trips(std::uint16_t port, int n, const std::string& prefix = "r") {
  LineClient client(port);
  for (int i = 0; i < n; ++i)
    client.send_line(prefix + std::to_string(i));
  for (int i = 0; i < n; ++i)
    client.read_line();
}

TEST(Admin, Healthz) {
  AdminServerProcess server({"--work", "none"});
  const HttpResponse response = get(server.admin_port(), "/healthz");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "ok\n");
  EXPECT_EQ(response.headers.at("connection"), "close");
}

TEST(Admin, StatsHasEveryFieldWithItsType) {
  AdminServerProcess server({"--mode", "defer-to-thread", "--pool-size", "3", "--work", "none"});
  round_trips(server.port(), 10);
  const json doc = stats(server.admin_port());
  EXPECT_EQ(doc["schema"], "poolbench.stats/1");
  EXPECT_EQ(doc["mode"], "defer-to-thread");
  EXPECT_EQ(doc["work"], "none");
  EXPECT_TRUE(doc["uptime_s"].is_number());
  for (const char* key : {"size", "threads", "idle", "busy", "queued", "peak_queued",
                          "threads_created", "tasks_completed", "rejected"}) {
    EXPECT_TRUE(doc["pool"][key].is_number_unsigned()) << key;
  }
  EXPECT_EQ(doc["pool"]["size"], 3);
  for (const char* key :
       {"received", "completed", "ok", "errors", "rejected_busy", "in_flight", "lines_too_long"}) {
    EXPECT_TRUE(doc["requests"][key].is_number_unsigned()) << key;
  }
  EXPECT_EQ(doc["requests"]["received"], 10);
  EXPECT_EQ(doc["requests"]["ok"], 10);
  EXPECT_EQ(doc["connections"]["accepted"], 1);
  EXPECT_GE(doc["call_from_thread"]["calls"].get<int>(), 10);
  EXPECT_GE(doc["call_from_thread"]["wakeups"].get<int>(), 1);
  EXPECT_EQ(doc["stage_timing"], true);
  for (const char* stage : {"dispatch", "queue_wait", "service", "return_hop"}) {
    const json& s = doc["stages_ns"][stage];
    for (const char* key : {"count", "min", "p50", "p90", "p99", "p99_9", "max"}) {
      EXPECT_TRUE(s[key].is_number_integer()) << stage << "." << key;
    }
    EXPECT_TRUE(s["mean"].is_number());
    EXPECT_TRUE(s["histogram"].get<std::string>().starts_with("HISTFAAA")) << stage;
    EXPECT_LE(s["min"].get<std::int64_t>(), s["p50"].get<std::int64_t>());
    EXPECT_LE(s["p50"].get<std::int64_t>(), s["max"].get<std::int64_t>());
  }
}

// The server's own resource counters: CPU time (spin work costs CPU), context switches, threads
// and the CPUs it may use, in /stats and /metrics.
TEST(Admin, StatsAndMetricsReportTheProcessCpuSwitchesThreadsAndCpus) {
  AdminServerProcess server(
      {"--mode", "call-in-thread", "--pool-size", "2", "--work", "spin:20ms"});
  const json before = stats(server.admin_port())["process"];
  round_trips(server.port(), 10);
  const json after = stats(server.admin_port())["process"];
  ASSERT_TRUE(after.is_object());
  EXPECT_TRUE(after["pid"].is_number_integer());
  EXPECT_FALSE(after["cpus"].empty());
  EXPECT_TRUE(std::is_sorted(after["cpus"].begin(), after["cpus"].end()));
  // Ten requests of 20 ms of CPU each: at least 200 ms of the process's CPU time.
  const double cpu = after["cpu_s"].get<double>() - before["cpu_s"].get<double>();
  EXPECT_GE(cpu, 0.2 * 0.99);
  EXPECT_LT(cpu, 0.2 + 1.0) << "far more CPU than the work asks";
  EXPECT_NEAR(after["cpu_s"].get<double>(),
              after["cpu_user_s"].get<double>() + after["cpu_system_s"].get<double>(), 0.05);
  EXPECT_GE(after["threads"].get<int>(), 2);  // the reactor and a worker at least
  EXPECT_GT(after["voluntary_context_switches"].get<std::uint64_t>(),
            before["voluntary_context_switches"].get<std::uint64_t>());
  const std::string metrics = get(server.admin_port(), "/metrics").body;
  for (const char* line :
       {"\nprocess_cpu_seconds_total ", "\npoolbench_process_cpu_seconds_total{mode=\"user\"} ",
        "\npoolbench_process_context_switches_total{kind=\"voluntary\"} ",
        "\npoolbench_process_context_switches_total{kind=\"involuntary\"} ",
        "\npoolbench_process_threads ", "\npoolbench_process_allowed_cpus "}) {
    EXPECT_NE(metrics.find(line), std::string::npos) << line;
  }
}

class EveryMode : public ::testing::TestWithParam<std::string> {};
INSTANTIATE_TEST_SUITE_P(Admin, EveryMode,
                         ::testing::Values("inline", "call-in-thread", "defer-to-thread"),
                         [](const auto& info) {
                           std::string name = info.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

TEST_P(EveryMode, StageCountsEqualCompletedRequests) {
  AdminServerProcess server(
      {"--mode", GetParam(), "--pool-size", "4", "--work", "sleep:1ms", "--fail-rate", "0.2"});
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c)
    clients.emplace_back([&, c] { round_trips(server.port(), 50, "c" + std::to_string(c) + "-"); });
  for (auto& client : clients)
    client.join();
  const json doc = stats(server.admin_port());
  EXPECT_EQ(doc["requests"]["received"], 200);
  EXPECT_EQ(doc["requests"]["completed"], 200);
  EXPECT_EQ(doc["requests"]["ok"].get<int>() + doc["requests"]["errors"].get<int>(), 200);
  EXPECT_GT(doc["requests"]["errors"].get<int>(), 0);  // failures are timed as well
  for (const char* stage : {"dispatch", "queue_wait", "service", "return_hop"}) {
    EXPECT_EQ(doc["stages_ns"][stage]["count"], 200) << stage;
  }
  // The 1 ms sleep is the service stage (ns), with the timer slack of this machine.
  EXPECT_GE(doc["stages_ns"]["service"]["p50"].get<std::int64_t>(), 1'000'000);
  EXPECT_LT(doc["stages_ns"]["service"]["p50"].get<std::int64_t>(), 20'000'000);
}

TEST(Admin, RefusedRequestsAreNotCompleted) {
  AdminServerProcess server(
      {"--mode", "call-in-thread", "--pool-size", "1", "--max-queue", "1", "--work", "sleep:50ms"});
  round_trips(server.port(), 6);  // pipelined: 1 runs, 1 waits, 4 are refused at once
  const json doc = stats(server.admin_port());
  EXPECT_EQ(doc["requests"]["received"], 6);
  EXPECT_EQ(doc["requests"]["rejected_busy"], 4);
  EXPECT_EQ(doc["requests"]["completed"], 2);
  EXPECT_EQ(doc["stages_ns"]["service"]["count"], 2);
}

TEST(Admin, StageTimingCanBeTurnedOff) {
  AdminServerProcess server({"--work", "none", "--no-stage-timing"});
  round_trips(server.port(), 3);
  const json doc = stats(server.admin_port());
  EXPECT_EQ(doc["stage_timing"], false);
  EXPECT_TRUE(doc["stages_ns"].empty());
  EXPECT_EQ(doc["requests"]["completed"], 3);
  EXPECT_EQ(get(server.admin_port(), "/metrics").body.find("stage_duration"), std::string::npos);
}

// A strict reader of the Prometheus text exposition format 0.0.4: every line is a HELP, a TYPE
// or a sample; every sample belongs to the family declared just before; counters end in _total;
// histogram buckets are cumulative, end at +Inf, and +Inf equals _count.
struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

std::vector<Sample> parse_prometheus(const std::string& text,
                                     std::map<std::string, std::string>& types) {
  const std::regex help_re(R"(# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) [^\n]*)");
  const std::regex type_re(
      R"(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped))");
  const std::regex sample_re(
      R"(([a-zA-Z_:][a-zA-Z0-9_:]*)(\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*)\})? ([-+]?(?:[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?|Inf|NaN)))");
  const std::regex label_re(R"re(([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\.)*)")re");
  EXPECT_TRUE(!text.empty() && text.back() == '\n') << "the text must end with a line feed";
  std::vector<Sample> samples;
  std::string family;
  std::set<std::string> helped;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    std::smatch match;
    if (std::regex_match(line, match, help_re)) {
      EXPECT_TRUE(helped.insert(match[1]).second) << "HELP twice: " << line;
      continue;
    }
    if (std::regex_match(line, match, type_re)) {
      family = match[1];
      EXPECT_EQ(types.count(family), 0u) << "TYPE twice: " << line;
      EXPECT_EQ(helped.count(family), 1u) << "TYPE without HELP: " << line;
      types[family] = match[2];
      if (match[2] == "counter") {
        EXPECT_TRUE(family.ends_with("_total")) << family;
      }
      continue;
    }
    if (!std::regex_match(line, match, sample_re)) {
      ADD_FAILURE() << "not a Prometheus line: [" << line << "]";
      continue;
    }
    Sample sample;
    sample.name = match[1];
    sample.value = std::stod(match[4]);
    const std::string labels = match[3];
    for (std::sregex_iterator it(labels.begin(), labels.end(), label_re), end; it != end; ++it) {
      sample.labels[(*it)[1]] = (*it)[2];
    }
    const bool in_family = sample.name == family ||
                           (types[family] == "histogram" &&
                            (sample.name == family + "_bucket" || sample.name == family + "_sum" ||
                             sample.name == family + "_count"));
    EXPECT_TRUE(in_family) << sample.name << " outside its family " << family;
    samples.push_back(sample);
  }
  return samples;
}

TEST(Admin, MetricsParseAsPrometheusText) {
  AdminServerProcess server(
      {"--mode", "call-in-thread", "--pool-size", "2", "--work", "sleep:1ms"});
  round_trips(server.port(), 40);
  const HttpResponse response = get(server.admin_port(), "/metrics");
  ASSERT_EQ(response.status, 200);
  EXPECT_EQ(response.headers.at("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  std::map<std::string, std::string> types;
  const auto samples = parse_prometheus(response.body, types);
  ASSERT_GT(samples.size(), 20u);

  std::map<std::string, double> single;
  for (const auto& s : samples) {
    if (s.labels.empty()) single[s.name] = s.value;
  }
  EXPECT_EQ(single["poolbench_requests_total"], 40);
  EXPECT_EQ(single["poolbench_requests_completed_total"], 40);
  EXPECT_EQ(single["poolbench_pool_size"], 2);
  EXPECT_EQ(types["poolbench_stage_duration_seconds"], "histogram");

  // Per stage: buckets cumulative with increasing le, +Inf last and equal to _count (= 40).
  for (const char* stage : {"dispatch", "queue_wait", "service", "return_hop"}) {
    double previous_le = -1, previous_count = 0, count = -1, inf = -1;
    bool saw_sum = false;
    for (const auto& s : samples) {
      if (s.labels.count("stage") == 0 || s.labels.at("stage") != stage) continue;
      if (s.name.ends_with("_bucket")) {
        const std::string le = s.labels.at("le");
        if (le == "+Inf") {
          inf = s.value;
          continue;
        }
        EXPECT_EQ(inf, -1) << "+Inf must be the last bucket";
        const double bound = std::stod(le);
        EXPECT_GT(bound, previous_le);
        EXPECT_GE(s.value, previous_count);
        previous_le = bound;
        previous_count = s.value;
      } else if (s.name.ends_with("_count")) {
        count = s.value;
      } else if (s.name.ends_with("_sum")) {
        saw_sum = true;
        EXPECT_GE(s.value, 0);
      }
    }
    EXPECT_EQ(count, 40) << stage;
    EXPECT_EQ(inf, count) << stage;
    EXPECT_GE(inf, previous_count) << stage;
    EXPECT_TRUE(saw_sum) << stage;
  }
}

TEST(Admin, PoolResizeAndItsErrors) {
  AdminServerProcess server({"--pool-size", "2", "--work", "none"});
  const HttpResponse resized = get(server.admin_port(), "/pool?size=7", "POST");
  ASSERT_EQ(resized.status, 200);
  EXPECT_EQ(json::parse(resized.body)["pool"]["size"], 7);
  EXPECT_EQ(stats(server.admin_port())["pool"]["size"], 7);
  // What curl -d '' sends: a body of length 0 with a content type.
  const HttpResponse with_body = http(
      server.admin_port(),
      "POST /pool?size=3 HTTP/1.1\r\nHost: h\r\nContent-Type: application/x-www-form-urlencoded\r\n"
      "Content-Length: 0\r\n\r\n");
  EXPECT_EQ(with_body.status, 200);
  EXPECT_EQ(json::parse(with_body.body)["pool"]["size"], 3);
  for (const char* bad : {"/pool", "/pool?size=", "/pool?size=0", "/pool?size=-1", "/pool?size=x",
                          "/pool?size=3x", "/pool?size=99999999999999999999", "/pool?size=4097",
                          "/pool?other=3", "/pool?size=3&size=5", "/pool?size=5&size=5"}) {
    EXPECT_EQ(get(server.admin_port(), bad, "POST").status, 400) << bad;
  }
  // Said why: a client that sent size twice is not left guessing which one counted.
  EXPECT_NE(get(server.admin_port(), "/pool?size=3&size=5", "POST").body.find("more than once"),
            std::string::npos);
  EXPECT_EQ(stats(server.admin_port())["pool"]["size"], 3);  // unchanged by the bad ones
}

TEST(Admin, BadRoutesMethodsAndRequests) {
  AdminServerProcess server({"--work", "none"});
  const auto port = server.admin_port();
  EXPECT_EQ(get(port, "/").status, 404);
  EXPECT_EQ(get(port, "/nope").status, 404);
  EXPECT_EQ(get(port, "/stats/").status, 404);
  for (const auto& [target, method, allow] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {"/stats", "POST", "GET"},
           {"/metrics", "DELETE", "GET"},
           {"/healthz", "PUT", "GET"},
           {"/pool?size=2", "GET", "POST"}}) {
    const HttpResponse response = get(port, target, method);
    EXPECT_EQ(response.status, 405) << method << " " << target;
    EXPECT_EQ(response.headers.count("allow") ? response.headers.at("allow") : "", allow)
        << method << " " << target;
  }
  EXPECT_EQ(http(port, "GARBAGE\r\n\r\n").status, 400);
  EXPECT_EQ(http(port, "GET /stats HTTP/1.1\r\n\r\n").status, 400);  // no Host
  EXPECT_EQ(http(port, "GET /stats HTTP/3.0\r\nHost: h\r\n\r\n").status, 505);
  EXPECT_EQ(http(port, "GET /" + std::string(9000, 'a') + " HTTP/1.1\r\nHost: h\r\n\r\n").status,
            414);
  EXPECT_EQ(
      http(port, "GET / HTTP/1.1\r\nHost: h\r\nX: " + std::string(9000, 'a') + "\r\n\r\n").status,
      431);
  EXPECT_EQ(
      http(port, "POST /pool?size=2 HTTP/1.1\r\nHost: h\r\nContent-Length: 100000\r\n\r\n").status,
      413);
  // The line protocol server is unaffected by all of this.
  LineClient client(server.port());
  client.send_line("still here");
  EXPECT_EQ(client.read_line(), "ack:still here");
}

// The request must arrive within 2 s of connecting (kRequestTimeout); before, 5 s.
TEST(Admin, AnIdleAdminConnectionIsClosed) {
  AdminServerProcess server({"--work", "none"});
  LineClient idle(server.admin_port(), std::chrono::seconds(15));
  idle.send("GET /stats HTTP/1.1\r\n");  // and never the rest
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(idle.at_eof());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(4500));
  EXPECT_EQ(get(server.admin_port(), "/healthz").status, 200);
}

// More idle sockets than the endpoint's 16 slots: a newcomer closes the oldest one still waiting
// for its request instead of being refused (before: 503 until the idle ones timed out, and a
// client reconnecting kept everyone out).
TEST(Admin, IdleConnectionsDoNotLockOutANewcomer) {
  AdminServerProcess server({"--work", "none"});
  std::vector<std::unique_ptr<LineClient>> idle;
  for (int i = 0; i < 24; ++i) {
    idle.push_back(std::make_unique<LineClient>(server.admin_port()));
    idle.back()->send("GET /healthz HTTP/1.1\r\n");  // half a request, then nothing
  }
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(get(server.admin_port(), "/healthz").status, 200) << "newcomer " << i;
  }
  EXPECT_TRUE(idle.front()->at_eof());  // the oldest made room
}

TEST(Admin, CurlWorksAgainstEveryRoute) {
  if (std::system("curl --version > /dev/null 2>&1") != 0) GTEST_SKIP() << "no curl here";
  AdminServerProcess server({"--work", "none"});
  const std::string base = "http://127.0.0.1:" + std::to_string(server.admin_port());
  auto curl = [&](const std::string& args) {
    std::string out;
    FILE* pipe = ::popen(("curl -s -w ' %{http_code}' " + args).c_str(), "r");
    char buffer[4096];
    for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;)
      out.append(buffer, n);
    ::pclose(pipe);
    return out;
  };
  EXPECT_EQ(curl(base + "/healthz"), "ok\n 200");
  EXPECT_TRUE(curl(base + "/stats").ends_with(" 200"));
  EXPECT_TRUE(curl(base + "/metrics").ends_with(" 200"));
  EXPECT_TRUE(curl("-X POST '" + base + "/pool?size=5'").ends_with(" 200"));
  EXPECT_TRUE(curl("-d '' '" + base + "/pool?size=6'").ends_with(" 200"));
  EXPECT_TRUE(curl("-X POST '" + base + "/pool?size=zero'").ends_with(" 400"));
  EXPECT_TRUE(curl(base + "/pool").ends_with(" 405"));
  EXPECT_TRUE(curl(base + "/missing").ends_with(" 404"));
  EXPECT_EQ(stats(server.admin_port())["pool"]["size"], 6);
}

TEST(Admin, ResizeUnderLoadLosesAndDuplicatesNoReply) {
  for (const std::string mode : {"call-in-thread", "defer-to-thread"}) {
    AdminServerProcess server({"--mode", mode, "--pool-size", "2", "--work", "sleep:1ms"});
    constexpr int kClients = 4;
    constexpr int kPerClient = 300;
    std::atomic<bool> done{false};
    std::vector<std::map<std::string, int>> seen(kClients);
    std::vector<std::thread> clients;
    for (int c = 0; c < kClients; ++c) {
      clients.emplace_back([&, c] {
        LineClient client(server.port());
        // Pipelined in bursts of 20, so the backlog is never empty while the pool changes size.
        for (int sent = 0; sent < kPerClient; sent += 20) {
          for (int i = sent; i < sent + 20; ++i)
            client.send_line("c" + std::to_string(c) + "-" + std::to_string(i));
          for (int i = 0; i < 20; ++i)
            ++seen[c][client.read_line()];
        }
      });
    }
    std::thread resizer([&] {
      const int sizes[] = {1, 8, 3, 16, 1, 5, 2};
      for (int i = 0; !done.load(); ++i) {
        const auto response =
            get(server.admin_port(), "/pool?size=" + std::to_string(sizes[i % 7]), "POST");
        EXPECT_EQ(response.status, 200);
        std::this_thread::sleep_for(5ms);
      }
    });
    for (auto& client : clients)
      client.join();
    done = true;
    resizer.join();
    for (int c = 0; c < kClients; ++c) {
      ASSERT_EQ(seen[c].size(), static_cast<std::size_t>(kPerClient)) << mode << " client " << c;
      for (int i = 0; i < kPerClient; ++i) {
        EXPECT_EQ(seen[c]["ack:c" + std::to_string(c) + "-" + std::to_string(i)], 1)
            << mode << " c" << c << "-" << i;
      }
    }
    const json doc = stats(server.admin_port());
    EXPECT_EQ(doc["requests"]["completed"], kClients * kPerClient) << mode;
    EXPECT_EQ(doc["stages_ns"]["service"]["count"], kClients * kPerClient) << mode;
    EXPECT_GE(doc["pool"]["threads_created"].get<int>(), 3) << mode;
  }
}

}  // namespace
}  // namespace poolbench::testing
