#include "work.hpp"

#include <time.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <initializer_list>
#include <optional>
#include <sstream>
#include <thread>

namespace poolbench {
namespace {

constexpr std::string_view kGrammar =
    "expected none or PART[+PART]..., PART = KIND:DURATION[,fixed|exp][,pPROB=DURATION]... or "
    "sql:STATEMENT or sql:NAME, KIND sleep|spin, DURATION a number with ns|us|ms|s, NAME "
    "point-read|hot-update|range-scan|sleep-10ms, STATEMENT with {rand} or {rand:N} for a random "
    "key (e.g. sleep:10ms, spin:200us, spin:2ms+sleep:8ms, sleep:1ms,p0.01=100ms, "
    "sql:point-read+spin:1ms)";

constexpr double kHourNs = 3600e9;

// 'text', quoted for a message. (Built by appending: g++ 12 at -O3 warns falsely about
// "literal" + std::string, -Wrestrict.)
std::string quoted(std::string_view text) {
  return std::string("'").append(text).append("'");
}

// What is wrong with one part; parse() adds which spec and which part.
struct BadPart {
  std::string why;
};

// A plain decimal: digits with an optional fraction, or a fraction alone ("10", "1.5", ".5",
// "5."). No sign, exponent, spaces or "inf": the Python peer accepts exactly the same.
std::optional<double> read_decimal(std::string_view text) {
  const auto is_digit = [](char c) { return c >= '0' && c <= '9'; };
  std::size_t digits = 0;
  bool dot = false;
  for (char c : text) {
    if (is_digit(c)) {
      ++digits;
    } else if (c == '.' && !dot) {
      dot = true;
    } else {
      return std::nullopt;
    }
  }
  if (digits == 0) return std::nullopt;
  // strtod, not from_chars: out of range it gives infinity or zero (as Python's float does),
  // where from_chars leaves the value untouched.
  return std::strtod(std::string(text).c_str(), nullptr);
}

// Nanoseconds per unit of every duration this file reads; 0 for an unknown unit.
double nanoseconds_per(std::string_view unit) {
  if (unit == "ns") return 1;
  if (unit == "us") return 1e3;
  if (unit == "ms") return 1e6;
  if (unit == "s") return 1e9;
  if (unit == "m" || unit == "min") return 60e9;
  if (unit == "h") return 3600e9;
  return 0;
}

double number_in_part(std::string_view text) {
  const auto value = read_decimal(text);
  if (!value) throw BadPart{quoted(text) + " is not a number"};
  return *value;
}

std::chrono::nanoseconds duration_in_part(std::string_view text) {
  std::size_t unit_at = text.size();
  while (unit_at > 0 && text[unit_at - 1] >= 'a' && text[unit_at - 1] <= 'z')
    --unit_at;
  const std::string_view unit = text.substr(unit_at);
  // The grammar's units stop at seconds (flags also take minutes and hours).
  const double scale = nanoseconds_per(unit) <= 1e9 ? nanoseconds_per(unit) : 0;
  const auto value = read_decimal(text.substr(0, unit_at));
  if (!value || scale == 0) throw BadPart{quoted(text) + " is not a duration with a unit"};
  // Compared before rounding, as the Python peer compares.
  if (*value * scale > kHourNs) throw BadPart{quoted(text) + " is longer than an hour"};
  return std::chrono::nanoseconds(std::llround(*value * scale));
}

// The shortest exact spelling in the largest of `units` that divides the duration, else ns.
std::string spelled_in(std::chrono::nanoseconds duration,
                       std::initializer_list<std::pair<std::int64_t, const char*>> units) {
  const std::int64_t ns = duration.count();
  for (const auto& [size, unit] : units) {
    if (ns != 0 && ns % size == 0) return std::to_string(ns / size) + unit;
  }
  return ns == 0 ? "0s" : std::to_string(ns) + "ns";
}

// A duration as a work spec writes it: the grammar has no minutes or hours, so 1 h is 3600s.
std::string spec_duration(std::chrono::nanoseconds duration) {
  return spelled_in(duration, {{1'000'000'000, "s"}, {1'000'000, "ms"}, {1'000, "us"}});
}

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> pieces;
  for (;;) {
    const auto at = text.find(separator);
    pieces.push_back(text.substr(0, at));
    if (at == std::string_view::npos) return pieces;
    text.remove_prefix(at + 1);
  }
}

// The spec's parts: split at '+', except that a sql: part runs on to the next piece that starts
// a part of its own (a statement may hold '+': n=n+1).
std::vector<std::string_view> split_parts(std::string_view text) {
  const auto starts_a_part = [](std::string_view piece) {
    return piece.starts_with("sleep:") || piece.starts_with("spin:") || piece.starts_with("sql:");
  };
  std::vector<std::string_view> parts;
  for (const std::string_view piece : split(text, '+')) {
    if (!parts.empty() && parts.back().starts_with("sql:") && !starts_a_part(piece)) {
      // Views into `text`: widening the last one over '+' and this piece joins them.
      parts.back() = std::string_view(parts.back().data(), parts.back().size() + 1 + piece.size());
    } else {
      parts.push_back(piece);
    }
  }
  return parts;
}

WorkPart parse_sql_part(std::string_view statement) {
  WorkPart part;
  part.kind = WorkPart::Kind::kSql;
  try {
    part.sql = SqlStatement::parse(statement);
  } catch (const std::invalid_argument& bad) {
    throw BadPart{bad.what()};
  }
  return part;
}

WorkPart parse_part(std::string_view text) {
  if (text.empty()) throw BadPart{"it is empty"};
  if (text == "none") throw BadPart{"'none' cannot be combined with other parts"};
  const auto colon = text.find(':');
  if (colon == std::string_view::npos) throw BadPart{"no ':' after the kind"};
  const std::string_view kind = text.substr(0, colon);
  if (kind == "sql") return parse_sql_part(text.substr(colon + 1));
  WorkPart part;
  if (kind == "sleep") {
    part.kind = WorkPart::Kind::kSleep;
  } else if (kind == "spin") {
    part.kind = WorkPart::Kind::kSpin;
  } else {
    throw BadPart{"unknown kind " + quoted(kind)};
  }
  const auto options = split(text.substr(colon + 1), ',');
  part.duration = duration_in_part(options[0]);
  double outlier_probability = 0;
  for (std::size_t i = 1; i < options.size(); ++i) {
    const std::string_view option = options[i];
    const auto equals = option.find('=');
    if (option == "fixed" || option == "exp") {
      if (i != 1) throw BadPart{"the distribution must come right after the duration"};
      part.distribution =
          option == "exp" ? WorkPart::Distribution::kExponential : WorkPart::Distribution::kFixed;
    } else if (option.starts_with('p') && equals != std::string_view::npos) {
      const double probability = number_in_part(option.substr(1, equals - 1));
      if (probability <= 0 || probability > 1) {
        throw BadPart{"probability in " + quoted(option) + " is not in (0, 1]"};
      }
      outlier_probability += probability;
      part.outliers.push_back({probability, duration_in_part(option.substr(equals + 1))});
    } else {
      throw BadPart{"unknown option " + quoted(option)};
    }
  }
  if (outlier_probability > 1 + 1e-12) throw BadPart{"the p...= probabilities add up to over 1"};
  return part;
}

}  // namespace

std::chrono::nanoseconds parse_duration(std::string_view text) {
  std::optional<std::chrono::nanoseconds> duration;
  double value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error == std::errc() && end != text.data() && std::isfinite(value) && value >= 0) {
    const std::string_view unit(end, static_cast<std::size_t>(text.data() + text.size() - end));
    const double scale = unit.empty() ? 1e9 : nanoseconds_per(unit);  // bare: seconds
    if (scale != 0 && value * scale <= 9e18) {
      duration = std::chrono::nanoseconds(std::llround(value * scale));
    }
  }
  if (!duration) {
    throw std::invalid_argument(quoted(text) +
                                " is not a duration (e.g. 10s, 250ms, 200us, 1.5m, 2h; a bare "
                                "number is seconds)");
  }
  return *duration;
}

std::string format_duration(std::chrono::nanoseconds duration) {
  return spelled_in(duration, {{3'600'000'000'000, "h"},
                               {60'000'000'000, "m"},
                               {1'000'000'000, "s"},
                               {1'000'000, "ms"},
                               {1'000, "us"}});
}

std::string WorkPart::to_string() const {
  if (kind == Kind::kSql) return "sql:" + sql->spelling();
  std::ostringstream out;
  out << (kind == Kind::kSleep ? "sleep:" : "spin:") << spec_duration(duration);
  if (distribution == Distribution::kExponential) out << ",exp";
  for (const auto& outlier : outliers) {
    out << ",p" << outlier.probability << '=' << spec_duration(outlier.duration);
  }
  return out.str();
}

std::chrono::nanoseconds WorkPart::sample(std::mt19937_64& random) const {
  if (!outliers.empty()) {
    double pick = std::uniform_real_distribution<double>(0, 1)(random);
    for (const auto& outlier : outliers) {
      if (pick < outlier.probability) return outlier.duration;
      pick -= outlier.probability;
    }
  }
  if (distribution == Distribution::kExponential && duration.count() > 0) {
    std::exponential_distribution<double> exponential(1.0 / static_cast<double>(duration.count()));
    return std::chrono::nanoseconds(std::llround(exponential(random)));
  }
  return duration;
}

double WorkPart::mean_nanoseconds() const {
  double outlier_probability = 0;
  double mean = 0;
  for (const auto& outlier : outliers) {
    outlier_probability += outlier.probability;
    mean += outlier.probability * static_cast<double>(outlier.duration.count());
  }
  return mean + (1 - outlier_probability) * static_cast<double>(duration.count());
}

WorkSpec WorkSpec::parse(std::string_view text) {
  WorkSpec spec;
  if (text == "none") return spec;
  const auto pieces = split_parts(text);
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    try {
      spec.parts.push_back(parse_part(pieces[i]));
    } catch (const BadPart& bad) {
      const std::string where =
          pieces.size() > 1 ? "part " + std::to_string(i + 1) + " " + quoted(pieces[i]) + ": " : "";
      throw std::invalid_argument("bad work spec " + quoted(text) + ": " + where + bad.why + "; " +
                                  std::string(kGrammar));
    }
  }
  return spec;
}

std::string WorkSpec::to_string() const {
  if (parts.empty()) return "none";
  std::string text;
  for (const auto& part : parts) {
    if (!text.empty()) text += '+';
    text += part.to_string();
  }
  return text;
}

double WorkSpec::mean_nanoseconds() const {
  return mean_cpu_nanoseconds() + mean_blocking_nanoseconds();
}

double WorkSpec::mean_cpu_nanoseconds() const {
  double total = 0;
  for (const auto& part : parts) {
    if (part.kind == WorkPart::Kind::kSpin) total += part.mean_nanoseconds();
  }
  return total;
}

double WorkSpec::mean_blocking_nanoseconds() const {
  double total = 0;
  for (const auto& part : parts) {
    if (part.kind == WorkPart::Kind::kSleep) total += part.mean_nanoseconds();
  }
  return total;
}

bool WorkSpec::has_sql() const {
  return std::any_of(parts.begin(), parts.end(),
                     [](const WorkPart& part) { return part.kind == WorkPart::Kind::kSql; });
}

bool WorkSpec::is_fixed() const {
  for (const auto& part : parts) {
    if (!part.is_fixed()) return false;
  }
  return true;
}

std::chrono::nanoseconds thread_cpu_time() {
  timespec now{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return std::chrono::seconds(now.tv_sec) + std::chrono::nanoseconds(now.tv_nsec);
}

void consume_thread_cpu(std::chrono::nanoseconds cost) {
  // Reading the thread CPU clock is a system call (no vDSO path), so it is read once per round
  // of 256 FNV-1a passes over the buffer (a few microseconds of arithmetic), not per pass.
  // The buffer is thread_local and rewritten, so the compiler cannot drop the work.
  thread_local std::array<std::uint64_t, 16> buffer{1, 2,  3,  4,  5,  6,  7,  8,
                                                    9, 10, 11, 12, 13, 14, 15, 16};
  constexpr std::uint64_t kFnvPrime = 0x100000001b3;
  std::uint64_t hash = 0xcbf29ce484222325;
  const auto until = thread_cpu_time() + cost;
  while (thread_cpu_time() < until) {
    for (int pass = 0; pass < 256; ++pass) {
      for (auto& word : buffer) {
        hash = (hash ^ word) * kFnvPrime;
        word = hash;
      }
    }
  }
}

Work::Work(WorkSpec spec, double fail_rate, const SqlExecutor* sql)
    : spec_(std::move(spec)), fail_rate_(fail_rate), sql_(sql) {
  if (!(fail_rate >= 0 && fail_rate <= 1)) {
    throw std::invalid_argument("fail rate " + std::to_string(fail_rate) + " is not in [0, 1]");
  }
  if (spec_.has_sql() && sql_ == nullptr) {
    throw std::invalid_argument("--work has sql: parts: give --db mysql://...");
  }
}

void Work::perform() const {
  thread_local std::mt19937_64 random{std::random_device{}()};
  RequestKeys drawn;  // shared by the request's sql: parts
  for (const auto& part : spec_.parts) {
    const auto cost = part.sample(random);
    if (part.kind == WorkPart::Kind::kSql) {
      sql_->execute(*part.sql, random, drawn);
    } else if (part.kind == WorkPart::Kind::kSleep) {
      std::this_thread::sleep_for(cost);
    } else {
      consume_thread_cpu(cost);
    }
  }
  if (fail_rate_ > 0 && std::uniform_real_distribution<double>(0, 1)(random) < fail_rate_) {
    throw InjectedFailure();
  }
}

}  // namespace poolbench
