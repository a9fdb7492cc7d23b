// What one load run is asked to do: the target, the load model (closed or open loop), the
// window, the protocol. `loadgen run`'s flags fill it (cli.hpp); validate() says what is wrong.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "schedule.hpp"
#include "segment.hpp"

namespace poolbench {

enum class Protocol {
  kAck,  // request "<id> <padding>", reply "ack:<request>" or "err:<what>|<request>"
  kRaw,  // request = LoadSettings::request, any one line back (optionally with a prefix)
};
std::string_view to_string(Protocol protocol);
Protocol parse_protocol(std::string_view text);  // throws std::invalid_argument

enum class LoadModel { kClosed, kOpen };
std::string_view to_string(LoadModel model);  // "closed" | "open"

struct LoadSettings {
  std::string target = "127.0.0.1:9090";  // host:port ([v6]:port allowed)
  int connections = 16;
  int depth = 1;    // requests in flight per connection (open loop: the cap per connection)
  int threads = 0;  // 0: min(hardware threads, connections)
  double rate = 0;  // open loop when > 0: requests/s in total
  Arrival arrival = Arrival::kUniform;
  std::uint64_t seed = 1;                                       // Poisson arrivals
  std::chrono::nanoseconds duration{std::chrono::seconds(10)};  // window; 0: until `requests`
  std::uint64_t requests = 0;  // stop after this many measured requests; 0 = none
  std::chrono::nanoseconds warmup{std::chrono::seconds(1)};
  std::chrono::nanoseconds timeout{std::chrono::seconds(5)};  // per request, from intended
  std::chrono::nanoseconds connect_timeout{std::chrono::seconds(3)};
  // A send further than this behind its intended time is a late send (loadgen/README.md §1).
  std::chrono::nanoseconds late_send{std::chrono::milliseconds(1)};
  std::chrono::nanoseconds think_time{0};  // closed loop: pause between reply and next request
  std::chrono::nanoseconds interval{std::chrono::seconds(1)};  // per-interval series, status
  Protocol protocol = Protocol::kAck;
  int payload_size = 16;         // ack: request line length without CRLF (at least the id's digits)
  std::string request = "PING";  // raw: the request line (CRLF added)
  std::string expect;            // raw: a reply must start with this ("" = any line)
  // Closed loop only, opt-in: HdrHistogram's expected-interval correction.
  std::chrono::nanoseconds expected_interval{0};
  std::vector<std::string> argv;  // the exact command line, for the record
  // --segment. As given, `connections` and `requests` are the whole load's; share() divides
  // them, and a run's recorded settings are its share's.
  Segment segment;
  // --start-at: the wall-clock instant the load (its warm-up) starts; none: once connected.
  std::optional<std::chrono::system_clock::time_point> start_at;

  LoadModel model() const { return rate > 0 ? LoadModel::kOpen : LoadModel::kClosed; }
  // This share's part of the load: its connections, its --requests (closed loop), and the rate
  // its share of the plan offers on average.
  LoadSettings share() const;
  double share_rate() const { return rate / segment.count; }
  // Throws std::invalid_argument naming the bad setting.
  void validate() const;

 private:
  void validate_share() const;  // --segment and --start-at
};

// "host:port" -> parts; throws std::invalid_argument.
struct Endpoint {
  std::string host;
  std::uint16_t port = 0;
};
Endpoint parse_target(std::string_view target);

// How often a worker looks for timed-out requests (loadgen/README.md §3). A timeout is recorded at
// the timeout value whenever it is found, so this bounds only how late the drain can end.
std::chrono::nanoseconds timeout_sweep_period(const LoadSettings& settings);

}  // namespace poolbench
