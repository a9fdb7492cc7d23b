// The run document written from a RunResult and read back, the .hlog interval log, and atomic
// file writes.
#include "result.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "histogram.hpp"
#include "histogram_writers.hpp"
#include "result_statistics.hpp"

namespace poolbench {
namespace {

using json = nlohmann::json;

// Durations are seconds (doubles) in the document (seconds_of, run_result.hpp, and back).
std::chrono::nanoseconds from_seconds(double s) {
  return std::chrono::nanoseconds(std::llround(s * 1e9));
}

}  // namespace

// ---- writing the document ----

namespace {

json interval_json(const IntervalStats& stats) {
  return {{"start_s", stats.start_s},
          {"length_s", stats.length_s},
          {"phase", to_string(stats.phase)},
          {"completed", stats.completed},
          {"throughput_rps", stats.throughput_rps},
          {"p50_us", stats.p50_us},
          {"p99_us", stats.p99_us},
          {"max_us", stats.max_us},
          {"errors", stats.errors},
          {"timeouts", stats.timeouts},
          {"histogram", stats.histogram}};
}

json host_json(const HostInfo& host) {
  return {{"hostname", host.hostname},   {"os", host.os},
          {"kernel", host.kernel},       {"machine", host.machine},
          {"cpu_model", host.cpu_model}, {"cores", host.cores}};
}

// Where the load started on this host's clocks (loadgen/README.md §11).
json clock_json(const RunResult& r) {
  return {{"t0_epoch_s", r.t0_epoch_s},
          {"t0_monotonic_s", r.t0_monotonic_s},
          {"start_skew_s", r.start_skew_s ? json(*r.start_skew_s) : json(nullptr)}};
}

json config_json(const LoadSettings& s) {
  return {
      {"argv", s.argv},
      {"target", s.target},
      {"connections", s.connections},
      {"depth", s.depth},
      {"threads", s.threads},
      {"rate", s.rate},
      {"arrival", to_string(s.arrival)},
      {"seed", s.seed},
      {"duration_s", seconds_of(s.duration)},
      {"requests", s.requests},
      {"warmup_s", seconds_of(s.warmup)},
      {"timeout_s", seconds_of(s.timeout)},
      {"connect_timeout_s", seconds_of(s.connect_timeout)},
      {"late_send_s", seconds_of(s.late_send)},
      {"think_time_s", seconds_of(s.think_time)},
      {"interval_s", seconds_of(s.interval)},
      {"protocol", to_string(s.protocol)},
      {"payload_size", s.payload_size},
      {"request", s.request},
      {"expect", s.expect},
      {"co_correction", s.expected_interval.count() > 0 ? "expected_interval" : "none"},
      {"expected_interval_us", seconds_of(s.expected_interval) * 1e6},
      {"segment", {{"index", s.segment.index}, {"count", s.segment.count}}},
      {"start_at", s.start_at ? json(iso8601_utc(*s.start_at)) : json(nullptr)},
  };
}

}  // namespace

json to_json(const RunResult& r) {
  json errors = {{"total", r.errors.total()},
                 {"requests", r.errors.requests},
                 {"stray", r.errors.stray},
                 {"by_kind", json::object()}};
  for (const auto& [kind, count] : r.errors.by_kind)
    errors["by_kind"][kind] = count;
  json intervals = json::array();
  for (const IntervalStats& stats : r.intervals)
    intervals.push_back(interval_json(stats));
  auto half = [](const HalfStats& h) {
    return json{{"count", h.count}, {"throughput_rps", h.throughput_rps}, {"p50_us", h.p50_us}};
  };
  const std::uint64_t accounted = r.completed + r.errors.requests + r.timeouts + r.unfinished;
  return {
      {"schema", kRunSchema},
      {"config", config_json(r.settings)},
      {"run_id", r.run_id},
      {"start_time", r.start_time},
      {"clock", clock_json(r)},
      {"host", host_json(r.host)},
      {"target", r.settings.target},
      {"model", to_string(r.model)},
      {"end", to_string(r.end)},
      {"scheduled", r.scheduled},
      {"completed", r.completed},
      {"errors", std::move(errors)},
      {"timeouts", r.timeouts},
      {"unfinished", r.unfinished},
      {"late_sends", r.late_sends},
      {"warmup", {{"errors", r.warmup_errors}, {"timeouts", r.warmup_timeouts}}},
      {"accounting_ok", accounted == r.scheduled},
      {"window_s", r.window_s},
      {"reply_span_s", r.reply_span_s},
      {"throughput_rps", r.throughput_rps},
      {"requested_rps", r.requested_rps},
      {"achieved_rps", r.achieved_rps},
      {"latency_us", histogram_summary(r.response_time)},
      {"service_time_us", histogram_summary(r.service_time)},
      {"schedule_lag_us", histogram_summary(r.schedule_lag)},
      {"little_ratio", r.little_ratio},
      {"mean_in_system", r.mean_in_system},
      {"stability", {{"first_half", half(r.first_half)}, {"second_half", half(r.second_half)}}},
      {"valid", r.valid},
      {"reasons", r.reasons},
      {"intervals", std::move(intervals)},
      {"generator",
       {{"threads", r.threads},
        {"connections", r.settings.connections},
        {"cpu_s", r.cpu_s},
        {"cpu_us_per_request", r.cpu_us_per_request},
        {"requests_sent", r.requests_sent}}},
  };
}

// ---- reading it back ----

namespace {

LoadSettings settings_from_json(const json& c) {
  LoadSettings s;
  s.argv = c.at("argv").get<std::vector<std::string>>();
  s.target = c.at("target").get<std::string>();
  s.connections = c.at("connections").get<int>();
  s.depth = c.at("depth").get<int>();
  s.threads = c.at("threads").get<int>();
  s.rate = c.at("rate").get<double>();
  s.arrival = parse_arrival(c.at("arrival").get<std::string>());
  s.seed = c.at("seed").get<std::uint64_t>();
  s.duration = from_seconds(c.at("duration_s").get<double>());
  s.requests = c.at("requests").get<std::uint64_t>();
  s.warmup = from_seconds(c.at("warmup_s").get<double>());
  s.timeout = from_seconds(c.at("timeout_s").get<double>());
  s.connect_timeout = from_seconds(c.at("connect_timeout_s").get<double>());
  // Files written before --late-send existed used 1 ms.
  s.late_send = from_seconds(c.value("late_send_s", 0.001));
  s.think_time = from_seconds(c.at("think_time_s").get<double>());
  s.interval = from_seconds(c.at("interval_s").get<double>());
  s.protocol = parse_protocol(c.at("protocol").get<std::string>());
  s.payload_size = c.at("payload_size").get<int>();
  s.request = c.at("request").get<std::string>();
  s.expect = c.at("expect").get<std::string>();
  s.expected_interval = from_seconds(c.at("expected_interval_us").get<double>() / 1e6);
  // Files written before --segment and --start-at: one whole load, started when connected.
  if (c.contains("segment")) {
    s.segment = {c["segment"].at("index").get<int>(), c["segment"].at("count").get<int>()};
  }
  if (c.contains("start_at") && c["start_at"].is_string()) {
    s.start_at = parse_start_at(c["start_at"].get<std::string>());
  }
  return s;
}

Histogram histogram_from_json(const json& summary) {
  return Histogram::decode_v2_base64(summary.at("histogram").get<std::string>());
}

RunEnd parse_end(const std::string& text) {
  if (text == "interrupted") return RunEnd::kInterrupted;
  if (text == "connections_lost") return RunEnd::kConnectionsLost;
  return RunEnd::kComplete;
}

}  // namespace

RunResult run_result_from_json(const json& doc) {
  RunResult r;
  r.settings = settings_from_json(doc.at("config"));
  r.run_id = doc.value("run_id", "");  // absent in files written before run ids
  r.start_time = doc.at("start_time").get<std::string>();
  if (doc.contains("clock")) {
    const json& clock = doc["clock"];
    r.t0_epoch_s = clock.value("t0_epoch_s", 0.0);
    r.t0_monotonic_s = clock.value("t0_monotonic_s", 0.0);
    if (clock.contains("start_skew_s") && clock["start_skew_s"].is_number()) {
      r.start_skew_s = clock["start_skew_s"].get<double>();
    }
  }
  const json& host = doc.at("host");
  r.host.hostname = host.at("hostname").get<std::string>();
  r.host.os = host.at("os").get<std::string>();
  r.host.kernel = host.at("kernel").get<std::string>();
  r.host.machine = host.at("machine").get<std::string>();
  r.host.cpu_model = host.at("cpu_model").get<std::string>();
  r.host.cores = host.at("cores").get<int>();
  r.end = parse_end(doc.at("end").get<std::string>());
  r.scheduled = doc.at("scheduled").get<std::uint64_t>();
  r.completed = doc.at("completed").get<std::uint64_t>();
  r.timeouts = doc.at("timeouts").get<std::uint64_t>();
  r.unfinished = doc.at("unfinished").get<std::uint64_t>();
  r.late_sends = doc.at("late_sends").get<std::uint64_t>();
  // Files written before the warm-up was counted have no "warmup": nothing was counted then.
  if (doc.contains("warmup")) {
    r.warmup_errors = doc["warmup"].value("errors", std::uint64_t{0});
    r.warmup_timeouts = doc["warmup"].value("timeouts", std::uint64_t{0});
  }
  const json& errors = doc.at("errors");
  r.errors.requests = errors.at("requests").get<std::uint64_t>();
  r.errors.stray = errors.at("stray").get<std::uint64_t>();
  for (const auto& [kind, count] : errors.at("by_kind").items()) {
    r.errors.by_kind[kind] = count.get<std::uint64_t>();
  }
  r.response_time = histogram_from_json(doc.at("latency_us"));
  r.service_time = histogram_from_json(doc.at("service_time_us"));
  r.schedule_lag = histogram_from_json(doc.at("schedule_lag_us"));
  r.window_s = doc.at("window_s").get<double>();
  r.reply_span_s = doc.at("reply_span_s").get<double>();
  r.mean_in_system = doc.at("mean_in_system").get<double>();
  const json& generator = doc.at("generator");
  r.threads = generator.at("threads").get<int>();
  r.cpu_s = generator.at("cpu_s").get<double>();
  r.requests_sent = generator.at("requests_sent").get<std::uint64_t>();
  return r;
}

// ---- files ----

namespace {

void write_fd_fully(int fd, const std::string& text) {
  const char* data = text.data();
  std::size_t left = text.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, data, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::system_error(errno, std::generic_category());
    }
    data += n;
    left -= static_cast<std::size_t>(n);
  }
}

}  // namespace

void write_text_atomically(const std::filesystem::path& path, const std::string& text) {
  static std::atomic<unsigned> counter{0};
  const std::filesystem::path directory =
      path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  const std::filesystem::path temporary =
      directory / ("." + path.filename().string() + ".tmp." + std::to_string(::getpid()) + "." +
                   std::to_string(counter++));
  auto fail = [&](int error) {
    ::unlink(temporary.c_str());
    throw std::runtime_error("cannot write " + path.string() + ": " + std::strerror(error));
  };
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    const int error = errno;  // nothing was created
    throw std::runtime_error("cannot write " + path.string() + ": " + std::strerror(error));
  }
  try {
    write_fd_fully(fd, text);
  } catch (const std::system_error& e) {
    ::close(fd);
    fail(e.code().value());
  }
  if (::fsync(fd) != 0) {
    const int error = errno;
    ::close(fd);
    fail(error);
  }
  if (::close(fd) != 0) fail(errno);
  if (::rename(temporary.c_str(), path.c_str()) != 0) fail(errno);
}

void write_json_atomically(const std::filesystem::path& path, const json& doc) {
  write_text_atomically(path, doc.dump(2) + "\n");
}

void write_hlog(std::ostream& out, const RunResult& result) {
  HistogramLogWriter log(out);
  log.write_log_format_version();
  std::string command = "[loadgen";
  for (std::size_t i = 1; i < result.settings.argv.size(); ++i)
    command += " " + result.settings.argv[i];
  log.write_comment(command + "]");
  log.write_comment(
      "[values in microseconds; intervals tagged warmup or drain started outside "
      "the measured window]");
  log.write_start_time(result.start_epoch_ms);
  log.write_base_time(result.start_epoch_ms);
  log.write_legend();
  constexpr double kMicrosecondsPerMillisecond = 1000.0;  // the max column is in ms
  for (const IntervalStats& interval : result.intervals) {
    log.write_interval(interval.start_s, interval.start_s + interval.length_s,
                       Histogram::decode_v2_base64(interval.histogram), kMicrosecondsPerMillisecond,
                       interval.phase == Phase::kMeasure ? "" : to_string(interval.phase));
  }
}

}  // namespace poolbench
