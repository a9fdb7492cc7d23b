#include "cli.hpp"

#include <charconv>
#include <cmath>
#include <stdexcept>

namespace poolbench {
namespace {

using std::chrono::nanoseconds;

// A CLI11 option whose text is a duration, stored into `target`.
CLI::Option* add_duration(CLI::App& app, const std::string& name, nanoseconds& target,
                          const std::string& description) {
  const std::string flag = name.substr(0, name.find(','));
  CLI::Option* option = app.add_option_function<std::string>(
      name,
      [&target, flag](const std::string& text) {
        try {
          target = parse_duration(text);
        } catch (const std::invalid_argument& e) {
          throw CLI::ValidationError(flag, e.what());
        }
      },
      description);
  option->type_name("DURATION")->default_str(format_duration(target));
  return option;
}

}  // namespace

namespace {

void add_target_options(CLI::App& app, LoadSettings& s) {
  const std::string target_group = "Target and load";
  app.add_option("--target,-t", s.target, "Server address, HOST:PORT")
      ->capture_default_str()
      ->group(target_group);
  app.add_option("--connections,-c", s.connections, "TCP connections to open and keep")
      ->capture_default_str()
      ->check(CLI::Range(1, 1'000'000))
      ->group(target_group);
  app.add_option("--depth,-d", s.depth,
                 "Requests in flight per connection (pipelining). Open loop: the cap per "
                 "connection; requests beyond it wait in the generator, charged to latency")
      ->capture_default_str()
      ->check(CLI::Range(1, 1'000'000))
      ->group(target_group);
  app.add_option("--threads,-T", s.threads,
                 "Generator threads, each with its own event loop and connections "
                 "(default: min(cores, connections))")
      ->check(CLI::Range(1, 4096))
      ->group(target_group);
  app.add_option("--rate,-R", s.rate,
                 "Open loop: requests/s in total, sent at intended times whatever the replies "
                 "do. Without it the load is a closed loop")
      ->check(CLI::PositiveNumber)
      ->group(target_group);
  app.add_option_function<std::string>(
         "--arrival", [&s](const std::string& text) { s.arrival = parse_arrival(text); },
         "Open-loop arrivals: uniform (constant gaps) or poisson (exponential gaps)")
      ->check(CLI::IsMember({"uniform", "constant", "poisson"}))
      ->default_str("uniform")
      ->group(target_group);
  app.add_option("--seed", s.seed, "Seed of the Poisson arrival stream")
      ->capture_default_str()
      ->group(target_group);
  app.add_option("--requests,-n", s.requests,
                 "Stop after this many measured requests (instead of --duration)")
      ->check(CLI::PositiveNumber)
      ->group(target_group);
  add_duration(app, "--think-time", s.think_time,
               "Closed loop: pause between a reply and the next request on that slot")
      ->group(target_group);
}

void add_timing_options(CLI::App& app, LoadSettings& s) {
  const std::string timing_group = "Timing";
  add_duration(app, "--duration", s.duration,
               "Measurement window, after the warm-up (requests intended inside it count)")
      ->group(timing_group);
  add_duration(app, "--warmup", s.warmup, "Load before the window, excluded from every number")
      ->group(timing_group);
  add_duration(app, "--timeout", s.timeout,
               "Per request, from its intended send time; a timeout is recorded at this value")
      ->group(timing_group);
  add_duration(app, "--late-send", s.late_send,
               "Open loop: a send further than this behind its intended time is late, and over "
               "1% late sends make the run invalid (schedule_lag_exceeded). Its lag is charged to "
               "response time either way; raise it on a shared machine when the SLO is far above "
               "it")
      ->group(timing_group);
  add_duration(app, "--connect-timeout", s.connect_timeout,
               "Time allowed to open all connections (refused ones are retried meanwhile: the "
               "server may still be starting)")
      ->group(timing_group);
  add_duration(app, "--interval", s.interval,
               "Length of the per-interval series and of the status line's period")
      ->group(timing_group);
  add_duration(app, "--expected-interval", s.expected_interval,
               "Closed loop only: HdrHistogram's coordinated-omission correction for this "
               "expected request interval (off by default; never for open loop)")
      ->group(timing_group);
}

void add_protocol_options(CLI::App& app, LoadSettings& s) {
  const std::string protocol_group = "Protocol";
  app.add_option_function<std::string>(
         "--protocol", [&s](const std::string& text) { s.protocol = parse_protocol(text); },
         "ack: lines '<id> <padding>', replies 'ack:<line>' matched by id (any order); "
         "raw: --request sent as is, any one line back, in order")
      ->check(CLI::IsMember({"ack", "raw"}))
      ->default_str("ack")
      ->group(protocol_group);
  app.add_option("--payload-size", s.payload_size,
                 "ack: bytes per request line without CRLF (at least the id's digits)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 20))
      ->group(protocol_group);
  app.add_option("--request", s.request, "raw: the request line (e.g. PING for redis-server)")
      ->capture_default_str()
      ->group(protocol_group);
  app.add_option("--expect", s.expect,
                 "raw: a reply must start with this (e.g. +PONG); others count as errors")
      ->group(protocol_group);
}

}  // namespace

void add_load_options(CLI::App& app, LoadSettings& s) {
  add_target_options(app, s);
  add_timing_options(app, s);
  add_protocol_options(app, s);
}

namespace {

// An option whose text `parse` turns into `target`: a std::invalid_argument from it becomes
// CLI11's validation error, naming the flag.
template <typename Target, typename Parse>
CLI::Option* add_parsed(CLI::App& app, const std::string& flag, Target& target, Parse parse,
                        const std::string& description) {
  return app.add_option_function<std::string>(
      flag,
      [&target, flag, parse](const std::string& text) {
        try {
          target = parse(text);
        } catch (const std::invalid_argument& e) {
          throw CLI::ValidationError(flag, e.what());
        }
      },
      description);
}

}  // namespace

void add_share_options(CLI::App& app, LoadSettings& s) {
  const std::string group = "Several generators (loadgen/README.md §11)";
  add_parsed(app, "--segment", s.segment, parse_segment,
             "Run share i of N (i counted from 0) of the load the other flags describe: its part "
             "of --connections and of a closed loop's --requests, and in open loop every N-th "
             "arrival of the one plan of --rate and --seed, so the N shares together send "
             "exactly what one process would. Give every share the same flags but i; merge "
             "their JSON with loadgen merge")
      ->type_name("i/N")
      ->group(group);
  add_parsed(app, "--start-at", s.start_at, parse_start_at,
             "Start the load (its warm-up) at this wall-clock instant, once connected: epoch "
             "seconds (1764650000.5) or RFC 3339 (2026-12-02T04:30:00Z). At most 2 s in the "
             "past and 24 h ahead. The JSON records the actual start and its skew (\"clock\")")
      ->type_name("TIME")
      ->group(group);
}

void finish_load_settings(const CLI::App& app, LoadSettings& settings,
                          const std::vector<std::string>& argv) {
  if (app.count("--requests") > 0 && app.count("--duration") == 0) {
    settings.duration = nanoseconds(0);  // until the requests are done
  }
  settings.argv = argv;
  try {
    settings.validate();
  } catch (const std::invalid_argument& e) {
    throw CLI::ValidationError(e.what());
  }
}

}  // namespace poolbench
