#include "admin.hpp"

#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>

#include <unistd.h>

#include <array>
#include <charconv>
#include <cinttypes>
#include <cstdio>
#include <variant>

#include <nlohmann/json.hpp>

#include "process_usage.hpp"
#include "server.hpp"
#include "sql_client.hpp"

namespace poolbench {

// One admin connection: read one request (bounded), answer it, close.
class AdminConnection : public std::enable_shared_from_this<AdminConnection> {
 public:
  AdminConnection(AdminServer& admin, asio::ip::tcp::socket socket)
      : admin_(admin),
        socket_(std::move(socket)),
        deadline_(socket_.get_executor()),
        accepted_(Clock::now()) {}

  // Still reading its request: it may be closed to admit a newcomer.
  bool waiting_for_request() const { return socket_.is_open() && !answering_; }
  TimePoint accepted() const { return accepted_; }

  void start() {
    deadline_.expires_after(AdminServer::kRequestTimeout);
    deadline_.async_wait([weak = weak_from_this()](std::error_code error) {
      if (auto self = weak.lock(); self && !error) self->close();
    });
    read();
  }

  // Answers at once and closes (used when there are too many connections).
  void refuse(int status, std::string_view why) {
    answer(http::make_response(status, "text/plain", std::string(why) + "\n"));
  }

  void close() {
    if (!socket_.is_open()) return;
    deadline_.cancel();
    std::error_code ignored;
    socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
    admin_.on_closed(shared_from_this());
  }

 private:
  void read() {
    socket_.async_read_some(asio::buffer(chunk_),
                            [self = shared_from_this()](std::error_code error, std::size_t n) {
                              self->on_read(error, n);
                            });
  }

  void on_read(std::error_code error, std::size_t bytes) {
    if (!socket_.is_open() || answering_) return;
    if (error) return close();  // EOF before a whole request, or gone
    received_.append(chunk_.data(), bytes);
    const auto parsed = http::parse_http_request(received_);
    if (std::holds_alternative<http::Incomplete>(parsed)) return read();
    if (const auto* failure = std::get_if<http::Error>(&parsed)) {
      return answer(http::make_response(failure->status, "text/plain", failure->reason + "\n"));
    }
    answering_ = true;  // no longer idle: not the one closed to admit a newcomer
    admin_.respond(std::get<http::Request>(parsed),
                   [self = shared_from_this()](std::string response) {
                     if (self->socket_.is_open()) self->answer(std::move(response));
                   });
  }

  void answer(std::string response) {
    answering_ = true;
    response_ = std::move(response);
    asio::async_write(socket_, asio::buffer(response_),
                      [self = shared_from_this()](std::error_code, std::size_t) {
                        // Half-close, so the client reads everything before the FIN; then close.
                        self->close();
                      });
  }

  AdminServer& admin_;
  asio::ip::tcp::socket socket_;
  asio::steady_timer deadline_;
  TimePoint accepted_;
  std::array<char, 4096> chunk_;
  std::string received_;  // bounded by the parser's limits (it errors beyond them)
  std::string response_;
  bool answering_ = false;
};

namespace {

using json = nlohmann::json;

json stage_summary(const Histogram& h) {
  return {{"count", h.total_count()},
          {"min", h.min()},
          {"mean", h.mean()},
          {"p50", h.value_at_percentile(50)},
          {"p90", h.value_at_percentile(90)},
          {"p99", h.value_at_percentile(99)},
          {"p99_9", h.value_at_percentile(99.9)},
          {"max", h.max()},
          {"histogram", h.encode_v2_base64()}};
}

// Prometheus bucket bounds, seconds (and the same in nanoseconds for the HDR bins).
struct Bucket {
  const char* le;
  std::int64_t ns;
};
constexpr std::array<Bucket, 22> kBuckets = {{
    {"1e-06", 1'000},      {"2.5e-06", 2'500},     {"5e-06", 5'000},      {"1e-05", 10'000},
    {"2.5e-05", 25'000},   {"5e-05", 50'000},      {"0.0001", 100'000},   {"0.00025", 250'000},
    {"0.0005", 500'000},   {"0.001", 1'000'000},   {"0.0025", 2'500'000}, {"0.005", 5'000'000},
    {"0.01", 10'000'000},  {"0.025", 25'000'000},  {"0.05", 50'000'000},  {"0.1", 100'000'000},
    {"0.25", 250'000'000}, {"0.5", 500'000'000},   {"1", 1'000'000'000},  {"2.5", 2'500'000'000},
    {"5", 5'000'000'000},  {"10", 10'000'000'000},
}};

class MetricsWriter {
 public:
  void family(const char* name, const char* type, const char* help) {
    out_.append("# HELP ").append(name).append(" ").append(help).append("\n");
    out_.append("# TYPE ").append(name).append(" ").append(type).append("\n");
  }
  void sample(std::string_view name, std::string_view labels, std::uint64_t value) {
    line(name, labels, std::to_string(value));
  }
  void sample(std::string_view name, std::string_view labels, double value) {
    char text[64];
    std::snprintf(text, sizeof text, "%.9g", value);
    line(name, labels, text);
  }
  // A family with one unlabelled sample.
  void single(const char* name, const char* type, const char* help, std::uint64_t value) {
    family(name, type, help);
    sample(name, "", value);
  }
  std::string take() { return std::move(out_); }

 private:
  void line(std::string_view name, std::string_view labels, std::string_view value) {
    out_.append(name);
    if (!labels.empty()) out_.append("{").append(labels).append("}");
    out_.append(" ").append(value).append("\n");
  }
  std::string out_;
};

std::optional<std::size_t> parse_size(const std::optional<std::string>& text) {
  if (!text || text->empty()) return std::nullopt;
  std::size_t value = 0;
  const auto [end, error] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (error != std::errc() || end != text->data() + text->size()) return std::nullopt;
  if (value < 1 || value > ThreadPool::kMaxThreads) return std::nullopt;
  return value;
}

json process_json(const ProcessUsage& usage) {
  return {{"pid", ::getpid()},
          {"cpus", usage.cpus},
          {"cpu_s", usage.cpu_s},
          {"cpu_user_s", usage.cpu_user_s},
          {"cpu_system_s", usage.cpu_system_s},
          {"voluntary_context_switches", usage.voluntary_switches},
          {"involuntary_context_switches", usage.involuntary_switches},
          {"threads", usage.threads}};
}

void write_process_metrics(MetricsWriter& m, const ProcessUsage& usage) {
  m.family("process_cpu_seconds_total", "counter", "User and system CPU time spent, seconds.");
  m.sample("process_cpu_seconds_total", "", usage.cpu_s);
  m.family("poolbench_process_cpu_seconds_total", "counter", "CPU time spent, by mode, seconds.");
  m.sample("poolbench_process_cpu_seconds_total", "mode=\"user\"", usage.cpu_user_s);
  m.sample("poolbench_process_cpu_seconds_total", "mode=\"system\"", usage.cpu_system_s);
  m.family("poolbench_process_context_switches_total", "counter",
           "Context switches of all threads: voluntary (blocked) or involuntary (preempted).");
  m.sample("poolbench_process_context_switches_total", "kind=\"voluntary\"",
           usage.voluntary_switches);
  m.sample("poolbench_process_context_switches_total", "kind=\"involuntary\"",
           usage.involuntary_switches);
  m.single("poolbench_process_threads", "gauge", "Threads of the process (reactor and pool).",
           static_cast<std::uint64_t>(usage.threads));
  m.single("poolbench_process_allowed_cpus", "gauge",
           "CPUs the process may run on (its affinity mask; /stats lists them).",
           static_cast<std::uint64_t>(usage.cpus.size()));
}

}  // namespace

AdminServer::AdminServer(Sources sources, const std::string& bind_address, std::uint16_t port)
    : sources_(sources),
      acceptor_(sources.reactor.context()),
      accept_guard_(acceptor_, "reference_server admin") {
  const asio::ip::tcp::endpoint endpoint(asio::ip::make_address(bind_address), port);
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(asio::socket_base::reuse_address(true));
  acceptor_.bind(endpoint);
  acceptor_.listen();
  acceptor_.native_non_blocking(true);  // AcceptGuard accepts the waiting ones until EAGAIN
}

AdminServer::~AdminServer() {
  formatter_.join();
}

void AdminServer::start() {
  accept();
}

void AdminServer::stop() {
  std::error_code ignored;
  acceptor_.close(ignored);
  accept_guard_.cancel();
  const auto open = connections_;  // close() erases from the set
  for (const auto& connection : open)
    connection->close();
}

void AdminServer::accept() {
  acceptor_.async_accept([this](std::error_code error, asio::ip::tcp::socket socket) {
    if (error == asio::error::operation_aborted || !acceptor_.is_open()) return;
    if (error) {
      static constexpr std::string_view kOutOfDescriptors =
          "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
      return accept_guard_.on_accept_error(
          error, [this] { accept(); },
          [](int fd) { AcceptGuard::refuse_with(fd, kOutOfDescriptors); });
    }
    admit(std::make_shared<AdminConnection>(*this, std::move(socket)));
    accept();
  });
}

// At the limit, the oldest connection still waiting for its request makes room: a client that
// sends nothing must not keep a working one out.
void AdminServer::admit(std::shared_ptr<AdminConnection> connection) {
  if (connections_.size() >= kMaxConnections) {
    std::shared_ptr<AdminConnection> oldest;
    for (const auto& open : connections_) {
      if (open->waiting_for_request() && (!oldest || open->accepted() < oldest->accepted())) {
        oldest = open;
      }
    }
    if (oldest) oldest->close();
  }
  connections_.insert(connection);
  if (connections_.size() > kMaxConnections) {
    connection->refuse(503, "too many admin connections");
  } else {
    connection->start();
  }
}

void AdminServer::respond(const http::Request& request, Answer answer) {
  struct Route {
    const char* path;
    const char* method;
  };
  static constexpr std::array<Route, 4> kRoutes = {
      {{"/healthz", "GET"}, {"/stats", "GET"}, {"/metrics", "GET"}, {"/pool", "POST"}}};
  const Route* route = nullptr;
  for (const auto& candidate : kRoutes) {
    if (request.path == candidate.path) route = &candidate;
  }
  if (route == nullptr) {
    return answer(http::make_response(404, "text/plain",
                                      "not found; routes: GET /healthz, GET /stats, GET /metrics, "
                                      "POST /pool?size=N\n"));
  }
  if (request.method != route->method) {
    return answer(http::make_response(405, "text/plain",
                                      std::string(route->path) + " takes " + route->method + "\n",
                                      {std::string("Allow: ") + route->method}));
  }
  if (request.path == "/healthz") return answer(http::make_response(200, "text/plain", "ok\n"));
  if (request.path == "/metrics") {
    return answer(
        http::make_response(200, "text/plain; version=0.0.4; charset=utf-8", metrics_text()));
  }
  if (request.path == "/pool") {
    if (request.query_parameter_count("size") > 1) {
      return answer(http::make_response(
          400, "text/plain", "size given more than once: expected one POST /pool?size=N\n"));
    }
    const auto size = parse_size(request.query_parameter("size"));
    if (!size) {
      return answer(http::make_response(400, "text/plain",
                                        "expected POST /pool?size=N with N an integer in [1, " +
                                            std::to_string(ThreadPool::kMaxThreads) + "]\n"));
    }
    sources_.pool.resize(*size);
  }
  answer_stats(std::move(answer));
}

// The reactor copies the stage histograms into a spare snapshot; the formatter summarises and
// encodes it and posts the finished answer, and the snapshot, back to the reactor (admin.hpp).
void AdminServer::answer_stats(Answer answer) {
  json doc = stats_without_stages();
  std::unique_ptr<StageSnapshot> stages;
  if (sources_.stages != nullptr) {
    if (spare_snapshots_->empty()) {
      stages = std::make_unique<StageSnapshot>();
    } else {
      stages = std::move(spare_snapshots_->back());
      spare_snapshots_->pop_back();
    }
    for (Stage stage : kStages)
      (*stages)[static_cast<std::size_t>(stage)] = sources_.stages->histogram(stage);
  }
  asio::post(
      formatter_, [doc = std::move(doc), stages = std::move(stages), spares = spare_snapshots_,
                   reactor = acceptor_.get_executor(), answer = std::move(answer)]() mutable {
        json summaries = json::object();
        for (Stage stage : kStages) {
          if (!stages) break;
          summaries[std::string(to_string(stage))] =
              stage_summary((*stages)[static_cast<std::size_t>(stage)]);
        }
        doc["stages_ns"] = std::move(summaries);
        std::string response = http::make_response(200, "application/json", doc.dump() + "\n");
        asio::post(reactor, [answer = std::move(answer), response = std::move(response),
                             stages = std::move(stages), spares = std::move(spares)]() mutable {
          if (stages) spares->push_back(std::move(stages));
          answer(std::move(response));
        });
      });
}

json AdminServer::stats_without_stages() const {
  const auto pool = sources_.pool.stats();
  const auto& server = sources_.server.stats();
  const auto reactor = sources_.reactor.stats();
  const double uptime = std::chrono::duration<double>(Clock::now() - sources_.started).count();
  // Every reply made, written or not: those of requests whose work ran, and the err:busy ones.
  const std::uint64_t answered =
      server.replies_ok + server.replies_error + server.replies_dropped + server.replies_unsent;
  json doc = {{"schema", "poolbench.stats/1"},
              {"mode", std::string(to_string(sources_.mode))},
              {"work", sources_.work},
              {"uptime_s", uptime},
              {"pool",
               {{"size", pool.max_threads},
                {"threads", pool.threads},
                {"idle", pool.idle},
                {"busy", pool.busy},
                {"queued", pool.queued},
                {"peak_queued", pool.peak_queued},
                {"threads_created", pool.threads_created},
                {"threads_starting", pool.starting},
                {"thread_start_failures", pool.thread_start_failures},
                {"thread_limit", pool.thread_limit},
                {"tasks_completed", pool.completed},
                {"rejected", pool.rejected}}},
              {"connections", {{"open", server.open_connections}, {"accepted", server.accepted}}},
              {"requests",
               {{"received", server.requests},
                {"completed", answered - pool.rejected},
                {"ok", server.replies_ok},
                {"errors", server.replies_error},
                {"rejected_busy", pool.rejected},
                {"in_flight", server.in_flight},
                {"dropped", server.replies_dropped},
                {"unsent", server.replies_unsent},
                {"skipped", server.skipped},
                {"reads_held", server.reads_held},
                {"lines_too_long", server.lines_too_long}}},
              {"call_from_thread", {{"calls", reactor.calls}, {"wakeups", reactor.wakeups}}},
              {"process", process_json(own_usage())},
              {"sql", sources_.sql != nullptr ? sources_.sql->stats_json() : json(nullptr)},
              {"stage_timing", sources_.stages != nullptr},
              {"stages_ns", json::object()}};  // filled in by answer_stats
  return doc;
}

namespace {

void write_pool_metrics(MetricsWriter& m, const ThreadPool::Stats& pool) {
  m.single("poolbench_pool_size", "gauge", "Maximum worker threads (resizable).", pool.max_threads);
  m.single("poolbench_pool_threads", "gauge", "Live worker threads, idle and busy.", pool.threads);
  m.single("poolbench_pool_idle_threads", "gauge", "Idle worker threads.", pool.idle);
  m.single("poolbench_pool_busy_threads", "gauge", "Worker threads running a task.", pool.busy);
  m.single("poolbench_pool_queued", "gauge", "Tasks waiting in the pool's backlog.", pool.queued);
  m.single("poolbench_pool_peak_queued", "gauge", "Largest backlog seen.", pool.peak_queued);
  m.single("poolbench_pool_threads_created_total", "counter", "Worker threads ever started.",
           pool.threads_created);
  m.single("poolbench_pool_thread_start_failures_total", "counter",
           "Worker threads the system refused to create (a thread or memory limit).",
           pool.thread_start_failures);
  m.single("poolbench_pool_thread_limit", "gauge",
           "Threads the pool reached when a creation failed since the last resize (0: none).",
           pool.thread_limit);
  m.single("poolbench_pool_tasks_completed_total", "counter", "Tasks the workers finished.",
           pool.completed);
  m.single("poolbench_pool_rejected_total", "counter",
           "Tasks refused because the backlog was full (answered err:busy).", pool.rejected);
}

void write_server_metrics(MetricsWriter& m, const Server::Stats& server,
                          const ThreadPool::Stats& pool, const Reactor::Stats& reactor) {
  m.single("poolbench_connections", "gauge", "Open client connections.", server.open_connections);
  m.single("poolbench_connections_accepted_total", "counter", "Client connections accepted.",
           server.accepted);
  m.single("poolbench_requests_total", "counter", "Request lines dispatched.", server.requests);
  m.single("poolbench_requests_completed_total", "counter",
           "Requests whose work ran and were answered (ok or error), written or not.",
           server.replies_ok + server.replies_error + server.replies_dropped +
               server.replies_unsent - pool.rejected);
  m.family("poolbench_replies_total", "counter",
           "Replies written, by result (ack or err); dropped: made but the client had left.");
  m.sample("poolbench_replies_total", "result=\"ok\"", server.replies_ok);
  m.sample("poolbench_replies_total", "result=\"error\"", server.replies_error);
  m.sample("poolbench_replies_total", "result=\"dropped\"", server.replies_dropped);
  m.single("poolbench_requests_skipped_total", "counter",
           "Requests whose work was not run: the client left before a worker took it.",
           server.skipped);
  m.single("poolbench_requests_in_flight", "gauge", "Requests dispatched and not yet answered.",
           server.in_flight);
  m.single("poolbench_lines_too_long_total", "counter", "Overlong lines (connection closed).",
           server.lines_too_long);
  m.single("poolbench_call_from_thread_calls_total", "counter",
           "Calls handed to the reactor by other threads.", reactor.calls);
  m.single("poolbench_call_from_thread_wakeups_total", "counter",
           "Reactor wake-ups for those calls (coalesced).", reactor.wakeups);
}

// Prometheus histograms from the HDR ones: each fixed bucket counts the HDR bins whose highest
// value is at most its bound.
void write_stage_metrics(MetricsWriter& m, const StageHistograms& stages) {
  const char* name = "poolbench_stage_duration_seconds";
  m.family(name, "histogram",
           "Time per request stage: dispatch, queue_wait, service, return_hop. Bucket counts "
           "come from HDR bins (0.1% wide) whose highest value is <= le.");
  for (Stage stage : kStages) {
    const Histogram& h = stages.histogram(stage);
    const std::string label = "stage=\"" + std::string(to_string(stage)) + "\"";
    std::array<std::uint64_t, kBuckets.size()> cumulative{};
    h.for_each_recorded([&](std::int64_t highest, std::int64_t count) {
      for (std::size_t b = 0; b < kBuckets.size(); ++b) {
        if (highest <= kBuckets[b].ns) cumulative[b] += static_cast<std::uint64_t>(count);
      }
    });
    const std::string bucket = std::string(name) + "_bucket";
    for (std::size_t b = 0; b < kBuckets.size(); ++b) {
      m.sample(bucket, label + ",le=\"" + kBuckets[b].le + "\"", cumulative[b]);
    }
    m.sample(bucket, label + ",le=\"+Inf\"", static_cast<std::uint64_t>(h.total_count()));
    m.sample(std::string(name) + "_sum", label, static_cast<double>(stages.sum_ns(stage)) / 1e9);
    m.sample(std::string(name) + "_count", label, static_cast<std::uint64_t>(h.total_count()));
  }
}

}  // namespace

std::string AdminServer::metrics_text() const {
  const auto pool = sources_.pool.stats();
  MetricsWriter m;
  m.family("poolbench_info", "gauge", "Server configuration, as labels (always 1).");
  m.sample("poolbench_info", "mode=\"" + std::string(to_string(sources_.mode)) + "\"",
           std::uint64_t{1});
  m.family("poolbench_uptime_seconds", "gauge", "Seconds since the server started.");
  m.sample("poolbench_uptime_seconds", "",
           std::chrono::duration<double>(Clock::now() - sources_.started).count());
  write_pool_metrics(m, pool);
  write_server_metrics(m, sources_.server.stats(), pool, sources_.reactor.stats());
  write_process_metrics(m, own_usage());
  if (sources_.stages != nullptr) write_stage_metrics(m, *sources_.stages);
  return m.take();
}

}  // namespace poolbench
