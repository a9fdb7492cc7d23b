#include "slo.hpp"

#include <cctype>
#include <charconv>
#include <cmath>
#include <stdexcept>

#include "reference_server/work.hpp"

namespace poolbench {
namespace {

std::string trimmed(std::string_view text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  const auto last = text.find_last_not_of(" \t");
  return std::string(text.substr(first, last - first + 1));
}

double parse_number(std::string_view text, std::string_view what) {
  double value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || !std::isfinite(value)) {
    throw std::invalid_argument("'" + std::string(text) + "' is not a number (" +
                                std::string(what) + ")");
  }
  return value;
}

// Splits "name<=value" / "name>=value" / "name<value": name, operator, value.
struct Comparison {
  std::string name;
  std::string op;
  std::string value;
};
Comparison split_comparison(std::string_view text) {
  const auto at = text.find_first_of("<>");
  if (at == std::string_view::npos || at == 0) {
    throw std::invalid_argument("'" + std::string(text) +
                                "': expected NAME<=VALUE, e.g. p99<=50ms, errors<=0.1%, "
                                "achieved>=0.97");
  }
  const std::size_t op_length = at + 1 < text.size() && text[at + 1] == '=' ? 2 : 1;
  return {trimmed(text.substr(0, at)), std::string(text.substr(at, op_length)),
          trimmed(text.substr(at + op_length))};
}

}  // namespace

double parse_fraction(std::string_view text) {
  const bool percent = !text.empty() && text.back() == '%';
  const double value = parse_number(percent ? text.substr(0, text.size() - 1) : text, "a rate");
  return percent ? value / 100.0 : value;
}

nlohmann::json Slo::to_json() const {
  return {{"text", text}, {"percentile", percentile}, {"limit_us", limit_us}, {"strict", strict}};
}

Slo parse_slo(std::string_view text) {
  const std::string expected = "expected pNN<=DURATION, e.g. p99<=50ms or p99.9<=200ms";
  const Comparison parts = split_comparison(text);
  if (parts.name.size() < 2 || parts.name[0] != 'p' || (parts.op != "<=" && parts.op != "<")) {
    throw std::invalid_argument("bad SLO '" + std::string(text) + "': " + expected);
  }
  Slo slo;
  slo.text = trimmed(text);
  slo.strict = parts.op == "<";
  slo.percentile = parse_number(std::string_view(parts.name).substr(1), "the percentile");
  if (!(slo.percentile > 0 && slo.percentile < 100)) {
    throw std::invalid_argument("bad SLO '" + std::string(text) +
                                "': the percentile must be above 0 and below 100");
  }
  if (parts.value.empty() || std::isdigit(static_cast<unsigned char>(parts.value.back()))) {
    throw std::invalid_argument("bad SLO '" + std::string(text) +
                                "': give the limit's unit, e.g. 50ms, 800us or 1.5s");
  }
  std::chrono::nanoseconds limit{};
  try {
    limit = parse_duration(parts.value);
  } catch (const std::exception& e) {
    throw std::invalid_argument("bad SLO '" + std::string(text) + "': " + e.what());
  }
  slo.limit_us = std::chrono::duration_cast<std::chrono::microseconds>(limit).count();
  if (slo.limit_us <= 0) {
    throw std::invalid_argument("bad SLO '" + std::string(text) +
                                "': the limit must be at least 1us");
  }
  return slo;
}

std::vector<Threshold> parse_thresholds(std::string_view text) {
  std::vector<Threshold> thresholds;
  std::size_t start = 0;
  while (start <= text.size()) {
    const auto comma = text.find(',', start);
    const std::string term =
        trimmed(text.substr(start, comma == std::string_view::npos ? comma : comma - start));
    start = comma == std::string_view::npos ? text.size() + 1 : comma + 1;
    if (term.empty()) throw std::invalid_argument("empty threshold in '" + std::string(text) + "'");
    Threshold threshold;
    threshold.text = term;
    const Comparison parts = split_comparison(term);
    if (parts.name == "errors" && parts.op == "<=") {
      threshold.kind = Threshold::Kind::kErrorRate;
      threshold.limit = parse_fraction(parts.value);
    } else if (parts.name == "achieved" && parts.op == ">=") {
      threshold.kind = Threshold::Kind::kAchievedRatio;
      threshold.limit = parse_fraction(parts.value);
    } else if (!parts.name.empty() && parts.name[0] == 'p') {
      threshold.latency = parse_slo(term);
    } else {
      throw std::invalid_argument("unknown threshold '" + term +
                                  "': expected pNN<=DURATION, errors<=RATE or achieved>=RATIO");
    }
    thresholds.push_back(std::move(threshold));
  }
  return thresholds;
}

double error_rate_of(const RunResult& result) {
  if (result.scheduled == 0) return 0;
  return static_cast<double>(result.errors.requests + result.timeouts) /
         static_cast<double>(result.scheduled);
}

double achieved_ratio_of(const RunResult& result) {
  if (result.requested_rps <= 0) return 1.0;
  // Against what the schedule intended in the window, not the nominal rate: a Poisson window
  // of n arrivals varies by about 1/sqrt(n) (3% at 1000), which says nothing about the target.
  const double scheduled_rps =
      result.window_s > 0 ? static_cast<double>(result.scheduled) / result.window_s : 0;
  return scheduled_rps > 0 ? result.achieved_rps / scheduled_rps : 0.0;
}

std::vector<ThresholdOutcome> evaluate_thresholds(const std::vector<Threshold>& thresholds,
                                                  const RunResult& result) {
  std::vector<ThresholdOutcome> outcomes;
  for (const Threshold& threshold : thresholds) {
    ThresholdOutcome outcome{&threshold};
    switch (threshold.kind) {
      case Threshold::Kind::kLatency: {
        const std::int64_t value =
            result.response_time.value_at_percentile(threshold.latency.percentile);
        outcome.value = static_cast<double>(value);
        outcome.passed = result.response_time.total_count() > 0 && threshold.latency.met_by(value);
        break;
      }
      case Threshold::Kind::kErrorRate:
        outcome.value = error_rate_of(result);
        outcome.passed = outcome.value <= threshold.limit;
        break;
      case Threshold::Kind::kAchievedRatio:
        outcome.value = achieved_ratio_of(result);
        outcome.passed = outcome.value >= threshold.limit;
        break;
    }
    outcomes.push_back(outcome);
  }
  return outcomes;
}

nlohmann::json thresholds_to_json(const std::vector<ThresholdOutcome>& outcomes) {
  nlohmann::json list = nlohmann::json::array();
  bool all = true;
  for (const ThresholdOutcome& outcome : outcomes) {
    const bool latency = outcome.threshold->kind == Threshold::Kind::kLatency;
    list.push_back({{"threshold", outcome.threshold->text},
                    {latency ? "value_us" : "value", outcome.value},
                    {"passed", outcome.passed}});
    all = all && outcome.passed;
  }
  return {{"thresholds", std::move(list)}, {"passed", all}};
}

}  // namespace poolbench
