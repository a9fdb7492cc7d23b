// sql: work against a real MariaDB, started by scripts/db for each test in a directory of its
// own: every mode answers from the database, a hot row counts every update once, a database
// killed mid-run gives err: replies and then answers again, and a pool larger than the
// database's max_connections gets counted errors, not a hang.
#include <gtest/gtest.h>

#include <unistd.h>

#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "admin_server_process.hpp"
#include "database.hpp"

namespace poolbench {
namespace {

using testing::AdminServerProcess;
using testing::Database;
using testing::LineClient;

// Sends lines "<tag>-0".."<tag>-<count-1>" pipelined on one connection; the replies, by line.
std::map<std::string, std::string> ask(std::uint16_t port, const std::string& tag, int count) {
  LineClient client(port, std::chrono::seconds(30));
  std::string lines;
  for (int i = 0; i < count; ++i)
    lines += tag + "-" + std::to_string(i) + "\r\n";
  client.send(lines);
  std::map<std::string, std::string> replies;
  for (int i = 0; i < count; ++i) {
    const std::string reply = client.read_line();
    const auto bar = reply.find('|');
    const std::string line = reply.starts_with("ack:") ? reply.substr(4) : reply.substr(bar + 1);
    EXPECT_TRUE(replies.emplace(line, reply).second) << "answered twice: " << reply;
  }
  EXPECT_EQ(replies.size(), static_cast<std::size_t>(count));
  return replies;
}

int count_starting(const std::map<std::string, std::string>& replies, const std::string& prefix) {
  int n = 0;
  for (const auto& [line, reply] : replies)
    n += reply.starts_with(prefix) ? 1 : 0;
  return n;
}

TEST(Database, EveryModeAnswersFromTheDatabaseAndCountsItsStatements) {
  if (!Database::available()) GTEST_SKIP() << "no mariadbd: run scripts/install-deps";
  Database database;
  for (const char* mode : {"inline", "call-in-thread", "defer-to-thread"}) {
    AdminServerProcess server({"--mode", mode, "--pool-size", "4", "--work",
                               "sql:point-read+sql:range-scan", "--db", database.url(), "--db-keys",
                               "1000"});
    const auto replies = ask(server.port(), mode, 40);
    EXPECT_EQ(count_starting(replies, "ack:"), 40) << mode;
    const nlohmann::json sql = server.stats()["sql"];
    EXPECT_EQ(sql["statements"], 80) << sql.dump();
    EXPECT_GE(sql["connects"].get<int>(), 1);
    EXPECT_LE(sql["connects"].get<int>(), 4) << "one connection per thread, kept: " << sql.dump();
    EXPECT_EQ(sql["connect_failures"], 0);
  }
  // A statement the database refuses is a bad flag: exit 2 at start, with its message.
  ChildProcess refused =
      ChildProcess::spawn({POOLBENCH_SERVER_BIN, "--port", "0", "--work",
                           "sql:SELECT v FROM no_such_table", "--db", database.url()},
                          {.stdout_path = "/dev/null", .stderr_path = "/dev/null", .cpus = {}});
  const auto status = refused.wait_for(std::chrono::seconds(30));
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(exit_code_of(*status), 2);
}

TEST(Database, AHotRowUpdateCountsEveryRequestExactlyOnce) {
  if (!Database::available()) GTEST_SKIP() << "no mariadbd: run scripts/install-deps";
  Database database;
  {
    AdminServerProcess server({"--mode", "defer-to-thread", "--pool-size", "8", "--work",
                               "sql:hot-update", "--db", database.url()});
    EXPECT_EQ(count_starting(ask(server.port(), "u", 300), "ack:"), 300);
  }
  // 8 hot rows, each update adding one: lock waits, but nothing lost and nothing twice.
  EXPECT_EQ(database.query("SELECT SUM(n) FROM poolbench.kv WHERE id <= 8"), "300\n");
  EXPECT_EQ(database.query("SELECT SUM(n) FROM poolbench.kv"), "300\n");
}

TEST(Database, AKilledDatabaseGivesErrRepliesThenAnswersAgainOnceItIsBack) {
  if (!Database::available()) GTEST_SKIP() << "no mariadbd: run scripts/install-deps";
  Database database;
  for (const char* mode : {"call-in-thread", "inline"}) {
    AdminServerProcess server(
        {"--mode", mode, "--pool-size", "2", "--work", "sql:point-read", "--db", database.url()});
    EXPECT_EQ(count_starting(ask(server.port(), "before", 20), "ack:"), 20) << mode;
    database.kill();
    // Each request exactly one reply: the database's error, never a crash or silence.
    const auto down = ask(server.port(), "down", 20);
    EXPECT_EQ(count_starting(down, "err:sql "), 20) << mode << ": " << down.begin()->second;
    database.start_again();
    EXPECT_EQ(count_starting(ask(server.port(), "after", 20), "ack:"), 20) << mode;
    const nlohmann::json sql = server.stats()["sql"];
    const nlohmann::json& errors = sql["errors"];
    EXPECT_EQ(errors["connection_lost"].get<int>() + errors["cannot_connect"].get<int>(), 20)
        << sql.dump();
    EXPECT_EQ(sql["statements"], 40);
    EXPECT_EQ(server.stats()["requests"]["errors"], 20);
  }
}

TEST(Database, APoolLargerThanMaxConnectionsGetsCountedErrorsNotAHang) {
  if (!Database::available()) GTEST_SKIP() << "no mariadbd: run scripts/install-deps";
  Database database({"max_connections=10"});  // MariaDB's least
  const int limit = database.info()["max_connections"].get<int>();
  const int pool = limit + 6;
  AdminServerProcess server({"--mode", "call-in-thread", "--pool-size", std::to_string(pool),
                             "--work", "sql:sleep-10ms", "--db", database.url()});
  // Enough requests at once for every worker to want its own connection.
  const auto replies = ask(server.port(), "many", pool * 10);
  const int refused = count_starting(replies, "err:sql 1040: ");
  EXPECT_GT(refused, 0);
  EXPECT_EQ(count_starting(replies, "ack:") + refused, pool * 10);
  const nlohmann::json sql = server.stats()["sql"];
  EXPECT_EQ(sql["errors"]["too_many_connections"], refused) << sql.dump();
  EXPECT_LE(sql["connections_open"].get<int>(), limit);
}

TEST(Database, ALockWaitTimeoutIsAnErrReplyAndKeepsTheConnection) {
  if (!Database::available()) GTEST_SKIP() << "no mariadbd: run scripts/install-deps";
  Database database({"innodb_lock_wait_timeout=1"});
  AdminServerProcess server({"--mode", "call-in-thread", "--pool-size", "1", "--work",
                             "sql:UPDATE kv SET n=n+1 WHERE id=1", "--db", database.url()});
  EXPECT_EQ(count_starting(ask(server.port(), "free", 3), "ack:"), 3);
  // Another session holds row 1 for 4 s: our update waits 1 s for it, then gives up.
  auto holder = ChildProcess::spawn(
      {"mariadb", "--socket=" + database.info()["socket"].get<std::string>(), "-uroot", "-e",
       "BEGIN; SELECT n FROM poolbench.kv WHERE id=1 FOR UPDATE; SELECT SLEEP(4); COMMIT;"},
      {.stdout_path = "/dev/null", .stderr_path = "/dev/null", .cpus = {}});
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const auto waited = ask(server.port(), "held", 1);
  EXPECT_EQ(count_starting(waited, "err:sql 1205: Lock wait timeout exceeded"), 1)
      << waited.begin()->second;
  holder.wait_for(std::chrono::seconds(30));
  EXPECT_EQ(count_starting(ask(server.port(), "freed", 3), "ack:"), 3);
  const nlohmann::json sql = server.stats()["sql"];
  EXPECT_EQ(sql["errors"]["lock_wait_timeout"], 1) << sql.dump();
  EXPECT_EQ(sql["connects"], 1) << "a lock wait leaves the connection usable";
  EXPECT_EQ(database.query("SELECT n FROM poolbench.kv WHERE id=1"), "6\n");
}

TEST(Database, ADatabaseDownAtStartIsAWarningThenErrReplies) {
  // Nothing listens on the port of a socket we bound and closed: the server starts anyway.
  std::uint16_t port = 0;
  ::close(testing::listen_on_loopback(port, 1, "a port nobody serves"));
  AdminServerProcess server({"--mode", "call-in-thread", "--pool-size", "2", "--work",
                             "sql:point-read", "--db",
                             "mysql://poolbench@127.0.0.1:" + std::to_string(port) + "/poolbench"});
  const auto replies = ask(server.port(), "down", 5);
  EXPECT_EQ(count_starting(replies, "err:sql 2002: "), 5) << replies.begin()->second;
  EXPECT_EQ(server.stats()["sql"]["errors"]["cannot_connect"], 5);
  EXPECT_NE(server.server().stderr_text().find("cannot check the sql: statements now"),
            std::string::npos);
}

}  // namespace
}  // namespace poolbench
