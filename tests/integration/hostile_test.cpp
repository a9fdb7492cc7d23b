// The real reference_server against hostile peers and faults: odd bytes and framing, peers that
// never read, dribble, flood, reset or half-close, SIGTERM under thousands of requests, running
// out of descriptors; and the exactly-once count of replies under load in every mode.
// Bounds are checked from /proc (RSS, CPU time) with generous margins, never absolute speeds.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "reference_server/clock.hpp"
#include "sanitized.hpp"
#include "server_process.hpp"

namespace poolbench::testing {
namespace {

using namespace std::chrono_literals;
using poolbench::Clock;

const std::vector<std::string> kModes = {"inline", "call-in-thread", "defer-to-thread"};

// --- /proc ---------------------------------------------------------------------------------

long resident_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("VmRSS:")) return std::stol(line.substr(6));
  }
  return -1;
}

// User + system CPU time the process has used, in seconds.
double cpu_seconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), {});
  std::istringstream fields(stat.substr(stat.rfind(')') + 2));  // after "pid (comm) "
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; fields >> field; ++i) {  // field 3 is the state
    if (i == 14) utime = std::stoull(field);
    if (i == 15) {
      stime = std::stoull(field);
      break;
    }
  }
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// --- helpers -------------------------------------------------------------------------------

class EveryMode : public ::testing::TestWithParam<std::string> {};
INSTANTIATE_TEST_SUITE_P(Hostile, EveryMode, ::testing::ValuesIn(kModes), [](const auto& info) {
  std::string name = info.param;
  std::replace(name.begin(), name.end(), '-', '_');
  return name;
});

void set_send_timeout(int fd, std::chrono::milliseconds timeout) {
  timeval tv{static_cast<time_t>(timeout.count() / 1000),
             static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

// Closes with SO_LINGER 0: the peer gets a RST instead of a FIN.
void reset(LineClient& client) {
  linger hard{1, 0};
  ::setsockopt(client.fd(), SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
  client.close();
}

// Reads replies "ack:<id>" / "err:<why>|<id>" until EOF (or the client's timeout) and counts
// them per id. Returns the number of lines that were neither.
std::size_t count_replies_until_eof(LineClient& client, std::map<std::string, int>& per_id) {
  std::size_t malformed = 0;
  for (;;) {
    std::string line;
    try {
      line = client.read_line();
    } catch (const std::runtime_error&) {
      return malformed;
    }
    if (line.starts_with("ack:")) {
      ++per_id[line.substr(4)];
    } else if (line.starts_with("err:") && line.find('|') != std::string::npos) {
      ++per_id[line.substr(line.find('|') + 1)];
    } else {
      ++malformed;
    }
  }
}

// Every connection in `members` is still answered.
void expect_still_served(std::vector<std::unique_ptr<LineClient>>& members) {
  for (auto& member : members) {
    member->send_line("still");
    EXPECT_EQ(member->read_line(), "ack:still");
  }
}

// A newcomer sends "in" until it is answered "ack:in" or 5 s pass (the server may take a moment
// to see that room was freed); returns the last reply.
std::string newcomer_reply(std::uint16_t port) {
  std::string reply;
  for (const auto deadline = Clock::now() + 5s; Clock::now() < deadline;) {
    LineClient newcomer(port, 5s);
    newcomer.send_line("in");
    reply = newcomer.read_line();
    if (reply == "ack:in") break;
    std::this_thread::sleep_for(10ms);
  }
  return reply;
}

// --- framing ---------------------------------------------------------------------------------

TEST(HostileInput, AnOverlongLineWithoutDelimiterIsCutAtMaxPlusTwoBytes) {
  ServerProcess server({"--mode", "inline", "--work", "none"});
  LineClient patient(server.port());
  patient.send(std::string(16384, 'x') + "\r");  // 16385 bytes: may still become a valid line
  patient.send("\n");
  EXPECT_EQ(patient.read_line(), "ack:" + std::string(16384, 'x'));

  LineClient hostile(server.port());
  hostile.send(std::string(16386, 'x'));
  EXPECT_EQ(hostile.read_line(), "err:line too long");
  EXPECT_TRUE(hostile.at_eof());

  LineClient huge(server.port());  // megabytes of one line: cut at the limit, not buffered
  set_send_timeout(huge.fd(), 2s);
  const std::string chunk(64 * 1024, 'y');
  for (int i = 0; i < 64; ++i) {
    if (::send(huge.fd(), chunk.data(), chunk.size(), MSG_NOSIGNAL) <= 0) break;  // closed
  }
  EXPECT_EQ(huge.read_line(), "err:line too long");
  patient.send_line("alive");
  EXPECT_EQ(patient.read_line(), "ack:alive");
}

TEST_P(EveryMode, NulAndNonUtf8BytesAreEchoedUntouched) {
  ServerProcess server({"--mode", GetParam(), "--work", "none"});
  LineClient client(server.port());
  const std::string line("a\0b\xff\xfe\xc3\x28\x80\x01\x7f z", 13);
  client.send_line(line);
  EXPECT_EQ(client.read_line(), "ack:" + line);
  client.send_line(std::string(1, '\0'));
  EXPECT_EQ(client.read_line(), std::string("ack:\0", 5));
}

// A bare LF inside a \r\n-framed line: echoed raw, a client splitting at LF would read two
// lines. It is answered on one line, as an error, the LF written out; the next line is served.
TEST_P(EveryMode, ABareLfInALineIsAnsweredOnOneLine) {
  ServerProcess server({"--mode", GetParam(), "--work", "none"});
  LineClient client(server.port());
  client.send("one\ntwo\r\nnext\r\n");
  EXPECT_EQ(client.read_line(), "err:bare LF in line|one\\ntwo");
  EXPECT_EQ(client.read_line(), "ack:next");
}

TEST(HostileInput, ALineSentOneBytePerWriteIsOneLine) {
  // Inline: it keeps arrival order, so the replies' order checks the framer. (A pool answers in
  // completion order; a lazily started second worker can finish "second" first.)
  ServerProcess server({"--mode", "inline", "--work", "none"});
  LineClient client(server.port());
  for (const char byte : std::string("one byte at a time\r\nsecond\r\n")) {
    client.send(std::string_view(&byte, 1));
    std::this_thread::sleep_for(1ms);  // TCP_NODELAY: each byte its own segment, mostly
  }
  EXPECT_EQ(client.read_line(), "ack:one byte at a time");
  EXPECT_EQ(client.read_line(), "ack:second");
}

TEST(HostileInput, EmptyLinesAreRequestsToo) {
  ServerProcess server({"--mode", "defer-to-thread", "--work", "none"});
  LineClient client(server.port());
  std::string empties;
  for (int i = 0; i < 1000; ++i)
    empties += "\r\n";
  client.send(empties);
  for (int i = 0; i < 1000; ++i)
    ASSERT_EQ(client.read_line(), "ack:") << i;
}

TEST_P(EveryMode, HundredThousandPipelinedLinesInOneWriteAreEachAnsweredOnce) {
  constexpr int kLines = 100'000;
  ServerProcess server({"--mode", GetParam(), "--work", "none", "--pool-size", "4"});
  LineClient client(server.port(), 60s);
  std::string batch;
  for (int i = 0; i < kLines; ++i)
    batch += std::to_string(i) + "\r\n";
  // The replies outgrow --max-output while we are still writing: read them meanwhile.
  std::thread writer([&] { client.send(batch); });
  std::vector<int> seen(kLines, 0);
  int out_of_order = 0;
  for (int i = 0; i < kLines; ++i) {
    const std::string reply = client.read_line();
    ASSERT_TRUE(reply.starts_with("ack:")) << reply;
    const int id = std::stoi(reply.substr(4));
    ++seen[id];
    out_of_order += id != i;
  }
  writer.join();
  EXPECT_EQ(std::count(seen.begin(), seen.end(), 1), kLines);
  if (GetParam() == "inline") {
    EXPECT_EQ(out_of_order, 0);
  }
}

// --- peers that misbehave --------------------------------------------------------------------

TEST_P(EveryMode, APeerThatNeverReadsIsStoppedAtMaxOutputAndResumesWhenItReads) {
  ServerProcess server(
      {"--mode", GetParam(), "--work", "none", "--pool-size", "2", "--max-output", "65536"});
  LineClient client(server.port(), 20s);
  const pid_t pid = server.process().pid();
  client.send_line("warm");
  EXPECT_EQ(client.read_line(), "ack:warm");
  const long rss_before = resident_kib(pid);

  // Write 1000-byte lines and never read, until a write blocks for a second: the server has
  // stopped reading us. Without the bound it would read (and buffer replies) all 256 MiB.
  constexpr std::size_t kBudget = 256 << 20;
  const std::string line = std::string(1000, 'p') + "\r\n";
  set_send_timeout(client.fd(), 1s);
  std::size_t sent = 0;
  while (sent < kBudget) {
    const ssize_t n = ::send(client.fd(), line.data() + sent % line.size(),
                             line.size() - sent % line.size(), MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<std::size_t>(n);
  }
  ASSERT_LT(sent, kBudget) << "the server kept reading a peer that never reads";
  const long rss_blocked = resident_kib(pid);
  // Kernel socket buffers hold most of what we sent; the server holds at most ~max_output plus
  // one read's replies (about 128 KiB here) and its own buffers.
  if (!kSanitized) {
    EXPECT_LT(rss_blocked - rss_before, 16 * 1024) << "KiB grown";
  }

  // Finish the last line, then read: every line sent is answered and the server reads again.
  set_send_timeout(client.fd(), 0ms);
  std::thread finisher([&] {
    if (sent % line.size() != 0) client.send(std::string_view(line).substr(sent % line.size()));
  });
  const std::size_t lines = (sent + line.size() - 1) / line.size();
  for (std::size_t i = 0; i < lines; ++i)
    ASSERT_EQ(client.read_line().size(), 4 + 1000) << i << " of " << lines;
  finisher.join();
  client.send_line("after");
  EXPECT_EQ(client.read_line(), "ack:after");
  std::printf(
      "[ figures  ] %s: %zu bytes sent before the server stopped reading; RSS %ld -> %ld KiB\n",
      GetParam().c_str(), sent, rss_before, rss_blocked);
}

TEST(HostilePeers, IdleAndSlowlorisConnectionsAreClosedButBusyOnesAreNot) {
  ServerProcess server(
      {"--mode", "call-in-thread", "--work", "sleep:500ms", "--idle-timeout", "300ms"});
  LineClient idle(server.port());
  LineClient dribbler(server.port());
  LineClient busy(server.port());
  const auto start = Clock::now();
  // The dribbler sends a byte every 50 ms of a line it never ends; the busy client has a
  // request in flight all the time (each takes 500 ms, longer than the idle timeout).
  std::atomic<bool> dribbler_closed{false};
  std::thread dribble([&] {
    for (int i = 0; i < 40 && !dribbler_closed; ++i) {
      if (::send(dribbler.fd(), "d", 1, MSG_NOSIGNAL) <= 0) break;
      std::this_thread::sleep_for(50ms);
    }
  });
  for (int i = 0; i < 3; ++i) {
    busy.send_line("work" + std::to_string(i));
    EXPECT_EQ(busy.read_line(), "ack:work" + std::to_string(i));
  }
  EXPECT_EQ(idle.read_line(), "err:idle timeout");
  EXPECT_TRUE(idle.at_eof());
  EXPECT_EQ(dribbler.read_line(), "err:idle timeout");
  EXPECT_TRUE(dribbler.at_eof());
  dribbler_closed = true;
  dribble.join();
  EXPECT_GT(Clock::now() - start, 1400ms);  // the busy client outlived the timeout 4 times
}

TEST(HostilePeers, AFloodPastMaxConnectionsIsRefusedAndTheOthersAreUnaffected) {
  ServerProcess server({"--mode", "call-in-thread", "--work", "none", "--max-connections", "8"});
  std::vector<std::unique_ptr<LineClient>> members;
  for (int i = 0; i < 8; ++i) {
    members.push_back(std::make_unique<LineClient>(server.port()));
    members.back()->send_line("m" + std::to_string(i));
    EXPECT_EQ(members.back()->read_line(), "ack:m" + std::to_string(i));
  }
  for (int i = 0; i < 200; ++i) {
    LineClient intruder(server.port(), 5s);
    ASSERT_EQ(intruder.read_line(), "err:too many connections") << i;
    ASSERT_TRUE(intruder.at_eof()) << i;
  }
  expect_still_served(members);
  members.pop_back();  // a seat frees up: the next newcomer is served
  EXPECT_EQ(newcomer_reply(server.port()), "ack:in");
}

TEST_P(EveryMode, AResetMidRequestOrMidLineBreaksNothing) {
  ServerProcess server({"--mode", GetParam(), "--work", "sleep:20ms", "--pool-size", "4"});
  for (int i = 0; i < 20; ++i) {
    LineClient rude(server.port());
    rude.send("1\r\n2\r\n3\r\npartial li");
    if (i % 2 == 0) std::this_thread::sleep_for(5ms);  // some mid-work, some before the read
    reset(rude);
  }
  LineClient polite(server.port());
  polite.send_line("after the resets");
  EXPECT_EQ(polite.read_line(), "ack:after the resets");
  EXPECT_TRUE(server.process().running());
}  // and the server still exits 0 on SIGTERM (ServerProcess checks)

TEST_P(EveryMode, AHalfCloseMidLineAnswersTheCompleteLinesAndDropsThePartOne) {
  ServerProcess server({"--mode", GetParam(), "--work", "sleep:10ms"});
  LineClient client(server.port());
  client.send("whole\r\nhalf a li");
  client.shutdown_write();
  EXPECT_EQ(client.read_line(), "ack:whole");
  EXPECT_TRUE(client.at_eof());
}

// --- faults ------------------------------------------------------------------------------------

// Thousands of requests in flight on several connections, then SIGTERM: every reply that
// comes answers a request that was sent, none twice, and every connection ends with EOF.
// With the default drain timeout every request read is answered; with a short one the rest
// is cut off by closing, still never answered twice.
void sigterm_under_load(const std::string& mode, const std::string& drain_timeout,
                        bool expect_all_answered) {
  constexpr int kConnections = 8, kPerConnection = 500;
  ServerProcess server({"--mode", mode, "--work", "sleep:1ms", "--pool-size", "4",
                        "--drain-timeout", drain_timeout});
  if (!expect_all_answered) server.expect_unclean_exit();  // a cut drain exits 3, checked below
  std::vector<std::unique_ptr<LineClient>> clients;
  for (int c = 0; c < kConnections; ++c) {
    clients.push_back(std::make_unique<LineClient>(server.port(), 30s));
    clients.back()->send_line("hello");  // accepted and served before the load
    ASSERT_EQ(clients.back()->read_line(), "ack:hello");
  }
  for (int c = 0; c < kConnections; ++c) {
    std::string batch;
    for (int i = 0; i < kPerConnection; ++i)
      batch += std::to_string(c) + "-" + std::to_string(i) + "\r\n";
    clients[c]->send(batch);
  }
  std::this_thread::sleep_for(100ms);  // read (most or all of it), dispatched, a few done
  server.process().send_signal(SIGTERM);
  std::map<std::string, int> per_id;
  std::size_t malformed = 0;
  for (auto& client : clients)
    malformed += count_replies_until_eof(*client, per_id);
  for (auto& client : clients)
    EXPECT_TRUE(client->at_eof());
  EXPECT_EQ(malformed, 0u);
  std::size_t answered = 0;
  for (const auto& [id, count] : per_id) {
    EXPECT_EQ(count, 1) << id << " answered " << count << " times";
    const auto dash = id.find('-');
    ASSERT_NE(dash, std::string::npos) << id;
    EXPECT_LT(std::stoi(id.substr(0, dash)), kConnections);
    EXPECT_LT(std::stoi(id.substr(dash + 1)), kPerConnection);
    ++answered;
  }
  const auto status = server.process().wait_for(30s);
  ASSERT_TRUE(status.has_value());
  const std::string log = server.stderr_text();
  // 3: the drain was cut (a short --drain-timeout may or may not cut it).
  if (expect_all_answered) {
    EXPECT_EQ(exit_code_of(*status), 0) << log;
  } else {
    EXPECT_TRUE(exit_code_of(*status) == 0 || exit_code_of(*status) == 3) << log;
  }
  // What the server read before it stopped reading, from its last line ("stopped: N requests"),
  // less the hellos: the promise covers every request read, not every request sent (a slow
  // server, e.g. under a sanitizer, may not have read them all when the signal came).
  std::smatch match;
  ASSERT_TRUE(std::regex_search(log, match, std::regex("stopped[^:]*: ([0-9]+) requests"))) << log;
  const std::size_t read = std::stoul(match[1]) - kConnections;
  EXPECT_LE(answered, read);
  if (expect_all_answered) {
    EXPECT_EQ(answered, read) << log;
  }
  std::printf("[ figures  ] %s, drain %s: %zu of %zu read (%d sent) answered\n", mode.c_str(),
              drain_timeout.c_str(), answered, read, kConnections * kPerConnection);
}

TEST_P(EveryMode, SigtermWithThousandsInFlightAnswersEachOnceOrClosesItsConnection) {
  // Inline mode blocks the reactor on each read's lines: only the pool modes promise that every
  // request already read is answered, since inline stops reading before it reads them all.
  sigterm_under_load(GetParam(), "20s", GetParam() != "inline");
}

TEST_P(EveryMode, SigtermWithAShortDrainTimeoutClosesWhatIsLeftAndAnswersNothingTwice) {
  sigterm_under_load(GetParam(), "200ms", false);
}

TEST(Faults, OutOfDescriptorsOnAcceptRefusesNewcomersWithoutSpinning) {
  if (kSanitized) {
    // The sanitizer runtimes need descriptors too (UBSan's memory probe opens a pipe): at the
    // limit they report false errors ("invalid vptr", memory cannot be printed).
    GTEST_SKIP() << "a server at its descriptor limit starves the sanitizer runtime";
  }
  ServerProcess server({"--mode", "call-in-thread", "--work", "none", "--max-open-files", "64"});
  const pid_t pid = server.process().pid();
  // Fill the descriptor table with connections the server serves.
  std::vector<std::unique_ptr<LineClient>> members;
  for (int i = 0; i < 80; ++i) {
    auto client = std::make_unique<LineClient>(server.port(), 5s);
    client->send_line("m");
    const std::string reply = client->read_line();
    if (reply != "ack:m") {
      EXPECT_EQ(reply, "err:too many connections");
      break;
    }
    members.push_back(std::move(client));
  }
  ASSERT_GT(members.size(), 20u);
  ASSERT_LT(members.size(), 64u) << "the limit did not apply";

  // At the limit with nobody knocking, the server idles (accept() fails with EMFILE even then:
  // retrying it at once would spin a core).
  const double idle_before = cpu_seconds(pid);
  std::this_thread::sleep_for(500ms);
  const double idle_used = cpu_seconds(pid) - idle_before;
  EXPECT_LT(idle_used, 0.1) << "seconds of CPU in 0.5 s idle at the descriptor limit";

  // Newcomers are told at once, not left hanging in the listen backlog, and cheaply.
  const double cpu_before = cpu_seconds(pid);
  const auto start = Clock::now();
  int refused = 0;
  while (Clock::now() - start < 1s) {
    LineClient newcomer(server.port(), 3s);
    EXPECT_EQ(newcomer.read_line(), "err:too many connections");
    ++refused;
    std::this_thread::sleep_for(5ms);
  }
  const double cpu_used = cpu_seconds(pid) - cpu_before;
  EXPECT_LT(cpu_used, 0.3) << "seconds of CPU in 1 s while refusing " << refused;
  expect_still_served(members);
  members.resize(members.size() - 4);  // descriptors free up: newcomers are served again
  EXPECT_EQ(newcomer_reply(server.port()), "ack:in");
  EXPECT_NE(server.stderr_text().find("out of file descriptors"), std::string::npos);
  std::printf(
      "[ figures  ] %zu served at the limit; idle there %.3f s CPU in 0.5 s; %d refused "
      "in 1 s using %.3f s of CPU\n",
      members.size() + 4, idle_used, refused, cpu_used);
}

// --- exactly once ------------------------------------------------------------------------------

TEST_P(EveryMode, UnderLoadEveryReplyAnswersExactlyOneRequest) {
  constexpr int kConnections = 8, kPerConnection = 2000;
  ServerProcess server(
      {"--mode", GetParam(), "--work", "sleep:20us,exp", "--pool-size", "4", "--fail-rate", "0.1"});
  std::vector<std::unique_ptr<LineClient>> clients;
  for (int c = 0; c < kConnections; ++c)
    clients.push_back(std::make_unique<LineClient>(server.port(), 30s));
  std::vector<std::thread> threads;
  std::vector<std::map<std::string, int>> per_connection(kConnections);
  for (int c = 0; c < kConnections; ++c) {
    threads.emplace_back([&, c] {
      LineClient& client = *clients[c];
      // Pipelined in bursts of 100 while replies flow back.
      std::thread writer([&] {
        for (int burst = 0; burst < kPerConnection / 100; ++burst) {
          std::string batch;
          for (int i = burst * 100; i < (burst + 1) * 100; ++i)
            batch += std::to_string(c) + ":" + std::to_string(i) + "\r\n";
          client.send(batch);
        }
      });
      for (int i = 0; i < kPerConnection; ++i) {
        const std::string reply = client.read_line();
        if (reply.starts_with("ack:")) {
          ++per_connection[c][reply.substr(4)];
        } else if (reply.starts_with("err:injected failure|")) {
          ++per_connection[c][reply.substr(reply.find('|') + 1)];
        } else {
          ++per_connection[c]["malformed " + reply];
        }
      }
      writer.join();
    });
  }
  for (auto& thread : threads)
    thread.join();
  for (int c = 0; c < kConnections; ++c) {
    EXPECT_EQ(per_connection[c].size(), std::size_t{kPerConnection}) << "connection " << c;
    for (const auto& [id, count] : per_connection[c]) {
      ASSERT_EQ(count, 1) << id;
      ASSERT_TRUE(id.starts_with(std::to_string(c) + ":")) << id << " on connection " << c;
    }
  }
}

}  // namespace
}  // namespace poolbench::testing
