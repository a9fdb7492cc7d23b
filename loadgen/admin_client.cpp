#include "admin_client.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <charconv>
#include <cstring>
#include <stdexcept>

#include "reference_server/clock.hpp"
#include "result_statistics.hpp"
#include "tcp_socket.hpp"

namespace poolbench {
namespace {

using json = nlohmann::json;

constexpr std::array<const char*, 4> kStageNames = {"dispatch", "queue_wait", "service",
                                                    "return_hop"};

TcpSocket connect_to(const AdminUrl& url) {
  std::string why;
  TcpSocket socket = TcpSocket::connect_to(url.host, url.port, why);
  if (!socket.is_open()) throw std::runtime_error("cannot connect to " + url.text + ": " + why);
  return socket;
}

// Waits until fd is ready for `events` or the deadline passes (then throws).
void wait_ready(int fd, short events, Clock::time_point deadline, const AdminUrl& url) {
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) throw std::runtime_error(url.text + " did not answer in time");
    pollfd p{fd, events, 0};
    const int n = ::poll(&p, 1, static_cast<int>(left));
    if (n > 0) return;
    if (n < 0 && errno != EINTR)
      throw std::runtime_error(std::string("poll: ") + std::strerror(errno));
  }
}

HttpReply parse_reply(const std::string& raw, const AdminUrl& url) {
  // "HTTP/1.1 200 OK\r\n...\r\n\r\nbody": the server closes after the body.
  const auto head_end = raw.find("\r\n\r\n");
  if (raw.rfind("HTTP/1.", 0) != 0 || raw.size() < 12 || head_end == std::string::npos) {
    throw std::runtime_error(url.text + " sent no HTTP response");
  }
  HttpReply reply;
  std::from_chars(raw.data() + 9, raw.data() + 12, reply.status);
  reply.body = raw.substr(head_end + 4);
  return reply;
}

Histogram decode_stage(const json& stats, const char* stage) {
  return Histogram::decode_v2_base64(
      stats.at("stages_ns").at(stage).at("histogram").get<std::string>());
}

bool has_stages(const json& stats) {
  return stats.is_object() && stats.value("stage_timing", false) && stats.contains("stages_ns") &&
         stats["stages_ns"].contains("service");
}

// The compact per-sample record, with the stage percentiles of what completed since `previous`.
json sample_record(double t_s, const std::string& phase, const json& stats, const json* previous,
                   double previous_t_s) {
  const json& pool = stats.at("pool");
  const json& requests = stats.at("requests");
  json record = {{"t_s", t_s},
                 {"phase", phase},
                 {"uptime_s", stats.value("uptime_s", 0.0)},
                 {"pool_size", pool.value("size", 0)},
                 {"threads", pool.value("threads", 0)},
                 {"busy", pool.value("busy", 0)},
                 {"idle", pool.value("idle", 0)},
                 {"queued", pool.value("queued", 0)},
                 {"peak_queued", pool.value("peak_queued", 0)},
                 {"in_flight", requests.value("in_flight", 0)},
                 {"connections", stats.at("connections").value("open", 0)},
                 {"completed", requests.value("completed", 0)},
                 {"completed_rps", 0.0},
                 {"stages", json::object()}};
  if (previous != nullptr && t_s > previous_t_s) {
    const double delta =
        requests.value("completed", 0.0) - previous->at("requests").value("completed", 0.0);
    record["completed_rps"] = delta / (t_s - previous_t_s);
  }
  if (has_stages(stats)) {
    for (const char* stage : kStageNames) {
      Histogram h = decode_stage(stats, stage);
      if (previous != nullptr && has_stages(*previous)) {
        h = histogram_difference(h, decode_stage(*previous, stage));
      }
      record["stages"][stage] = {{"count", h.total_count()},
                                 {"p50_ns", h.value_at_percentile(50)},
                                 {"p99_ns", h.value_at_percentile(99)},
                                 {"max_ns", h.max()}};
    }
  }
  return record;
}

}  // namespace

AdminUrl parse_admin_url(std::string_view text) {
  std::string_view rest = text;
  if (rest.rfind("http://", 0) == 0) rest.remove_prefix(7);
  if (rest.rfind("https://", 0) == 0) {
    throw std::invalid_argument("--admin: https is not supported: " + std::string(text));
  }
  while (!rest.empty() && rest.back() == '/')
    rest.remove_suffix(1);
  if (rest.find('/') != std::string_view::npos) {
    throw std::invalid_argument("--admin takes http://HOST:PORT without a path: " +
                                std::string(text));
  }
  AdminUrl url;
  const Endpoint endpoint = parse_target(rest);  // host:port, [v6]:port
  url.host = endpoint.host;
  url.port = endpoint.port;
  url.text = "http://" + std::string(rest);
  return url;
}

HttpReply http_request(const AdminUrl& url, std::string_view method, std::string_view target,
                       std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  const TcpSocket socket = connect_to(url);
  std::string request;
  request.append(method).append(" ").append(target).append(" HTTP/1.1\r\nHost: ");
  request.append(std::string_view(url.text).substr(7));  // host:port as given ([v6]:port)
  request.append("\r\nUser-Agent: poolbench-loadgen\r\nConnection: close\r\n\r\n");
  std::string_view unsent = request;
  while (!unsent.empty()) {
    wait_ready(socket.fd(), POLLOUT, deadline, url);
    const ssize_t n = ::send(socket.fd(), unsent.data(), unsent.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0)
      throw std::runtime_error("cannot send to " + url.text + ": " + std::strerror(errno));
    unsent.remove_prefix(static_cast<std::size_t>(n));
  }
  std::string raw;
  std::array<char, 16384> chunk;
  for (;;) {
    wait_ready(socket.fd(), POLLIN, deadline, url);
    const ssize_t n = ::recv(socket.fd(), chunk.data(), chunk.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0)
      throw std::runtime_error("cannot read from " + url.text + ": " + std::strerror(errno));
    if (n == 0) break;
    raw.append(chunk.data(), static_cast<std::size_t>(n));
    if (raw.size() > (64u << 20)) throw std::runtime_error(url.text + " sent more than 64 MiB");
  }
  return parse_reply(raw, url);
}

json fetch_server_stats(const AdminUrl& url) {
  const HttpReply reply = http_request(url, "GET", "/stats");
  if (reply.status != 200) {
    throw std::runtime_error("GET " + url.text + "/stats: HTTP " + std::to_string(reply.status));
  }
  try {
    return json::parse(reply.body);
  } catch (const json::exception& e) {
    throw std::runtime_error("GET " + url.text + "/stats: not JSON: " + e.what());
  }
}

json resize_server_pool(const AdminUrl& url, int size) {
  const HttpReply reply = http_request(url, "POST", "/pool?size=" + std::to_string(size));
  if (reply.status != 200) {
    throw std::runtime_error("POST " + url.text + "/pool?size=" + std::to_string(size) + ": HTTP " +
                             std::to_string(reply.status) + ": " + reply.body);
  }
  return json::parse(reply.body);
}

Histogram histogram_difference(const Histogram& later, const Histogram& earlier) {
  Histogram result(later.lowest_discernible(), later.highest_trackable(),
                   later.significant_digits());
  if (later.counts_length() != earlier.counts_length() && earlier.total_count() != 0) {
    // Shapes differ only if the server changed; use the later one whole rather than guess.
    result.merge(later);
    return result;
  }
  for (int i = 0; i < later.counts_length(); ++i) {
    const std::int64_t before = i < earlier.counts_length() ? earlier.count_at_index(i) : 0;
    const std::int64_t difference = later.count_at_index(i) - before;
    if (difference > 0) result.record_n(later.value_from_index(i), difference);
  }
  return result;
}

bool AdminSampler::incomplete(const json& server_stats) {
  return server_stats.value("samples_failed", std::size_t{0}) > 0;
}

AdminSampler::AdminSampler(AdminUrl url) : url_(std::move(url)), thread_([this] { run(); }) {}

AdminSampler::~AdminSampler() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void AdminSampler::take(double t_s, std::string phase) {
  Snapshot snapshot{t_s, std::move(phase), nullptr, {}};
  try {
    snapshot.stats = fetch_server_stats(url_);
  } catch (const std::exception& e) {
    snapshot.stats = nullptr;  // counted as a failed sample
    snapshot.error = e.what();
  }
  std::lock_guard lock(mutex_);
  snapshots_.push_back(std::move(snapshot));
}

void AdminSampler::sample(double t_s, std::string_view phase) {
  take(t_s, std::string(phase));
}

void AdminSampler::on_interval(const IntervalStats& interval) {
  {
    std::lock_guard lock(mutex_);
    requests_.emplace_back(interval.start_s + interval.length_s,
                           std::string(to_string(interval.phase)));
  }
  wake_.notify_one();
}

void AdminSampler::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || !requests_.empty(); });
    if (requests_.empty()) return;  // stopping, nothing left
    auto [t_s, phase] = std::move(requests_.front());
    requests_.pop_front();
    lock.unlock();
    take(t_s, std::move(phase));
    lock.lock();
  }
}

std::vector<const AdminSampler::Snapshot*> AdminSampler::good_snapshots(json& missing) const {
  std::vector<const Snapshot*> good;
  missing = json::array();
  for (const Snapshot& s : snapshots_) {
    if (s.stats.is_object()) {
      good.push_back(&s);
    } else {
      missing.push_back({{"t_s", s.t_s}, {"phase", s.phase}, {"error", s.error}});
    }
  }
  std::stable_sort(good.begin(), good.end(),
                   [](const Snapshot* a, const Snapshot* b) { return a->t_s < b->t_s; });
  return good;
}

json AdminSampler::window_summary(const std::vector<const Snapshot*>& good) {
  json window = {{"from_s", 0.0}, {"to_s", 0.0}, {"completed", 0}, {"stages_ns", json::object()}};
  if (good.empty()) return window;
  const Snapshot* from = good.front();
  for (const Snapshot* s : good) {
    if (s->phase == "warmup") from = s;
  }
  const Snapshot* to = good.back();
  window["from_s"] = from->t_s;
  window["to_s"] = to->t_s;
  window["completed"] = to->stats.at("requests").value("completed", 0) -
                        from->stats.at("requests").value("completed", 0);
  if (!has_stages(to->stats)) return window;
  for (const char* stage : kStageNames) {
    Histogram h = decode_stage(to->stats, stage);
    if (from != to && has_stages(from->stats)) {
      h = histogram_difference(h, decode_stage(from->stats, stage));
    }
    window["stages_ns"][stage] = histogram_summary(h);
  }
  return window;
}

json AdminSampler::finish(const RunResult& result) {
  const double end_s = result.intervals.empty()
                           ? 0.0
                           : result.intervals.back().start_s + result.intervals.back().length_s;
  // The sampler thread takes the samples still asked for first: the last interval's ends where
  // the "end" sample is taken, and "end" must come after it.
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
  sample(end_s, "end");

  std::lock_guard lock(mutex_);
  json missing;
  const std::vector<const Snapshot*> good = good_snapshots(missing);
  json samples = json::array();
  const Snapshot* previous = nullptr;
  for (const Snapshot* s : good) {
    samples.push_back(sample_record(s->t_s, s->phase, s->stats,
                                    previous ? &previous->stats : nullptr,
                                    previous ? previous->t_s : 0));
    previous = s;
  }
  const json* last = good.empty() ? nullptr : &good.back()->stats;
  return {{"admin", url_.text},
          {"mode", last ? last->value("mode", "") : ""},
          {"stage_timing", last ? last->value("stage_timing", false) : false},
          {"samples_failed", missing.size()},
          {"missing", std::move(missing)},
          {"samples", std::move(samples)},
          {"window", window_summary(good)}};
}

}  // namespace poolbench
