// The real reference_server binary, on --port 0, over real TCP.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "reference_server/clock.hpp"
#include "server_process.hpp"

namespace poolbench::testing {
namespace {

using namespace std::chrono_literals;
using poolbench::Clock;

const std::vector<std::string> kModes = {"inline", "call-in-thread", "defer-to-thread"};

double elapsed_ms(Clock::time_point since) {
  return std::chrono::duration<double, std::milli>(Clock::now() - since).count();
}

class EveryMode : public ::testing::TestWithParam<std::string> {};
INSTANTIATE_TEST_SUITE_P(Server, EveryMode, ::testing::ValuesIn(kModes), [](const auto& info) {
  std::string name = info.param;
  std::replace(name.begin(), name.end(), '-', '_');
  return name;
});

TEST_P(EveryMode, AnswersEachLineWithAck) {
  ServerProcess server({"--mode", GetParam(), "--work", "none"});
  LineClient client(server.port());
  for (const char* line : {"hello", "", "with spaces and : colons", "x"}) {
    client.send_line(line);
    EXPECT_EQ(client.read_line(), std::string("ack:") + line);
  }
}

TEST_P(EveryMode, TwistedAliasesAndTheSeedsFlagsWork) {
  const std::string twisted_name = GetParam() == "call-in-thread"    ? "callInThread"
                                   : GetParam() == "defer-to-thread" ? "deferToThread"
                                                                     : "inline";
  ServerProcess server({"--mode", twisted_name, "--pool-size", "3", "--work", "sleep:1ms"});
  LineClient client(server.port());
  client.send_line("seed");
  EXPECT_EQ(client.read_line(), "ack:seed");
}

TEST_P(EveryMode, AFailingRequestIsAnsweredWithErr) {
  ServerProcess server({"--mode", GetParam(), "--work", "sleep:1ms", "--fail-rate", "1"});
  LineClient client(server.port());
  client.send_line("doomed");
  EXPECT_EQ(client.read_line(), "err:injected failure|doomed");
  client.send_line("again");  // the connection stays usable
  EXPECT_EQ(client.read_line(), "err:injected failure|again");
}

TEST_P(EveryMode, AnOverlongLineClosesOnlyThatConnection) {
  ServerProcess server({"--mode", GetParam(), "--work", "none", "--max-line", "100"});
  LineClient bystander(server.port());
  LineClient offender(server.port());
  offender.send_line("fine");
  offender.send_line(std::string(101, 'x'));
  // In the pool modes the error can overtake the reply still in the pool: completion order.
  std::vector<std::string> replies{offender.read_line(), offender.read_line()};
  std::sort(replies.begin(), replies.end());
  EXPECT_EQ(replies, (std::vector<std::string>{"ack:fine", "err:line too long"}));
  EXPECT_TRUE(offender.at_eof());
  bystander.send_line("still here");
  EXPECT_EQ(bystander.read_line(), "ack:still here");
}

TEST_P(EveryMode, PipelinedLinesAreAllAnsweredAndInlineKeepsTheirOrder) {
  ServerProcess server({"--mode", GetParam(), "--work", "sleep:1ms,exp", "--pool-size", "4"});
  LineClient client(server.port());
  std::string batch;
  std::vector<std::string> sent;
  for (int i = 0; i < 200; ++i) {
    sent.push_back("ack:" + std::to_string(i));
    batch += std::to_string(i) + "\r\n";
  }
  client.send(batch);
  std::vector<std::string> received;
  for (int i = 0; i < 200; ++i)
    received.push_back(client.read_line());
  if (GetParam() == "inline") {
    EXPECT_EQ(received, sent);
  } else {
    std::sort(sent.begin(), sent.end());
    std::sort(received.begin(), received.end());
    EXPECT_EQ(received, sent);  // completion order, but each exactly once
  }
}

TEST_P(EveryMode, AHalfClosedClientGetsItsRepliesThenEof) {
  ServerProcess server({"--mode", GetParam(), "--work", "sleep:20ms"});
  LineClient client(server.port());
  client.send("a\r\nb\r\n");
  client.shutdown_write();
  std::vector<std::string> replies{client.read_line(), client.read_line()};
  std::sort(replies.begin(), replies.end());
  EXPECT_EQ(replies, (std::vector<std::string>{"ack:a", "ack:b"}));
  EXPECT_TRUE(client.at_eof());
}

// Four requests of 100 ms on a pool of 2, then `signal_number`: every one is answered, then EOF
// and exit 0.
void expect_signal_drains_then_exits_zero(const std::string& mode, int signal_number) {
  ServerProcess server({"--mode", mode, "--pool-size", "2", "--work", "sleep:100ms"});
  LineClient client(server.port());
  client.send("1\r\n2\r\n3\r\n4\r\n");
  std::this_thread::sleep_for(30ms);  // the lines are read; two run, two wait in the backlog
  server.process().send_signal(signal_number);
  std::vector<std::string> replies;
  for (int i = 0; i < 4; ++i)
    replies.push_back(client.read_line());
  std::sort(replies.begin(), replies.end());
  EXPECT_EQ(replies, (std::vector<std::string>{"ack:1", "ack:2", "ack:3", "ack:4"}));
  EXPECT_TRUE(client.at_eof());
  const auto status = server.process().wait_for(10s);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(exit_code_of(*status), 0) << server.stderr_text();
}

TEST_P(EveryMode, SigtermAnswersEveryRequestInFlightThenExitsZero) {
  expect_signal_drains_then_exits_zero(GetParam(), SIGTERM);
}

// A hang-up (closed terminal, a supervisor) drains too; before, it killed the server.
TEST_P(EveryMode, SighupDrainsLikeSigterm) {
  expect_signal_drains_then_exits_zero(GetParam(), SIGHUP);
}

// stderr is a pipe whose reader has gone (`reference_server 2>&1 | head -1`, a dead log shipper):
// the drain message written on SIGTERM must not kill the server (SIGPIPE) with requests in flight.
TEST(Server, AClosedStderrLosesMessagesNotRequests) {
  const auto directory =
      std::filesystem::temp_directory_path() / ("poolbench-stderr-" + std::to_string(::getpid()));
  std::filesystem::create_directories(directory);
  const auto fifo = directory / "stderr";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  // Open for reading first (non-blocking), so the server's open for writing does not wait.
  const int reader = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);  // not the server's
  ASSERT_GE(reader, 0);
  ChildProcess child = ChildProcess::spawn(
      {POOLBENCH_SERVER_BIN, "--port", "0", "--port-file", (directory / "port").string(), "--mode",
       "call-in-thread", "--pool-size", "2", "--work", "sleep:100ms"},
      {.stdout_path = {}, .stderr_path = fifo, .cpus = {}});
  const std::uint16_t port = wait_for_port_file(child, directory / "port", 10s);
  ::close(reader);  // the reader leaves: the next write to stderr gets EPIPE (and SIGPIPE)
  LineClient client(port);
  client.send("1\r\n2\r\n3\r\n4\r\n");
  std::this_thread::sleep_for(30ms);
  child.send_signal(SIGTERM);  // writes "draining ..." to the dead pipe
  std::vector<std::string> replies;
  for (int i = 0; i < 4; ++i)
    replies.push_back(client.read_line());
  std::sort(replies.begin(), replies.end());
  EXPECT_EQ(replies, (std::vector<std::string>{"ack:1", "ack:2", "ack:3", "ack:4"}));
  const auto status = child.wait_for(10s);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(describe_wait_status(*status), describe_wait_status(0));
  std::filesystem::remove_all(directory);
}

TEST(Server, AClientLeavingMidRequestBreaksNothing) {
  for (const std::string mode : {"call-in-thread", "defer-to-thread"}) {
    ServerProcess server({"--mode", mode, "--work", "sleep:50ms"});
    {
      LineClient leaver(server.port());
      leaver.send("1\r\n2\r\n3\r\n");
    }  // closed while its requests sleep in the pool
    std::this_thread::sleep_for(120ms);
    LineClient client(server.port());
    client.send_line("after");
    EXPECT_EQ(client.read_line(), "ack:after") << mode;
    EXPECT_TRUE(server.process().running()) << mode;
  }
}

TEST(Server, RejectsBadFlagsWithExitCodeTwo) {
  for (const std::vector<std::string>& flags : {std::vector<std::string>{"--work", "sleep:10"},
                                                {"--mode", "threaded"},
                                                {"--fail-rate", "2"},
                                                {"--drain-timeout", "forever"},
                                                {"--pool-size", "0"},
                                                {"--pool-size", "4097"}}) {
    std::vector<std::string> argv{POOLBENCH_SERVER_BIN, "--port", "0"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    auto process = ChildProcess::spawn(
        argv, {.stdout_path = "/dev/null", .stderr_path = "/dev/null", .cpus = {}});
    const auto status = process.wait_for(10s);
    ASSERT_TRUE(status.has_value());
    EXPECT_EQ(exit_code_of(*status), 2) << flags[0] << " " << flags[1];
  }
}

// One request of 8 s in flight, then SIGTERM: `second_signal` or --drain-timeout 1s cuts the
// drain. The connection is closed unanswered, the server says so and exits 3 within a few
// seconds. Before: it waited for the work (8 s), then exited 0.
void expect_a_cut_drain_to_exit_three_at_once(const std::string& drain_timeout,
                                              bool second_signal) {
  ServerProcess server(
      {"--pool-size", "2", "--work", "sleep:8s", "--drain-timeout", drain_timeout});
  server.expect_unclean_exit();
  LineClient client(server.port());
  client.send_line("slow");
  std::this_thread::sleep_for(100ms);  // read and running
  server.process().send_signal(SIGTERM);
  if (second_signal) {
    std::this_thread::sleep_for(200ms);
    server.process().send_signal(SIGTERM);
  }
  EXPECT_TRUE(client.at_eof());  // closed, never answered
  const auto status = server.process().wait_for(5s);
  ASSERT_TRUE(status.has_value()) << "still running 5 s after the drain was cut";
  EXPECT_EQ(exit_code_of(*status), 3) << server.stderr_text();
  EXPECT_NE(server.stderr_text().find("(drain cut)"), std::string::npos) << server.stderr_text();
}

TEST(Server, ADrainTimeoutBoundsTheExitAndExitsThree) {
  expect_a_cut_drain_to_exit_three_at_once("1s", false);
}

TEST(Server, ASecondSignalCutsTheDrainAtOnce) {
  expect_a_cut_drain_to_exit_three_at_once("60s", true);
}

// Eight clients send one request each at the same moment; returns when all are answered.
double eight_concurrent_requests_ms(std::uint16_t port) {
  std::vector<std::unique_ptr<LineClient>> clients;
  for (int i = 0; i < 8; ++i)
    clients.push_back(std::make_unique<LineClient>(port));
  const auto start = Clock::now();
  for (auto& client : clients)
    client->send_line("r");
  for (auto& client : clients)
    EXPECT_EQ(client->read_line(), "ack:r");
  return elapsed_ms(start);
}

TEST(ServerModel, PoolOfFourServesEightSleepingRequestsInTwoRounds) {
  // Model: 8 requests of S = 50 ms on c workers take ceil(8/c) * S.
  ServerProcess pool4({"--mode", "call-in-thread", "--pool-size", "4", "--work", "sleep:50ms"});
  ServerProcess inline_server({"--mode", "inline", "--work", "sleep:50ms"});
  eight_concurrent_requests_ms(pool4.port());  // the first round also starts the workers
  const double pool_ms = eight_concurrent_requests_ms(pool4.port());
  const double inline_ms = eight_concurrent_requests_ms(inline_server.port());
  EXPECT_GE(pool_ms, 2 * 50 * 0.95);
  EXPECT_GE(inline_ms, 8 * 50 * 0.95);
  // 4 requests per 50 ms against 1: the ratio is 4; allow a noisy machine a wide margin.
  EXPECT_GT(inline_ms / pool_ms, 2.5) << "pool " << pool_ms << " ms, inline " << inline_ms << " ms";
  EXPECT_LT(inline_ms / pool_ms, 5.0) << "pool " << pool_ms << " ms, inline " << inline_ms << " ms";
}

TEST(ServerModel, PoolOfOneHasInlineThroughput) {
  ServerProcess pool1({"--mode", "defer-to-thread", "--pool-size", "1", "--work", "sleep:50ms"});
  ServerProcess inline_server({"--mode", "inline", "--work", "sleep:50ms"});
  const double pool_ms = eight_concurrent_requests_ms(pool1.port());
  const double inline_ms = eight_concurrent_requests_ms(inline_server.port());
  EXPECT_GE(pool_ms, 8 * 50 * 0.95);
  EXPECT_GT(pool_ms / inline_ms, 0.7) << "pool " << pool_ms << " ms, inline " << inline_ms << " ms";
  EXPECT_LT(pool_ms / inline_ms, 1.4) << "pool " << pool_ms << " ms, inline " << inline_ms << " ms";
}

// While one request's work runs, a new client connects and sends an overlong line: how long
// until it is told "err:line too long"?
double rejection_while_busy_ms(const std::string& mode) {
  ServerProcess server(
      {"--mode", mode, "--pool-size", "1", "--work", "sleep:600ms", "--max-line", "100"});
  LineClient busy(server.port());
  busy.send_line("slow");
  std::this_thread::sleep_for(50ms);  // the work is running now
  const auto start = Clock::now();
  LineClient newcomer(server.port());
  newcomer.send_line(std::string(200, 'x'));
  EXPECT_EQ(newcomer.read_line(), "err:line too long");
  const double waited = elapsed_ms(start);
  EXPECT_EQ(busy.read_line(), "ack:slow");
  return waited;
}

TEST(ServerModel, TheReactorStaysResponsiveWhileTheOnlyWorkerSleeps) {
  const double pool_ms = rejection_while_busy_ms("call-in-thread");
  const double inline_ms = rejection_while_busy_ms("inline");
  EXPECT_LT(pool_ms, 300) << "the reactor should answer at once in a pool mode";
  EXPECT_GT(inline_ms, 400) << "inline mode blocks the reactor for the whole sleep";
}

}  // namespace
}  // namespace poolbench::testing
