// The database side of sql: work: statements run through MariaDB's C client (libmariadb),
// blocking, as the article's MySQL call runs through a synchronous client.
//
// Threading: execute() runs on every thread that runs work: the pool's workers, and the reactor
// thread in inline mode (which then blocks the reactor, as the article warns). Each such thread
// owns one connection (thread_local), opened on its first sql: task and kept; it is closed when
// the thread ends, or after an error that leaves it unusable, and opened again on that thread's
// next task. In the pool modes the reactor thread never connects, so a reconnect never blocks
// it. The counters are atomics, read by /stats on the reactor thread.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "work.hpp"

namespace poolbench {

// --db: mysql://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?socket=PATH] (no percent-encoding).
struct DbUrl {
  std::string user;
  std::string password;
  std::string host;
  unsigned port = 3306;
  std::string database;
  std::string socket;  // non-empty: connect through this Unix socket

  // Throws std::invalid_argument quoting the text and the expected form.
  static DbUrl parse(std::string_view text);
  std::string to_string() const;  // the password written as ***
};

// What an error number means for the counters (kErrorKinds) and for the connection.
std::string_view sql_error_kind(unsigned error_number);
// After these the connection cannot be trusted (client errors, a server shutting down, the
// connection killed or timed out): it is closed, and the thread's next task opens a new one.
bool sql_error_drops_connection(unsigned error_number);
inline constexpr std::array<std::string_view, 8> kSqlErrorKinds = {"cannot_connect",
                                                                   "access_denied",
                                                                   "too_many_connections",
                                                                   "connection_lost",
                                                                   "lock_wait_timeout",
                                                                   "deadlock",
                                                                   "statement",
                                                                   "client"};

struct SqlCounters {
  std::atomic<std::uint64_t> connects{0};
  std::atomic<std::uint64_t> connect_failures{0};
  std::atomic<std::int64_t> connections_open{0};
  std::atomic<std::uint64_t> statements{0};
  std::array<std::atomic<std::uint64_t>, kSqlErrorKinds.size()> errors{};
};

class SqlClient final : public SqlExecutor {
 public:
  // `keys`: {rand}'s range (--db-keys). Initialises the client library: construct it before
  // any thread runs work.
  SqlClient(DbUrl url, std::int64_t keys);

  // Runs the statement on this thread's connection (opening it if needed) and reads its whole
  // result. Throws std::runtime_error "sql <errno>: <the database's message>" on any failure.
  void execute(const SqlStatement& statement, std::mt19937_64& random,
               RequestKeys& drawn) const override;

  // At start: prepares (never executes) every sql: statement of `spec` once, keys set to 1.
  // Throws std::invalid_argument with the database's message if one is refused; returns a
  // warning (the database is unreachable: requests will get err: replies until it is up), or
  // "" when all is well.
  std::string check(const WorkSpec& spec) const;

  nlohmann::json stats_json() const;
  const DbUrl& url() const { return url_; }

 private:
  DbUrl url_;
  std::int64_t keys_;
  std::uint64_t generation_;  // tells this client's thread connections from an earlier one's
  std::shared_ptr<SqlCounters> counters_;
};

}  // namespace poolbench
