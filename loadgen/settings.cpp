#include "settings.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace poolbench {

std::string_view to_string(Protocol protocol) {
  return protocol == Protocol::kRaw ? "raw" : "ack";
}

Protocol parse_protocol(std::string_view text) {
  if (text == "ack") return Protocol::kAck;
  if (text == "raw") return Protocol::kRaw;
  throw std::invalid_argument("unknown protocol '" + std::string(text) + "' (expected ack or raw)");
}

std::string_view to_string(LoadModel model) {
  return model == LoadModel::kOpen ? "open" : "closed";
}

Endpoint parse_target(std::string_view target) {
  const auto colon = target.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == target.size()) {
    throw std::invalid_argument("target '" + std::string(target) +
                                "' is not host:port (e.g. 127.0.0.1:9090)");
  }
  Endpoint endpoint;
  endpoint.host = std::string(target.substr(0, colon));
  if (endpoint.host.size() > 2 && endpoint.host.front() == '[' && endpoint.host.back() == ']') {
    endpoint.host = endpoint.host.substr(1, endpoint.host.size() - 2);
  }
  const std::string_view port = target.substr(colon + 1);
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535) {
    throw std::invalid_argument("target '" + std::string(target) + "' has no valid port");
  }
  endpoint.port = static_cast<std::uint16_t>(value);
  return endpoint;
}

void LoadSettings::validate() const {
  auto fail = [](const std::string& message) { throw std::invalid_argument(message); };
  parse_target(target);
  if (connections < 1) fail("--connections must be at least 1");
  if (depth < 1) fail("--depth must be at least 1");
  if (threads < 0) fail("--threads must be at least 1 (or 0 for the default)");
  if (rate < 0 || !std::isfinite(rate)) fail("--rate must be a positive number of requests/s");
  // Intended times are in nanoseconds: a faster schedule would not advance.
  if (rate > 1e9) fail("--rate must be at most 1e9 requests/s (one per nanosecond)");
  if (duration.count() < 0) fail("--duration must be positive");
  if (duration.count() == 0 && requests == 0) fail("give --duration or --requests");
  if (warmup.count() < 0) fail("--warmup must not be negative");
  if (timeout.count() <= 0) fail("--timeout must be positive");
  if (connect_timeout.count() <= 0) fail("--connect-timeout must be positive");
  if (late_send.count() <= 0) fail("--late-send must be positive");
  validate_share();
  if (think_time.count() < 0) fail("--think-time must not be negative");
  if (think_time.count() > 0 && rate > 0) fail("--think-time applies to the closed loop only");
  if (interval < std::chrono::milliseconds(10)) fail("--interval must be at least 10ms");
  if (payload_size < 1 || payload_size > (1 << 20)) fail("--payload-size must be 1..1048576");
  if (protocol == Protocol::kRaw && request.empty()) fail("--request must not be empty");
  if (request.find_first_of("\r\n") != std::string::npos) fail("--request must be one line");
  if (expected_interval.count() < 0) fail("--expected-interval must not be negative");
  if (expected_interval.count() > 0 && rate > 0) {
    fail(
        "--expected-interval is for the closed loop only: open-loop latencies are already "
        "measured from intended times (correcting them again would count stalls twice)");
  }
  if (expected_interval.count() > 0 && expected_interval < std::chrono::microseconds(10)) {
    fail("--expected-interval must be at least 10us");
  }
}

void LoadSettings::validate_share() const {
  auto fail = [](const std::string& message) { throw std::invalid_argument(message); };
  const std::string shares = std::to_string(segment.count);
  if (connections < segment.count) {
    fail("--connections " + std::to_string(connections) + " cannot give each of the " + shares +
         " shares of --segment a connection: give at least " + shares);
  }
  if (model() == LoadModel::kClosed && requests > 0 &&
      requests < static_cast<std::uint64_t>(segment.count)) {
    fail("--requests " + std::to_string(requests) + " cannot give each of the " + shares +
         " shares of --segment a request: give at least " + shares);
  }
  if (!start_at) return;
  const auto now = std::chrono::system_clock::now();
  const auto seconds_from_now = [&] {
    return std::to_string(std::chrono::duration<double>(*start_at - now).count());
  };
  if (*start_at < now - kStartAtPastTolerance) {
    fail("--start-at is " + seconds_from_now() +
         " s from now, in the past: give every share a time still ahead (the shares' clocks "
         "should agree, e.g. through NTP)");
  }
  if (*start_at > now + kStartAtFurthestAhead) {
    fail("--start-at is " + seconds_from_now() + " s ahead, more than " +
         std::to_string(kStartAtFurthestAhead.count()) + " hours: a typo?");
  }
}

LoadSettings LoadSettings::share() const {
  LoadSettings mine = *this;
  mine.connections = static_cast<int>(share_of(static_cast<std::uint64_t>(connections), segment));
  if (model() == LoadModel::kClosed) mine.requests = share_of(requests, segment);
  return mine;
}

std::chrono::nanoseconds timeout_sweep_period(const LoadSettings& settings) {
  using std::chrono::milliseconds;
  return std::clamp<std::chrono::nanoseconds>(settings.timeout / 20, milliseconds(5),
                                              milliseconds(100));
}

}  // namespace poolbench
