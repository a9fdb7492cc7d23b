#include "run_result.hpp"

#include <algorithm>
#include <cmath>
#include <string>

namespace poolbench {

std::string_view to_string(Phase phase) {
  switch (phase) {
    case Phase::kWarmup:
      return "warmup";
    case Phase::kMeasure:
      return "measure";
    case Phase::kDrain:
      return "drain";
  }
  return "?";
}

Phase parse_phase(std::string_view text) {
  for (const Phase phase : {Phase::kWarmup, Phase::kMeasure, Phase::kDrain}) {
    if (text == to_string(phase)) return phase;
  }
  throw std::invalid_argument("unknown interval phase '" + std::string(text) + "'");
}

std::string_view to_string(RunEnd end) {
  switch (end) {
    case RunEnd::kComplete:
      return "complete";
    case RunEnd::kInterrupted:
      return "interrupted";
    case RunEnd::kConnectionsLost:
      return "connections_lost";
  }
  return "?";
}

void ErrorCounts::add(std::string_view kind, std::uint64_t count, bool stray_reply) {
  (stray_reply ? stray : requests) += count;
  // Server error texts are unbounded; keep the kinds readable (and the map small).
  kind = kind.substr(0, 64);
  auto it = by_kind.find(kind);
  if (it == by_kind.end()) it = by_kind.emplace(std::string(kind), 0).first;
  it->second += count;
}

void ErrorCounts::merge(const ErrorCounts& other) {
  requests += other.requests;
  stray += other.stray;
  for (const auto& [kind, count] : other.by_kind)
    by_kind[kind] += count;
}

void RequestCounts::merge(const RequestCounts& other) {
  scheduled += other.scheduled;
  completed += other.completed;
  timeouts += other.timeouts;
  unfinished += other.unfinished;
  late_sends += other.late_sends;
  errors.merge(other.errors);
  response_time.merge(other.response_time);
  service_time.merge(other.service_time);
  schedule_lag.merge(other.schedule_lag);
  requests_sent += other.requests_sent;
  warmup_errors += other.warmup_errors;
  warmup_timeouts += other.warmup_timeouts;
}

namespace {

// Why a run is not valid, as stable codes (loadgen/README.md §6 says why each check exists;
// results/README.md lists them).
std::vector<std::string> invalidity_reasons(const RunResult& run) {
  std::vector<std::string> reasons;
  if (run.end == RunEnd::kInterrupted) reasons.emplace_back("interrupted");
  if (run.end == RunEnd::kConnectionsLost) reasons.emplace_back("connections_lost");
  if (run.completed == 0) reasons.emplace_back("no_completions");
  if (run.model == LoadModel::kOpen && run.completed > 0) {
    if (std::abs(run.achieved_rps / run.requested_rps - 1) > 0.10)
      reasons.emplace_back("rate_not_achieved");
    if (static_cast<double>(run.late_sends) > 0.01 * static_cast<double>(run.scheduled)) {
      reasons.emplace_back("schedule_lag_exceeded");
    }
  }
  if (run.completed > 0 && run.little_ratio > 0 && std::abs(run.little_ratio - 1) > 0.05) {
    reasons.emplace_back("little_law");
  }
  constexpr std::uint64_t kMinHalf = 200;
  if (run.first_half.count >= kMinHalf && run.second_half.count >= kMinHalf) {
    const double a = static_cast<double>(run.first_half.p50_us);
    const double b = static_cast<double>(run.second_half.p50_us);
    // p50 within 5% (with a 20 us floor: loopback jitter), closed-loop throughput within 2%.
    bool unstable = std::abs(a - b) > std::max(0.05 * std::max(a, b), 20.0);
    if (run.model == LoadModel::kClosed && run.second_half.throughput_rps > 0 &&
        std::abs(run.first_half.throughput_rps / run.second_half.throughput_rps - 1) > 0.02) {
      unstable = true;
    }
    if (unstable) reasons.emplace_back("unstable");
  }
  if (run.timeouts > 0) reasons.emplace_back("timeouts");
  for (const auto& [kind, count] : run.errors.by_kind) {
    // Not the protocol's fault: the server's own errors, a lost connection, and requests given
    // up when a raw connection was reopened after a timeout (already flagged "timeouts").
    if (kind.rfind("err:", 0) != 0 && kind != "connection_closed" && kind != "no_connection" &&
        kind != "closed_after_timeout") {
      reasons.emplace_back("protocol_errors");
      break;
    }
  }
  if (run.completed > 0 && run.response_time.total_count() < kMinSamples) {
    reasons.emplace_back("insufficient_samples");
  }
  if (run.response_time.saturated_count() > 0) reasons.emplace_back("histogram_saturated");
  return reasons;
}

}  // namespace

void RunResult::finalize() {
  model = settings.model();
  threads = settings.threads;
  throughput_rps = window_s > 0 ? static_cast<double>(completed) / window_s : 0;
  requested_rps = model == LoadModel::kOpen ? settings.share_rate() : 0;
  const double span = std::max(window_s, reply_span_s);
  achieved_rps = span > 0 ? static_cast<double>(completed + errors.requests) / span : 0;
  // Little's law over the response-time population: completed requests and timeouts (which
  // occupied the system until the timeout, and are recorded at it).
  const double mean_response_s = response_time.mean() / 1e6;
  const double departures_rps =
      window_s > 0 ? static_cast<double>(completed + timeouts) / window_s : 0;
  little_ratio = 0;
  if (settings.expected_interval.count() > 0) {
    // The correction adds synthetic values: the histogram's mean is no longer the requests'.
  } else if (model == LoadModel::kClosed) {
    const double in_flight = static_cast<double>(settings.connections) * settings.depth;
    little_ratio = departures_rps * (mean_response_s + seconds_of(settings.think_time)) / in_flight;
  } else if (mean_in_system > 0) {
    little_ratio = departures_rps * mean_response_s / mean_in_system;
  }
  cpu_us_per_request = requests_sent > 0 ? cpu_s * 1e6 / static_cast<double>(requests_sent) : 0;
  reasons = invalidity_reasons(*this);
  valid = reasons.empty();
}

std::string connections_lost_cause(const RunResult& result) {
  const std::uint64_t ours = result.connections_closed_by_loadgen;
  if (ours == 0) return "the server closed every connection";
  const auto total = static_cast<std::uint64_t>(result.settings.connections);
  std::string text = "every connection was lost: loadgen closed " + std::to_string(ours) + " of " +
                     std::to_string(total) +
                     " itself after a reply line over 1 MiB (reply_too_long)";
  if (ours < total) text += ", the server closed the others";
  return text;
}

int exit_code_for(const RunResult& result) {
  switch (result.end) {
    case RunEnd::kComplete:
      return 0;
    case RunEnd::kConnectionsLost:
      return 1;
    case RunEnd::kInterrupted:
      return 130;
  }
  return 1;
}

}  // namespace poolbench
