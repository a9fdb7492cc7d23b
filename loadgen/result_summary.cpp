// The human summary table of a run document.
#include "result_summary.hpp"

#include <iomanip>
#include <sstream>
#include <string>
#include <utility>

namespace poolbench {
namespace {

using json = nlohmann::json;

std::string format_fixed(double value, int decimals) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(decimals) << value;
  return out.str();
}

// Microseconds, shown in the unit that suits them.
std::string format_us(double us) {
  if (us >= 1e6) return format_fixed(us / 1e6, 3) + " s";
  if (us >= 1e3) return format_fixed(us / 1e3, 3) + " ms";
  return format_fixed(us, 0) + " us";
}

// The load offered, what became of the requests, and the throughput.
void print_load_and_requests(std::ostream& out, const json& run) {
  const json& config = run.at("config");
  const bool open = run.at("model") == "open";
  out << "target " << run.at("target").get<std::string>() << ", "
      << run.at("model").get<std::string>() << " loop, " << config.at("connections")
      << " connections x depth " << config.at("depth") << ", " << run.at("generator").at("threads")
      << " threads";
  if (open) {
    out << ", " << config.at("arrival").get<std::string>() << " "
        << format_fixed(config.at("rate").get<double>(), 0) << " req/s";
  }
  out << ", window " << format_fixed(run.at("window_s").get<double>(), 2) << " s ("
      << run.at("end").get<std::string>() << ")\n";
  out << "  requests   " << run.at("scheduled") << " scheduled, " << run.at("completed")
      << " completed, " << run.at("errors").at("total") << " errors, " << run.at("timeouts")
      << " timeouts, " << run.at("unfinished") << " unfinished\n";
  if (!run.at("errors").at("by_kind").empty()) {
    out << "  errors    ";
    for (const auto& [kind, count] : run.at("errors").at("by_kind").items()) {
      out << " " << kind << "=" << count;
    }
    out << "\n";
  }
  // Older documents have no "warmup"; a clean warm-up is not worth a line.
  const json warmup = run.value("warmup", json::object());
  if (warmup.value("errors", 0) + warmup.value("timeouts", 0) > 0) {
    out << "  warm-up    " << warmup.value("errors", 0) << " errors, "
        << warmup.value("timeouts", 0) << " timeouts (not measured)\n";
  }
  out << "  throughput " << format_fixed(run.at("throughput_rps").get<double>(), 1) << " req/s";
  if (open) {
    out << " (achieved " << format_fixed(run.at("achieved_rps").get<double>(), 1) << " of "
        << format_fixed(run.at("requested_rps").get<double>(), 1) << " requested; "
        << run.at("late_sends") << " late sends)";
  }
  out << "\n\n";
}

// Response time, service time and schedule lag, one row each.
void print_latency_table(std::ostream& out, const json& run) {
  out << std::left << std::setw(16) << "" << std::right;
  const char* columns[] = {"min", "mean", "p50", "p90", "p99", "p99.9", "p99.99", "max"};
  const char* keys[] = {"min", "mean", "p50", "p90", "p99", "p99_9", "p99_99", "max"};
  for (const char* column : columns)
    out << std::setw(11) << column;
  out << "\n";
  const std::pair<const char*, const char*> rows[] = {{"response time", "latency_us"},
                                                      {"service time", "service_time_us"},
                                                      {"schedule lag", "schedule_lag_us"}};
  for (const auto& [label, key] : rows) {
    const json& h = run.at(key);
    out << std::left << std::setw(16) << label << std::right;
    for (const char* k : keys)
      out << std::setw(11) << format_us(h.at(k).get<double>());
    out << "\n";
  }
}

// Little's law, the generator's own CPU and whether the run is valid, with the reasons.
void print_checks(std::ostream& out, const json& run) {
  out << "\n  little's law ratio " << format_fixed(run.at("little_ratio").get<double>(), 3)
      << ", generator CPU " << format_fixed(run.at("generator").at("cpu_s").get<double>(), 3)
      << " s (" << format_fixed(run.at("generator").at("cpu_us_per_request").get<double>(), 2)
      << " us/request)\n";
  out << "  valid: " << (run.at("valid").get<bool>() ? "yes" : "no");
  if (!run.at("reasons").empty()) {
    out << " (";
    bool first = true;
    for (const auto& reason : run.at("reasons")) {
      out << (first ? "" : ", ") << reason.get<std::string>();
      first = false;
    }
    out << ")";
  }
  out << "\n";
}

// --fail-on's outcomes, one line each.
void print_thresholds(std::ostream& out, const json& judged) {
  out << "  thresholds: "
      << (!judged.at("judged").get<bool>()  ? "not judged (the run is invalid)"
          : judged.at("passed").get<bool>() ? "all met"
                                            : "FAILED")
      << "\n";
  for (const json& threshold : judged.at("thresholds")) {
    const bool latency = threshold.contains("value_us");
    out << "    " << (threshold.at("passed").get<bool>() ? "ok    " : "FAIL  ")
        << threshold.at("threshold").get<std::string>() << "  (measured "
        << (latency ? format_fixed(threshold.at("value_us").get<double>() / 1000.0, 3) + " ms"
                    : format_fixed(threshold.at("value").get<double>(), 4))
        << ")\n";
  }
}

}  // namespace

void print_summary(std::ostream& out, const json& run) {
  print_load_and_requests(out, run);
  print_latency_table(out, run);
  print_checks(out, run);
  if (run.contains("thresholds")) print_thresholds(out, run.at("thresholds"));
}

}  // namespace poolbench
