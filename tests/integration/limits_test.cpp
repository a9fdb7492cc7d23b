// The real reference_server under real resource limits: a thread limit (an address-space limit
// too small for more thread stacks: RLIMIT_NPROC does not bind root, and this must run as root
// and as a user) and a descriptor limit on the admin endpoint. It must neither crash nor spin,
// and every request it read must be answered.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "admin_server_process.hpp"
#include "reference_server/process_usage.hpp"
#include "sanitized.hpp"
#include "server_process.hpp"

namespace poolbench::testing {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

// A server with its admin endpoint, optionally under a launcher.
// The whole answer to one HTTP request (the server closes after it).
std::string http(std::uint16_t port, const std::string& method, const std::string& target) {
  LineClient client(port, 10s);
  client.send(method + " " + target + " HTTP/1.1\r\nHost: h\r\n\r\n");
  std::string answer;
  char chunk[16384];
  for (ssize_t n; (n = ::recv(client.fd(), chunk, sizeof chunk, 0)) > 0;)
    answer.append(chunk, static_cast<std::size_t>(n));
  return answer;
}

std::size_t vm_size_bytes(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.starts_with("VmSize:")) return std::stoull(line.substr(7)) * 1024;
  }
  return 0;
}

// An address-space limit that leaves room for the server as it starts plus a few thread stacks
// (8 MiB each by default), measured on an unlimited server with the same flags.
std::vector<std::string> thread_limiting_launcher(const std::vector<std::string>& flags) {
  AdminServerProcess probe(flags);
  const std::size_t limit = vm_size_bytes(probe.server().process().pid()) + (160u << 20);
  return {"prlimit", "--as=" + std::to_string(limit), "--"};
}

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1))
    ++n;
  return n;
}

// Sends n lines on one connection; every one must be acked.
void expect_all_acked(std::uint16_t port, int n) {
  LineClient client(port, 30s);
  for (int i = 0; i < n; ++i)
    client.send_line("t" + std::to_string(i));
  int acked = 0;
  for (int i = 0; i < n; ++i)
    acked += client.read_line().starts_with("ack:") ? 1 : 0;
  EXPECT_EQ(acked, n);
}

// Why an address-space limit cannot stand for a thread limit here, if it cannot. (A test skips
// itself with the reason: GTEST_SKIP in a helper would only return from the helper.)
std::string why_address_space_limits_do_not_work() {
  if (kSanitized) return "sanitizer runtimes reserve terabytes of address space";
  if (std::system("prlimit --version > /dev/null 2>&1") != 0) return "no prlimit here";
  return {};
}

void expect_pool_stopped_at_a_limit(AdminServerProcess& server, std::size_t asked) {
  const json pool = server.stats()["pool"];
  EXPECT_GE(pool["thread_start_failures"].get<int>(), 1) << pool;
  EXPECT_GE(pool["thread_limit"].get<std::size_t>(), 1u) << pool;
  EXPECT_LT(pool["thread_limit"].get<std::size_t>(), asked) << pool;
  EXPECT_LE(pool["threads"].get<std::size_t>(), pool["thread_limit"].get<std::size_t>()) << pool;
  EXPECT_EQ(pool["size"].get<std::size_t>(), asked) << pool;  // what was asked stays visible
  EXPECT_EQ(count(server.server().stderr_text(), "cannot create a worker thread"), 1u)
      << server.server().stderr_text();
}

TEST(Limits, AThreadLimitAtStartLeavesThePoolAtTheSizeItReached) {
  if (const std::string why = why_address_space_limits_do_not_work(); !why.empty()) {
    GTEST_SKIP() << why;
  }
  const std::vector<std::string> flags = {"--pool-size", "256", "--work", "sleep:20ms"};
  AdminServerProcess server(flags, thread_limiting_launcher(flags));
  expect_all_acked(server.server().port(), 256);  // before: exit 1 at the first failed thread
  expect_pool_stopped_at_a_limit(server, 256);
}

TEST(Limits, GrowingThePoolPastAThreadLimitKeepsServing) {
  if (const std::string why = why_address_space_limits_do_not_work(); !why.empty()) {
    GTEST_SKIP() << why;
  }
  const std::vector<std::string> flags = {"--pool-size", "1", "--work", "sleep:20ms"};
  AdminServerProcess server(flags, thread_limiting_launcher(flags));
  LineClient client(server.server().port(), 30s);
  for (int i = 0; i < 200; ++i)
    client.send_line("b" + std::to_string(i));
  client.send_line("sync");  // the reactor has read every line once "sync" is the last answer
  std::this_thread::sleep_for(100ms);
  EXPECT_TRUE(http(server.admin_port(), "POST", "/pool?size=4096").starts_with("HTTP/1.1 200"));
  int acked = 0;
  for (int i = 0; i < 201; ++i)
    acked += client.read_line().starts_with("ack:") ? 1 : 0;
  EXPECT_EQ(acked, 201);
  expect_pool_stopped_at_a_limit(server, 4096);
}

// The admin acceptor out of descriptors: before, it retried accept() at once, forever (100% CPU,
// a stderr line per try) while the newcomer hung in the listen backlog.
TEST(Limits, OutOfDescriptorsTheAdminEndpointRefusesWithoutSpinning) {
  if (kSanitized) GTEST_SKIP() << "a server at its descriptor limit starves the sanitizer runtime";
  AdminServerProcess server({"--work", "none", "--max-open-files", "64"});
  std::vector<std::unique_ptr<LineClient>> members;
  for (int i = 0; i < 80; ++i) {
    auto client = std::make_unique<LineClient>(server.server().port(), 5s);
    client->send_line("m");
    if (client->read_line() != "ack:m") break;
    members.push_back(std::move(client));
  }
  ASSERT_LT(members.size(), 64u) << "the limit did not apply";
  const pid_t pid = server.server().process().pid();
  const double cpu_before = usage_of(pid)->cpu_s;
  EXPECT_TRUE(http(server.admin_port(), "GET", "/healthz").starts_with("HTTP/1.1 503"));
  std::this_thread::sleep_for(500ms);
  const double cpu_used = usage_of(pid)->cpu_s - cpu_before;
  EXPECT_LT(cpu_used, 0.2) << "seconds of CPU in 0.5 s after one admin newcomer at the limit";
  members.resize(members.size() - 4);  // descriptors free up: the endpoint serves again
  EXPECT_TRUE(http(server.admin_port(), "GET", "/healthz").starts_with("HTTP/1.1 200"));
  EXPECT_NE(server.server().stderr_text().find("admin: out of file descriptors"),
            std::string::npos);
}

}  // namespace
}  // namespace poolbench::testing
