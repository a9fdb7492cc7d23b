#include "sql_client.hpp"

#include <mysql.h>

#include <algorithm>
#include <charconv>
#include <mutex>
#include <stdexcept>

namespace poolbench {
namespace {

constexpr unsigned kConnectTimeoutS = 2;
// A database that stops answering mid-statement must not hold a worker forever.
constexpr unsigned kReadWriteTimeoutS = 10;

std::string bad_url(std::string_view text) {
  return std::string("bad --db URL '")
      .append(text)
      .append("': expected mysql://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?socket=PATH]");
}

std::string error_text(unsigned error_number, const char* message) {
  return "sql " + std::to_string(error_number) + ": " + message;
}

std::size_t kind_index(unsigned error_number) {
  const std::string_view kind = sql_error_kind(error_number);
  return static_cast<std::size_t>(std::find(kSqlErrorKinds.begin(), kSqlErrorKinds.end(), kind) -
                                  kSqlErrorKinds.begin());
}

// A new connection, or a std::runtime_error with the client's error (counted by the caller).
struct ConnectFailure : std::runtime_error {
  ConnectFailure(unsigned error_number, const std::string& text)
      : std::runtime_error(text), error_number(error_number) {}
  unsigned error_number;
};

MYSQL* connect(const DbUrl& url) {
  MYSQL* mysql = mysql_init(nullptr);
  if (mysql == nullptr) throw ConnectFailure(2008, error_text(2008, "out of memory"));
  const unsigned connect_timeout = kConnectTimeoutS, io_timeout = kReadWriteTimeoutS;
  mysql_options(mysql, MYSQL_OPT_CONNECT_TIMEOUT, &connect_timeout);
  mysql_options(mysql, MYSQL_OPT_READ_TIMEOUT, &io_timeout);
  mysql_options(mysql, MYSQL_OPT_WRITE_TIMEOUT, &io_timeout);
  const char* socket = url.socket.empty() ? nullptr : url.socket.c_str();
  if (mysql_real_connect(mysql, url.host.c_str(), url.user.c_str(), url.password.c_str(),
                         url.database.c_str(), url.port, socket, 0) == nullptr) {
    const unsigned error_number = mysql_errno(mysql);
    ConnectFailure failure(error_number, error_text(error_number, mysql_error(mysql)));
    mysql_close(mysql);
    throw failure;
  }
  return mysql;
}

// This thread's connection. Destroyed when the thread ends, closing it there.
class ThreadConnection {
 public:
  ~ThreadConnection() { close(); }

  MYSQL* get(const DbUrl& url, std::uint64_t generation,
             const std::shared_ptr<SqlCounters>& counters) {
    if (mysql_ != nullptr && generation_ == generation) return mysql_;
    close();
    try {
      mysql_ = connect(url);
    } catch (const ConnectFailure& failure) {
      counters->connect_failures.fetch_add(1, std::memory_order_relaxed);
      counters->errors[kind_index(failure.error_number)].fetch_add(1, std::memory_order_relaxed);
      throw;
    }
    generation_ = generation;
    counters_ = counters;
    counters_->connects.fetch_add(1, std::memory_order_relaxed);
    counters_->connections_open.fetch_add(1, std::memory_order_relaxed);
    return mysql_;
  }

  void close() {
    if (mysql_ == nullptr) return;
    mysql_close(mysql_);
    mysql_ = nullptr;
    counters_->connections_open.fetch_sub(1, std::memory_order_relaxed);
  }

 private:
  MYSQL* mysql_ = nullptr;
  std::uint64_t generation_ = 0;
  std::shared_ptr<SqlCounters> counters_;  // outlives the client if this thread does
};

thread_local ThreadConnection this_thread_connection;
std::atomic<std::uint64_t> next_generation{1};

// Reads and frees every result the statement produced; false on an error.
bool read_all_results(MYSQL* mysql) {
  for (;;) {
    MYSQL_RES* result = mysql_store_result(mysql);
    if (result != nullptr) {
      mysql_free_result(result);
    } else if (mysql_field_count(mysql) != 0) {
      return false;
    }
    const int more = mysql_next_result(mysql);
    if (more < 0) return true;
    if (more > 0) return false;
  }
}

}  // namespace

DbUrl DbUrl::parse(std::string_view text) {
  constexpr std::string_view kScheme = "mysql://";
  if (!text.starts_with(kScheme)) throw std::invalid_argument(bad_url(text));
  std::string_view rest = text.substr(kScheme.size());
  DbUrl url;
  const auto at = rest.rfind('@', rest.find('/'));
  const auto slash = rest.find('/');
  if (at == std::string_view::npos || slash == std::string_view::npos || at > slash) {
    throw std::invalid_argument(bad_url(text));
  }
  const std::string_view user_info = rest.substr(0, at);
  const auto colon = user_info.find(':');
  url.user = std::string(user_info.substr(0, colon));
  if (colon != std::string_view::npos) url.password = std::string(user_info.substr(colon + 1));
  std::string_view host_port = rest.substr(at + 1, slash - at - 1);
  const auto port_colon = host_port.rfind(':');
  if (port_colon != std::string_view::npos) {
    const std::string_view port = host_port.substr(port_colon + 1);
    const auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), url.port);
    if (error != std::errc() || end != port.data() + port.size() || url.port == 0 ||
        url.port > 65535) {
      throw std::invalid_argument(bad_url(text));
    }
    host_port = host_port.substr(0, port_colon);
  }
  url.host = std::string(host_port);
  std::string_view path = rest.substr(slash + 1);
  const auto question = path.find('?');
  if (question != std::string_view::npos) {
    const std::string_view query = path.substr(question + 1);
    if (!query.starts_with("socket=") || query.size() == 7) {
      throw std::invalid_argument(bad_url(text));
    }
    url.socket = std::string(query.substr(7));
    path = path.substr(0, question);
  }
  url.database = std::string(path);
  if (url.user.empty() || url.database.empty() || (url.host.empty() && url.socket.empty())) {
    throw std::invalid_argument(bad_url(text));
  }
  return url;
}

std::string DbUrl::to_string() const {
  std::string text = "mysql://" + user + (password.empty() ? "" : ":***") + "@" + host;
  if (port != 3306) text += ":" + std::to_string(port);
  text += "/" + database;
  if (!socket.empty()) text += "?socket=" + socket;
  return text;
}

std::string_view sql_error_kind(unsigned error_number) {
  switch (error_number) {
    case 2002:
    case 2003:
    case 2005:
      return "cannot_connect";
    case 1044:
    case 1045:
    case 1698:
      return "access_denied";
    case 1040:
    case 1203:
      return "too_many_connections";
    case 2006:
    case 2013:
    case 2055:
    case 1053:
    case 1927:
    case 4031:
      return "connection_lost";
    case 1205:
      return "lock_wait_timeout";
    case 1213:
      return "deadlock";
    default:
      return error_number >= 2000 ? "client" : "statement";
  }
}

bool sql_error_drops_connection(unsigned error_number) {
  return error_number >= 2000 || error_number == 1053 || error_number == 1927 ||
         error_number == 4031;
}

SqlClient::SqlClient(DbUrl url, std::int64_t keys)
    : url_(std::move(url)),
      keys_(keys),
      generation_(next_generation.fetch_add(1)),
      counters_(std::make_shared<SqlCounters>()) {
  if (keys_ < 1) throw std::invalid_argument("--db-keys must be at least 1");
  // Not thread-safe, and mysql_init would call it lazily from whichever worker came first.
  static std::once_flag initialised;
  std::call_once(initialised, [] { mysql_library_init(0, nullptr, nullptr); });
}

void SqlClient::execute(const SqlStatement& statement, std::mt19937_64& random,
                        RequestKeys& drawn) const {
  MYSQL* mysql = this_thread_connection.get(url_, generation_, counters_);
  const std::string text = statement.render(random, keys_, drawn);
  if (mysql_real_query(mysql, text.data(), text.size()) == 0 && read_all_results(mysql)) {
    counters_->statements.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  const unsigned error_number = mysql_errno(mysql);
  std::runtime_error failure(error_text(error_number, mysql_error(mysql)));
  counters_->errors[kind_index(error_number)].fetch_add(1, std::memory_order_relaxed);
  if (sql_error_drops_connection(error_number)) this_thread_connection.close();
  throw failure;
}

std::string SqlClient::check(const WorkSpec& spec) const {
  MYSQL* mysql = nullptr;
  try {
    mysql = connect(url_);
  } catch (const ConnectFailure& failure) {
    return std::string("cannot check the sql: statements now (") + failure.what() +
           "); requests get err: replies until the database at " + url_.to_string() + " is up";
  }
  std::string refused;
  for (const WorkPart& part : spec.parts) {
    if (part.kind != WorkPart::Kind::kSql || !refused.empty()) continue;
    MYSQL_STMT* prepared = mysql_stmt_init(mysql);
    const std::string text = part.sql->render_with_ones();
    if (prepared != nullptr && mysql_stmt_prepare(prepared, text.data(), text.size()) != 0) {
      refused = "the database refuses sql:" + part.sql->spelling() + " (" + text +
                "): " + error_text(mysql_stmt_errno(prepared), mysql_stmt_error(prepared));
    }
    if (prepared != nullptr) mysql_stmt_close(prepared);
  }
  mysql_close(mysql);
  if (!refused.empty()) throw std::invalid_argument(refused);
  return "";
}

nlohmann::json SqlClient::stats_json() const {
  nlohmann::json errors = nlohmann::json::object();
  for (std::size_t i = 0; i < kSqlErrorKinds.size(); ++i) {
    errors[std::string(kSqlErrorKinds[i])] = counters_->errors[i].load(std::memory_order_relaxed);
  }
  return {{"db", url_.to_string()},
          {"connects", counters_->connects.load(std::memory_order_relaxed)},
          {"connect_failures", counters_->connect_failures.load(std::memory_order_relaxed)},
          {"connections_open", counters_->connections_open.load(std::memory_order_relaxed)},
          {"statements", counters_->statements.load(std::memory_order_relaxed)},
          {"errors", std::move(errors)}};
}

}  // namespace poolbench
