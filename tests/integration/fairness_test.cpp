// The real reference_server against greedy clients, in every mode: a client that pipelines
// without limit does not starve a polite one, is held at --max-in-flight-per-connection (so its
// requests cost bounded memory), and when it leaves, the work it left queued is skipped and its
// unsent replies are counted as dropped, not as answered. Facts at the model level with wide
// margins (a polite request waits about one service time beside the greedy client, and is
// allowed a second; the old server made it wait for the greedy client's whole backlog).
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "admin_server_process.hpp"
#include "reference_server/clock.hpp"
#include "sanitized.hpp"
#include "server_process.hpp"

namespace poolbench::testing {
namespace {

using namespace std::chrono_literals;
using poolbench::Clock;

class EveryMode : public ::testing::TestWithParam<std::string> {};
INSTANTIATE_TEST_SUITE_P(Fairness, EveryMode,
                         ::testing::Values("inline", "call-in-thread", "defer-to-thread"),
                         [](const auto& info) {
                           std::string name = info.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

long resident_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("VmRSS:")) return std::stol(line.substr(6));
  }
  return -1;
}

void set_send_timeout(int fd, std::chrono::milliseconds timeout) {
  timeval tv{static_cast<time_t>(timeout.count() / 1000),
             static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

// `count` lines "<prefix><i>\r\n", each `width` bytes long before the delimiter (at least).
std::string pipelined_lines(int count, const std::string& prefix, std::size_t width = 0) {
  std::string batch;
  for (int i = 0; i < count; ++i) {
    std::string line = prefix + std::to_string(i);
    if (line.size() < width) line.append(width - line.size(), '.');
    batch += line + "\r\n";
  }
  return batch;
}

// A client that writes `batch` and never reads, from its own thread, until the server stops
// taking bytes for `patience` or everything is sent. Closed with a RST when it goes away.
class GreedyClient {
 public:
  GreedyClient(std::uint16_t port, std::string batch, std::chrono::milliseconds patience = 2s)
      : client_(port), batch_(std::move(batch)) {
    set_send_timeout(client_.fd(), patience);
    writer_ = std::thread([this] {
      std::string_view rest = batch_;
      while (!rest.empty() && !stop_) {
        const ssize_t n = ::send(client_.fd(), rest.data(), rest.size(), MSG_NOSIGNAL);
        if (n <= 0) break;  // the server stopped reading us (send timeout) or closed
        rest.remove_prefix(static_cast<std::size_t>(n));
        sent_ += static_cast<std::size_t>(n);
      }
    });
  }
  ~GreedyClient() { leave(); }
  std::size_t sent() const { return sent_; }
  void leave() {
    stop_ = true;
    if (writer_.joinable()) writer_.join();
    linger hard{1, 0};
    ::setsockopt(client_.fd(), SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
    client_.close();
  }

 private:
  LineClient client_;
  std::string batch_;
  std::atomic<bool> stop_{false};
  std::atomic<std::size_t> sent_{0};
  std::thread writer_;
};

// Polls /stats until `done` holds or `timeout` passes; returns the last document.
template <class Done>
nlohmann::json stats_when(const AdminServerProcess& server, Done done,
                          std::chrono::milliseconds timeout) {
  nlohmann::json doc = server.stats();
  for (const auto deadline = Clock::now() + timeout; !done(doc) && Clock::now() < deadline;) {
    std::this_thread::sleep_for(20ms);
    doc = server.stats();
  }
  return doc;
}

TEST_P(EveryMode, AGreedyPipeliningClientDoesNotStarveAPoliteOne) {
  ServerProcess server({"--mode", GetParam(), "--work", "sleep:1ms", "--pool-size", "4"});
  LineClient polite(server.port(), 10s);
  polite.send_line("warm");
  ASSERT_EQ(polite.read_line(), "ack:warm");

  // 100,000 lines of 1 ms: 25 s of work on 4 workers (100 s inline).
  GreedyClient greedy(server.port(), pipelined_lines(100'000, "g"));
  std::this_thread::sleep_for(300ms);  // its lines are read and queued by now
  ASSERT_GT(greedy.sent(), 0u);
  for (int i = 0; i < 5; ++i) {
    const auto started = Clock::now();
    polite.send_line("p" + std::to_string(i));
    EXPECT_EQ(polite.read_line(), "ack:p" + std::to_string(i));
    EXPECT_LT(Clock::now() - started, 1s) << "polite request " << i << " waited";
  }
}

TEST_P(EveryMode, APipeliningClientIsHeldAtItsBoundOfRequestsInFlight) {
  // Pool modes: one worker, 1 s per request, so nothing is answered while we look. Inline: the
  // reactor runs one request at a time anyway; the bound is checked on the pool modes.
  if (GetParam() == "inline") GTEST_SKIP() << "inline has one request in flight at a time";
  AdminServerProcess server({"--mode", GetParam(), "--work", "sleep:1s", "--pool-size", "1"});
  GreedyClient greedy(server.port(), pipelined_lines(5'000, "g"));
  // Wait until the server takes no more of its lines: received stops growing.
  std::uint64_t last = 0;
  nlohmann::json doc = stats_when(
      server,
      [&last](const nlohmann::json& d) {
        const auto received = d["requests"].value("received", std::uint64_t{0});
        const bool still = received == last && received > 0;
        last = received;
        return still;
      },
      5s);
  std::this_thread::sleep_for(200ms);
  doc = server.stats();
  EXPECT_LE(doc["requests"]["in_flight"].get<int>(), 1024) << doc.dump();  // the default bound
  EXPECT_LE(doc["pool"]["queued"].get<int>(), 1024) << doc.dump();
  EXPECT_GE(doc["requests"]["reads_held"].get<int>(), 1) << doc.dump();
}

TEST_P(EveryMode, ClientsThatPipelineAndNeverReadCostBoundedMemory) {
  // Inline queues nothing: the reactor reads the next bytes only after running the last ones.
  if (GetParam() == "inline") GTEST_SKIP() << "inline holds no backlog to bound";
  ServerProcess server({"--mode", GetParam(), "--work", "sleep:1ms", "--pool-size", "4"});
  const pid_t pid = server.process().pid();
  {
    LineClient warm(server.port());
    warm.send_line("warm");
    ASSERT_EQ(warm.read_line(), "ack:warm");
  }
  const long rss_before = resident_kib(pid);
  // 8 clients, each with 40 MB of 100-byte lines it writes and never reads a reply of; the old
  // server read them all and queued 400,000 requests each (several hundred MB).
  std::vector<std::unique_ptr<GreedyClient>> hogs;
  for (int i = 0; i < 8; ++i)
    hogs.push_back(std::make_unique<GreedyClient>(
        server.port(), pipelined_lines(400'000, "h" + std::to_string(i) + "-", 98), 500ms));
  long peak = rss_before;
  for (const auto until = Clock::now() + 3s; Clock::now() < until;) {
    peak = std::max(peak, resident_kib(pid));
    std::this_thread::sleep_for(50ms);
  }
  std::printf("[ figures  ] %s: RSS %ld KiB before, peak %ld KiB beside 8 hogs\n",
              GetParam().c_str(), rss_before, peak);
  // Per connection: 1 MiB of replies + 1024 requests + one 64 KiB read, about 2 MiB; 8 of them.
  if (!kSanitized) {
    EXPECT_LT(peak - rss_before, 64 * 1024) << "KiB grown";
  }
}

TEST_P(EveryMode, WorkLeftQueuedByAClientThatLeftIsSkippedAndCounted) {
  AdminServerProcess server({"--mode", GetParam(), "--work", "sleep:10ms", "--pool-size", "1"});
  {
    // 10,000 lines of 10 ms: 100 s of work if it all ran.
    LineClient leaver(server.port());
    leaver.send(pipelined_lines(10'000, "q"));
    std::this_thread::sleep_for(200ms);
  }  // closed without reading a reply
  const auto left = Clock::now();
  const auto idle = [](const nlohmann::json& d) {
    return d["requests"].value("in_flight", -1) == 0 && d["requests"].value("unsent", -1) == 0;
  };
  const nlohmann::json doc = stats_when(server, idle, 20s);
  ASSERT_TRUE(idle(doc)) << doc.dump();
  EXPECT_LT(Clock::now() - left, 20s);
  const auto& r = doc["requests"];
  const auto received = r["received"].get<std::uint64_t>();
  const auto ran = r["ok"].get<std::uint64_t>() + r["errors"].get<std::uint64_t>() +
                   r["dropped"].get<std::uint64_t>();
  EXPECT_EQ(received, ran + r["skipped"].get<std::uint64_t>()) << doc.dump();
  EXPECT_GE(r["dropped"].get<std::uint64_t>(), 1u) << doc.dump();
  EXPECT_LT(ran, 2'000u) << "work run for a client that had left: " << doc.dump();
  if (GetParam() != "inline") {
    EXPECT_GE(r["skipped"].get<std::uint64_t>(), 1u) << doc.dump();
  }
  EXPECT_EQ(r["completed"].get<std::uint64_t>(), ran) << doc.dump();
}

}  // namespace
}  // namespace poolbench::testing
