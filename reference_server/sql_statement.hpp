// The statement of a `sql:` work part: a named workload or a statement as given, with random-key
// placeholders. Parsing and rendering only: running it is sql_client.hpp's (the grammar must not
// pull a database client into loadgen, which reads work specs too).
//
//   sql:NAME        point-read, hot-update, range-scan, sleep-10ms (kNamedStatements)
//   sql:STATEMENT   any text; {rand} is a key drawn uniformly from 1..keys (--db-keys),
//                   {rand:N} one from 1..N. Each distinct placeholder is drawn once per request,
//                   in all its sql: parts: `BETWEEN {rand} AND {rand}+9999` is one range, and
//                   sql:SELECT..{rand}+sql:UPDATE..{rand} reads and writes the same row.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace poolbench {

// The keys one request has drawn so far: (placeholder's range, key). A request's sql: parts
// share it.
using RequestKeys = std::vector<std::pair<std::int64_t, std::int64_t>>;

struct NamedStatement {
  std::string_view name;
  std::string_view statement;
};

// The workloads the sweeps and README use: a point read, a point update on a hot set of 8 rows
// (lock contention), a 10,000-row range (CPU on the database side), a pure wait in the database.
inline constexpr NamedStatement kNamedStatements[] = {
    {"point-read", "SELECT v FROM kv WHERE id={rand}"},
    {"hot-update", "UPDATE kv SET n=n+1 WHERE id={rand:8}"},
    {"range-scan", "SELECT COUNT(*),SUM(n) FROM kv WHERE id BETWEEN {rand} AND {rand}+9999"},
    {"sleep-10ms", "SELECT SLEEP(0.01)"},
};

class SqlStatement {
 public:
  // Throws std::invalid_argument with what is wrong (the work grammar adds which spec and part).
  static SqlStatement parse(std::string_view text);

  const std::string& spelling() const { return spelling_; }    // as given: a name or a statement
  const std::string& statement() const { return statement_; }  // the name resolved
  // The statement with a key per placeholder, drawn unless `drawn` has it; `keys` is {rand}'s
  // range.
  std::string render(std::mt19937_64& random, std::int64_t keys, RequestKeys& drawn) const;
  // Every placeholder replaced by 1: for checking the statement once at start.
  std::string render_with_ones() const;

 private:
  // Literal text, then a placeholder: its range (N, or 0 for {rand}; RequestKeys draws once per
  // range), or kNone for the last piece.
  struct Piece {
    static constexpr std::int64_t kNone = -1;
    std::string text;
    std::int64_t range = kNone;
  };
  std::string spelling_;
  std::string statement_;
  std::vector<Piece> pieces_;
};

}  // namespace poolbench
