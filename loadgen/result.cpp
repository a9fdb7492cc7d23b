#include "result.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iomanip>
#include <sstream>

#include "histogram_writers.hpp"

namespace poolbench {
namespace {

using json = nlohmann::json;

struct PercentileName {
  const char* name;
  double percentile;
};
constexpr PercentileName kPercentiles[] = {{"p50", 50}, {"p75", 75},     {"p90", 90},
                                           {"p99", 99}, {"p99_9", 99.9}, {"p99_99", 99.99}};
constexpr PercentileName kCiPercentiles[] = {
    {"p50", 50}, {"p90", 90}, {"p99", 99}, {"p99_9", 99.9}, {"p99_99", 99.99}};

double seconds(std::chrono::nanoseconds d) {
  return std::chrono::duration<double>(d).count();
}
std::chrono::nanoseconds from_seconds(double s) {
  return std::chrono::nanoseconds(std::llround(s * 1e9));
}

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
      {"duration_s", seconds(s.duration)},
      {"requests", s.requests},
      {"warmup_s", seconds(s.warmup)},
      {"timeout_s", seconds(s.timeout)},
      {"connect_timeout_s", seconds(s.connect_timeout)},
      {"think_time_s", seconds(s.think_time)},
      {"interval_s", seconds(s.interval)},
      {"protocol", to_string(s.protocol)},
      {"payload_size", s.payload_size},
      {"request", s.request},
      {"expect", s.expect},
      {"co_correction", s.expected_interval.count() > 0 ? "expected_interval" : "none"},
      {"expected_interval_us", seconds(s.expected_interval) * 1e6},
  };
}

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
  s.think_time = from_seconds(c.at("think_time_s").get<double>());
  s.interval = from_seconds(c.at("interval_s").get<double>());
  s.protocol = parse_protocol(c.at("protocol").get<std::string>());
  s.payload_size = c.at("payload_size").get<int>();
  s.request = c.at("request").get<std::string>();
  s.expect = c.at("expect").get<std::string>();
  s.expected_interval = from_seconds(c.at("expected_interval_us").get<double>() / 1e6);
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

// Reads back what to_json() wrote (the parts a merge needs).
RunResult result_from_json(const json& doc) {
  RunResult r;
  r.settings = settings_from_json(doc.at("config"));
  r.start_time = doc.at("start_time").get<std::string>();
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
  r.in_system_samples = doc.at("in_system_samples").get<std::uint64_t>();
  const json& generator = doc.at("generator");
  r.threads = generator.at("threads").get<int>();
  r.cpu_s = generator.at("cpu_s").get<double>();
  r.requests_sent = generator.at("requests_sent").get<std::uint64_t>();
  return r;
}

// Settings that must agree for two runs to be one experiment: name, then value as text.
std::vector<std::pair<std::string, std::string>> experiment_keys(const json& config,
                                                                 bool concurrent) {
  std::vector<std::pair<std::string, std::string>> keys;
  for (const char* name :
       {"depth", "arrival", "think_time_s", "timeout_s", "protocol", "payload_size", "request",
        "expect", "co_correction", "expected_interval_us"}) {
    keys.emplace_back(name, config.at(name).dump());
  }
  // Repetitions must also offer the same load; concurrent generators split it between them.
  if (!concurrent) {
    for (const char* name : {"connections", "rate"}) {
      keys.emplace_back(name, config.at(name).dump());
    }
  }
  const bool open = config.at("rate").get<double>() > 0;
  keys.emplace_back("model", open ? "\"open\"" : "\"closed\"");
  return keys;
}

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

PercentileInterval percentile_ci95(const Histogram& histogram, double percentile) {
  PercentileInterval ci;
  const std::int64_t n = histogram.total_count();
  const double p = percentile / 100.0;
  if (n <= 0 || p <= 0 || p >= 1) return ci;
  // At least one sample must lie beyond the percentile with 95% probability: 1 - p^n >= 0.95.
  const double needed = std::ceil(std::log(0.05) / std::log(p));
  if (static_cast<double>(n) < needed) return ci;
  const double nd = static_cast<double>(n);
  const double spread = 1.959964 * std::sqrt(nd * p * (1 - p));
  const auto low_rank = static_cast<std::int64_t>(std::max(1.0, std::floor(nd * p - spread)));
  const auto high_rank = static_cast<std::int64_t>(std::min(nd, std::ceil(nd * p + spread) + 1));
  auto value_at_rank = [&](std::int64_t rank) {
    return histogram.value_at_percentile(100.0 * static_cast<double>(rank) / nd);
  };
  ci.sufficient = true;
  ci.low = value_at_rank(low_rank);
  ci.high = value_at_rank(high_rank);
  return ci;
}

json histogram_summary(const Histogram& h) {
  const bool empty = h.total_count() == 0;
  json summary = {{"count", h.total_count()},
                  {"min", empty ? 0 : h.min()},
                  {"mean", empty ? 0.0 : h.mean()},
                  {"stdev", empty ? 0.0 : h.stddev()}};
  for (const auto& [name, percentile] : kPercentiles) {
    summary[name] = empty ? 0 : h.value_at_percentile(percentile);
  }
  summary["max"] = empty ? 0 : h.max();
  summary["histogram"] = h.encode_v2_base64();
  json ci = json::object();
  for (const auto& [name, percentile] : kCiPercentiles) {
    const PercentileInterval interval = percentile_ci95(h, percentile);
    ci[name] =
        interval.sufficient ? json::array({interval.low, interval.high}) : json("insufficient");
  }
  summary["ci95"] = std::move(ci);
  return summary;
}

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
      {"start_time", r.start_time},
      {"host",
       {{"hostname", r.host.hostname},
        {"os", r.host.os},
        {"kernel", r.host.kernel},
        {"machine", r.host.machine},
        {"cpu_model", r.host.cpu_model},
        {"cores", r.host.cores}}},
      {"target", r.settings.target},
      {"model", to_string(r.model)},
      {"end", to_string(r.end)},
      {"scheduled", r.scheduled},
      {"completed", r.completed},
      {"errors", std::move(errors)},
      {"timeouts", r.timeouts},
      {"unfinished", r.unfinished},
      {"late_sends", r.late_sends},
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
      {"in_system_samples", r.in_system_samples},
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

void print_summary(std::ostream& out, const json& run) {
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
  out << "  throughput " << format_fixed(run.at("throughput_rps").get<double>(), 1) << " req/s";
  if (open) {
    out << " (achieved " << format_fixed(run.at("achieved_rps").get<double>(), 1) << " of "
        << format_fixed(run.at("requested_rps").get<double>(), 1) << " requested; "
        << run.at("late_sends") << " late sends)";
  }
  out << "\n\n";
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

json merge_runs(const std::vector<json>& runs, const std::vector<std::string>& names,
                const MergeOptions& options) {
  if (runs.empty()) throw MergeError("nothing to merge");
  auto name_of = [&](std::size_t i) {
    return i < names.size() ? names[i] : "input " + std::to_string(i + 1);
  };
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const json& schema = runs[i].contains("schema") ? runs[i]["schema"] : json();
    if (schema != kRunSchema) {
      throw MergeError(name_of(i) + ": schema is " +
                       (schema.is_null() ? "missing" : schema.dump()) + ", expected \"" +
                       kRunSchema + "\"");
    }
  }
  const auto reference = experiment_keys(runs[0].at("config"), options.concurrent);
  for (std::size_t i = 1; i < runs.size(); ++i) {
    const auto keys = experiment_keys(runs[i].at("config"), options.concurrent);
    for (std::size_t k = 0; k < keys.size(); ++k) {
      if (keys[k].second != reference[k].second) {
        throw MergeError("cannot merge " + name_of(i) + " with " + name_of(0) + ": config." +
                         keys[k].first + " differs (" + keys[k].second + " vs " +
                         reference[k].second + ")" +
                         (options.concurrent ? "" : "; --concurrent allows different loads"));
      }
    }
  }

  RunResult merged;
  json per_run = json::array();
  std::vector<double> throughputs;
  std::vector<std::int64_t> p99s;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    RunResult r;
    try {
      r = result_from_json(runs[i]);
    } catch (const std::exception& e) {
      throw MergeError(name_of(i) + ": not a complete run document: " + e.what());
    }
    throughputs.push_back(runs[i].at("throughput_rps").get<double>());
    p99s.push_back(runs[i].at("latency_us").at("p99").get<std::int64_t>());
    per_run.push_back({{"name", name_of(i)},
                       {"throughput_rps", throughputs.back()},
                       {"p99_us", p99s.back()},
                       {"valid", runs[i].at("valid")}});
    if (i == 0) {
      merged = std::move(r);
      continue;
    }
    merged.merge(r);
    merged.cpu_s += r.cpu_s;
    merged.in_system_samples += r.in_system_samples;
    if (r.end != RunEnd::kComplete) merged.end = r.end;
    if (options.concurrent) {
      // One experiment split over generators: the load adds up, the windows overlap.
      merged.settings.connections += r.settings.connections;
      merged.settings.rate += r.settings.rate;
      merged.settings.threads += r.settings.threads;
      merged.mean_in_system += r.mean_in_system;
      merged.window_s = std::max(merged.window_s, r.window_s);
      merged.reply_span_s = std::max(merged.reply_span_s, r.reply_span_s);
    } else {
      // Repetitions: pooled over the total window (time-weighted means).
      const double w = merged.window_s + r.window_s;
      if (w > 0) {
        merged.mean_in_system =
            (merged.mean_in_system * merged.window_s + r.mean_in_system * r.window_s) / w;
      }
      merged.window_s = w;
      merged.reply_span_s += r.reply_span_s;
    }
  }
  merged.settings.threads = std::max(merged.settings.threads, 1);
  merged.first_half = {};
  merged.second_half = {};
  merged.intervals.clear();  // per-interval percentiles cannot be combined; see the inputs
  merged.finalize();

  json doc = to_json(merged);
  json from = json::array();
  for (std::size_t i = 0; i < runs.size(); ++i)
    from.push_back(name_of(i));
  doc["merged_from"] = std::move(from);
  doc["merge"] = {{"kind", options.concurrent ? "concurrent" : "repeated"}, {"runs", per_run}};
  if (!options.concurrent && throughputs.size() >= 2) {
    // mean +- t * s / sqrt(r), t from the 97.5% quantile of Student's t with r - 1 dof.
    constexpr double kT975[] = {12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306,
                                2.262,  2.228, 2.201, 2.179, 2.160, 2.145, 2.131, 2.120,
                                2.110,  2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
                                2.060,  2.056, 2.052, 2.048, 2.045, 2.042};
    const std::size_t r = throughputs.size();
    double mean = 0;
    for (double t : throughputs)
      mean += t;
    mean /= static_cast<double>(r);
    double ss = 0;
    for (double t : throughputs)
      ss += (t - mean) * (t - mean);
    const double s = std::sqrt(ss / static_cast<double>(r - 1));
    const double t = r - 1 <= 30 ? kT975[r - 2] : 1.96;
    const double half = t * s / std::sqrt(static_cast<double>(r));
    doc["merge"]["throughput_mean_rps"] = mean;
    doc["merge"]["throughput_ci95_rps"] = json::array({mean - half, mean + half});
    doc["merge"]["p99_spread_us"] = json::array(
        {*std::min_element(p99s.begin(), p99s.end()), *std::max_element(p99s.begin(), p99s.end())});
  }
  return doc;
}

}  // namespace poolbench
