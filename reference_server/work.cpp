#include "work.hpp"

#include <charconv>
#include <cmath>
#include <optional>
#include <sstream>
#include <thread>

namespace poolbench {
namespace {

constexpr std::string_view kGrammar =
    "expected none or KIND:DURATION[,fixed|exp][,pPROB=DURATION]..., KIND sleep|spin, "
    "DURATION a number with ns|us|ms|s (e.g. sleep:10ms, spin:200us, sleep:1ms,p0.01=100ms)";

// 'text', quoted for a message. (Built by appending: g++ 12 at -O3 warns falsely about
// "literal" + std::string, -Wrestrict.)
std::string quoted(std::string_view text) {
  return std::string("'").append(text).append("'");
}

[[noreturn]] void reject(std::string_view spec, const std::string& why) {
  throw std::invalid_argument("bad work spec '" + std::string(spec) + "': " + why + "; " +
                              std::string(kGrammar));
}

double parse_number(std::string_view spec, std::string_view text) {
  double value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || !std::isfinite(value)) {
    reject(spec, quoted(text) + " is not a number");
  }
  return value;
}

// Nanoseconds per unit; 0 for an unknown unit.
double nanoseconds_per(std::string_view unit) {
  if (unit == "ns") return 1;
  if (unit == "us") return 1e3;
  if (unit == "ms") return 1e6;
  if (unit == "s") return 1e9;
  if (unit == "m" || unit == "min") return 60e9;
  if (unit == "h") return 3600e9;
  return 0;
}

// The one duration reader behind work specs and every flag of both programs. A number
// without a unit is seconds unless `unit_required`.
std::optional<std::chrono::nanoseconds> read_duration(std::string_view text, bool unit_required) {
  double value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end == text.data() || !std::isfinite(value) || value < 0) {
    return std::nullopt;
  }
  const std::string_view unit(end, static_cast<std::size_t>(text.data() + text.size() - end));
  if (unit.empty() && unit_required) return std::nullopt;
  const double scale = unit.empty() ? 1e9 : nanoseconds_per(unit);
  if (scale == 0 || value * scale > 9e18) return std::nullopt;
  return std::chrono::nanoseconds(std::llround(value * scale));
}

std::chrono::nanoseconds duration_in_spec(std::string_view spec, std::string_view text) {
  const auto duration = read_duration(text, true);
  if (!duration) reject(spec, quoted(text) + " is not a duration with a unit");
  if (*duration > std::chrono::hours(1)) reject(spec, quoted(text) + " is longer than an hour");
  return *duration;
}

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  for (;;) {
    const auto at = text.find(separator);
    parts.push_back(text.substr(0, at));
    if (at == std::string_view::npos) return parts;
    text.remove_prefix(at + 1);
  }
}

}  // namespace

std::chrono::nanoseconds parse_duration(std::string_view text) {
  const auto duration = read_duration(text, false);
  if (!duration) {
    throw std::invalid_argument(quoted(text) +
                                " is not a duration (e.g. 10s, 250ms, 200us, 1.5m, 2h; a bare "
                                "number is seconds)");
  }
  return *duration;
}

std::string format_duration(std::chrono::nanoseconds duration) {
  const std::int64_t ns = duration.count();
  struct Unit {
    std::int64_t size;
    const char* name;
  };
  for (const Unit unit : {Unit{3'600'000'000'000, "h"}, Unit{60'000'000'000, "m"},
                          Unit{1'000'000'000, "s"}, Unit{1'000'000, "ms"}, Unit{1'000, "us"}}) {
    if (ns != 0 && ns % unit.size == 0) return std::to_string(ns / unit.size) + unit.name;
  }
  return ns == 0 ? "0s" : std::to_string(ns) + "ns";
}

WorkSpec WorkSpec::parse(std::string_view text) {
  WorkSpec spec;
  if (text == "none") return spec;
  const auto colon = text.find(':');
  if (colon == std::string_view::npos) reject(text, "no ':' after the kind");
  const std::string_view kind = text.substr(0, colon);
  if (kind == "sleep") {
    spec.kind = Kind::sleep;
  } else if (kind == "spin") {
    spec.kind = Kind::spin;
  } else {
    reject(text, "unknown kind '" + std::string(kind) + "'");
  }
  const auto parts = split(text.substr(colon + 1), ',');
  spec.duration = duration_in_spec(text, parts[0]);
  double outlier_probability = 0;
  for (std::size_t i = 1; i < parts.size(); ++i) {
    const std::string_view part = parts[i];
    if (part == "fixed" || part == "exp") {
      if (i != 1) reject(text, "the distribution must come right after the duration");
      spec.distribution = part == "exp" ? Distribution::exponential : Distribution::fixed;
    } else if (part.starts_with('p') && part.find('=') != std::string_view::npos) {
      const auto equals = part.find('=');
      const double probability = parse_number(text, part.substr(1, equals - 1));
      if (probability <= 0 || probability > 1) {
        reject(text, "probability in '" + std::string(part) + "' is not in (0, 1]");
      }
      outlier_probability += probability;
      spec.outliers.push_back({probability, duration_in_spec(text, part.substr(equals + 1))});
    } else {
      reject(text, "unknown part '" + std::string(part) + "'");
    }
  }
  if (outlier_probability > 1 + 1e-12) reject(text, "the p...= probabilities add up to over 1");
  return spec;
}

std::string WorkSpec::to_string() const {
  if (kind == Kind::none) return "none";
  std::ostringstream out;
  out << (kind == Kind::sleep ? "sleep:" : "spin:") << format_duration(duration);
  if (distribution == Distribution::exponential) out << ",exp";
  for (const auto& outlier : outliers) {
    out << ",p" << outlier.probability << '=' << format_duration(outlier.duration);
  }
  return out.str();
}

std::chrono::nanoseconds WorkSpec::sample(std::mt19937_64& random) const {
  if (!outliers.empty()) {
    double pick = std::uniform_real_distribution<double>(0, 1)(random);
    for (const auto& outlier : outliers) {
      if (pick < outlier.probability) return outlier.duration;
      pick -= outlier.probability;
    }
  }
  if (distribution == Distribution::exponential && duration.count() > 0) {
    std::exponential_distribution<double> exponential(1.0 / static_cast<double>(duration.count()));
    return std::chrono::nanoseconds(std::llround(exponential(random)));
  }
  return duration;
}

double WorkSpec::mean_nanoseconds() const {
  double outlier_probability = 0;
  double mean = 0;
  for (const auto& outlier : outliers) {
    outlier_probability += outlier.probability;
    mean += outlier.probability * static_cast<double>(outlier.duration.count());
  }
  return mean + (1 - outlier_probability) * static_cast<double>(duration.count());
}

Work::Work(WorkSpec spec, double fail_rate) : spec_(std::move(spec)), fail_rate_(fail_rate) {
  if (!(fail_rate >= 0 && fail_rate <= 1)) {
    throw std::invalid_argument("fail rate " + std::to_string(fail_rate) + " is not in [0, 1]");
  }
}

void Work::perform() const {
  thread_local std::mt19937_64 random{std::random_device{}()};
  if (spec_.kind != WorkSpec::Kind::none) {
    const auto cost = spec_.sample(random);
    if (spec_.kind == WorkSpec::Kind::sleep) {
      std::this_thread::sleep_for(cost);
    } else {
      const auto until = std::chrono::steady_clock::now() + cost;
      while (std::chrono::steady_clock::now() < until) {
      }
    }
  }
  if (fail_rate_ > 0 && std::uniform_real_distribution<double>(0, 1)(random) < fail_rate_) {
    throw InjectedFailure();
  }
}

}  // namespace poolbench
