// The "business logic" a request costs: the stand-in for a blocking database call (MySQL),
// and for the CPU a real handler burns around it.
//
// Spec grammar (the --work flag; scripts/twisted_server.py reads the same grammar and gives the
// same error messages, checked against tests/data/work_specs.json):
//   none                        no work at all
//   PART[+PART]...              the parts run one after the other, in the order given
//   PART = KIND:DURATION[,DIST][,pPROB=DURATION]...
//     KIND      sleep  blocks without using CPU (I/O: a database or network call)
//               spin   uses DURATION of the calling thread's own CPU time (its thread CPU
//                      clock), computing a hash; when the thread has to share a CPU the part
//                      takes longer on the wall clock, but never costs less CPU
//     DURATION  a decimal number and a unit ns, us, ms or s: 10ms, 1.5ms, 200us (at most 1 h)
//     DIST      fixed (default) | exp (exponential with DURATION as its mean)
//     pPROB=D   with probability PROB the part costs D instead (heavy tails, bimodal); several
//               may be given, their probabilities add up to at most 1
//   PART = sql:STATEMENT | sql:NAME   a statement run on the database (--db), blocking, as the
//               article's MySQL call (sql_statement.hpp: names, {rand} keys). A statement may
//               hold '+': a part starting sql: runs on to the next '+' followed by sleep:, spin:
//               or sql:. Its cost is the database's, unknown here (0 in the means below).
//   Examples: sleep:1s (the seed's), sleep:10ms,exp, spin:200us, sleep:1ms,p0.01=100ms,
//             spin:2ms+sleep:8ms (20% CPU), sleep:5ms,exp+spin:200us, sql:point-read+spin:1ms
#pragma once

#include <chrono>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "sql_statement.hpp"

namespace poolbench {

// One part of a work spec: a sleep or a spin with its cost distribution, or a statement.
struct WorkPart {
  enum class Kind { kSleep, kSpin, kSql };
  enum class Distribution { kFixed, kExponential };
  struct Outlier {
    double probability;
    std::chrono::nanoseconds duration;
  };

  Kind kind = Kind::kSleep;
  std::chrono::nanoseconds duration{0};  // the mean, for Distribution::kExponential
  Distribution distribution = Distribution::kFixed;
  std::vector<Outlier> outliers;
  std::optional<SqlStatement> sql;  // kSql only

  std::string to_string() const;
  std::chrono::nanoseconds sample(std::mt19937_64& random) const;
  double mean_nanoseconds() const;  // outliers included
  bool is_fixed() const { return distribution == Distribution::kFixed && outliers.empty(); }
};

struct WorkSpec {
  std::vector<WorkPart> parts;  // empty: none

  // Throws std::invalid_argument with a message that quotes the spec, names the bad part and
  // gives the grammar.
  static WorkSpec parse(std::string_view text);
  std::string to_string() const;  // canonical spelling; parse(to_string()) is the same spec

  // The expected cost of one request, in nanoseconds: all of it, its spin (CPU) parts, and
  // its sleep (blocking) parts.
  double mean_nanoseconds() const;
  double mean_cpu_nanoseconds() const;
  double mean_blocking_nanoseconds() const;
  // Every request costs the same (no exp, no outliers).
  bool is_fixed() const;
  bool has_sql() const;
};

// Durations of flags, in both programs: "10s", "250ms", "200us", "100ns", "1.5m", "2h"; a bare
// number is seconds. Throws std::invalid_argument naming the bad text.
std::chrono::nanoseconds parse_duration(std::string_view text);
// The shortest exact spelling: "10s", "250ms", "1500us", "0s".
std::string format_duration(std::chrono::nanoseconds duration);

// The CPU time the calling thread has used so far (CLOCK_THREAD_CPUTIME_ID).
std::chrono::nanoseconds thread_cpu_time();
// A spin part: computes a hash over a small buffer until the calling thread has used `cost`
// more CPU time. Overshoots by at most one hashing round between clock reads (a few us).
void consume_thread_cpu(std::chrono::nanoseconds cost);

// Thrown by Work::perform for the requests --fail-rate picks.
struct InjectedFailure : std::runtime_error {
  InjectedFailure() : std::runtime_error("injected failure") {}
};

// Runs a sql: part's statement on a database (sql_client.hpp); throws std::exception with the
// text of the error reply. Called from every thread that runs work.
class SqlExecutor {
 public:
  virtual ~SqlExecutor() = default;
  virtual void execute(const SqlStatement& statement, std::mt19937_64& random,
                       RequestKeys& drawn) const = 0;
};

// Thread-safe: each calling thread draws from its own random generator.
class Work {
 public:
  // `sql` runs the sql: parts; required when the spec has any (std::invalid_argument if not).
  Work(WorkSpec spec, double fail_rate, const SqlExecutor* sql = nullptr);
  // Runs the parts in order; throws InjectedFailure for a fail_rate fraction.
  void perform() const;
  const WorkSpec& spec() const { return spec_; }
  double fail_rate() const { return fail_rate_; }

 private:
  WorkSpec spec_;
  double fail_rate_;
  const SqlExecutor* sql_;
};

}  // namespace poolbench
