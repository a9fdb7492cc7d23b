#include "server.hpp"

#include <sys/resource.h>

#include <asio/signal_set.hpp>
#include <asio/write.hpp>

#include <array>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <system_error>

#include "admin.hpp"
#include "stage_timing.hpp"
#include "thread_pool.hpp"
#include "work.hpp"

namespace poolbench {

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(Server& server, asio::ip::tcp::socket socket)
      : server_(server),
        socket_(std::move(socket)),
        framer_(server.config_.max_line, server.config_.delimiter) {}

  void start() { read(); }

  // Stop taking requests; close once everything dispatched is answered and written.
  void stop_reading() {
    reading_ = false;
    close_if_done();
  }

  void close() {
    if (!socket_.is_open()) return;
    std::error_code ignored;
    socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
    server_.on_connection_closed(shared_from_this());
  }

 private:
  void read() {
    socket_.async_read_some(asio::buffer(read_buffer_),
                            [self = shared_from_this()](std::error_code error, std::size_t n) {
                              self->on_read(error, n);
                            });
  }

  void on_read(std::error_code error, std::size_t bytes) {
    if (!reading_ || !socket_.is_open()) return;  // shutdown or closed meanwhile
    if (error) {
      // EOF (the client half-closed): answer what it sent, then close. Anything else: gone.
      if (error == asio::error::eof) return stop_reading();
      return close();
    }
    // One clock read per socket read, for every line in it (stage timing's "parsed").
    const auto read_at = server_.dispatcher_.stage_timing() ? StageClock::now()
                                                            : StageClock::time_point{};
    const auto status = framer_.feed({read_buffer_.data(), bytes},
                                     [this, read_at](std::string_view line) { dispatch(line, read_at); });
    if (status == LineFramer::Status::line_too_long) {
      ++server_.stats_.lines_too_long;
      send("err:line too long");
      return stop_reading();
    }
    if (reading_) read();
  }

  void dispatch(std::string_view line, StageClock::time_point read_at) {
    if (!reading_) return;  // an earlier line of this read made us stop
    ++in_flight_;
    server_.on_request_dispatched();
    server_.dispatcher_.dispatch(std::string(line),
                                 [server = &server_, weak = weak_from_this()](std::string reply) {
                                   server->on_request_answered(reply.starts_with("ack:"));
                                   if (auto self = weak.lock()) {
                                     --self->in_flight_;
                                     self->send(reply);
                                   }
                                 },
                                 read_at);
  }

  void send(std::string_view reply) {
    if (!socket_.is_open()) return;
    outbox_.append(reply).append("\r\n");
    if (!writing_) flush();
  }

  void flush() {
    if (outbox_.empty()) return close_if_done();
    writing_ = true;
    in_transit_.swap(outbox_);
    asio::async_write(socket_, asio::buffer(in_transit_),
                      [self = shared_from_this()](std::error_code error, std::size_t) {
                        self->writing_ = false;
                        self->in_transit_.clear();
                        if (error) return self->close();
                        self->flush();
                      });
  }

  void close_if_done() {
    if (!reading_ && in_flight_ == 0 && !writing_ && outbox_.empty()) close();
  }

  Server& server_;
  asio::ip::tcp::socket socket_;
  LineFramer framer_;
  std::array<char, 64 * 1024> read_buffer_;  // Twisted reads 64 KiB at a time too
  std::string outbox_;                       // replies not yet handed to the socket
  std::string in_transit_;                   // the replies async_write is sending
  std::size_t in_flight_ = 0;                // requests dispatched and not yet answered
  bool reading_ = true;
  bool writing_ = false;
};

Server::Server(Reactor& reactor, Dispatcher& dispatcher, const ServerConfig& config)
    : reactor_(reactor),
      dispatcher_(dispatcher),
      config_(config),
      acceptor_(reactor.context()),
      accept_retry_timer_(reactor.context()),
      drain_timer_(reactor.context()) {
  const asio::ip::tcp::endpoint endpoint(asio::ip::make_address(config.bind_address), config.port);
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(asio::socket_base::reuse_address(true));
  acceptor_.bind(endpoint);
  // Twisted listens with a backlog of 50; a load generator opening thousands of connections
  // at once needs the system's maximum.
  acceptor_.listen(asio::socket_base::max_listen_connections);
}

Server::~Server() = default;

void Server::start() {
  accept();
}

void Server::accept() {
  acceptor_.async_accept([this](std::error_code error, asio::ip::tcp::socket socket) {
    if (error == asio::error::operation_aborted || !acceptor_.is_open()) return;
    if (error) {
      // Out of descriptors or memory: accepting again at once would spin; wait and retry.
      if (error == asio::error::no_descriptors || error == asio::error::no_buffer_space ||
          error == asio::error::no_memory || error.value() == ENFILE) {
        std::fprintf(stderr, "reference_server: accept failed (%s); retrying in 100 ms\n",
                     error.message().c_str());
        accept_retry_timer_.expires_after(std::chrono::milliseconds(100));
        accept_retry_timer_.async_wait([this](std::error_code e) {
          if (!e) accept();
        });
        return;
      }
      return accept();  // e.g. the peer reset before we accepted: not our problem
    }
    std::error_code ignored;
    socket.set_option(asio::ip::tcp::no_delay(true), ignored);
    ++stats_.accepted;
    auto connection = std::make_shared<Connection>(*this, std::move(socket));
    connections_.insert(connection);
    stats_.open_connections = connections_.size();
    connection->start();
    accept();
  });
}

void Server::on_request_answered(bool ok) {
  --stats_.in_flight;
  ++(ok ? stats_.replies_ok : stats_.replies_error);
}

void Server::on_connection_closed(const std::shared_ptr<Connection>& connection) {
  connections_.erase(connection);
  stats_.open_connections = connections_.size();
  finish_shutdown_if_done();
}

void Server::shutdown(std::function<void(bool drained)> done) {
  if (shutting_down_) return;
  shutting_down_ = true;
  on_drained_ = std::move(done);
  std::error_code ignored;
  acceptor_.close(ignored);
  accept_retry_timer_.cancel();
  drain_timer_.expires_after(config_.drain_timeout);
  drain_timer_.async_wait([this](std::error_code error) {
    if (error || !on_drained_) return;
    std::fprintf(stderr, "reference_server: drain timeout: closing %zu connection(s)\n",
                 connections_.size());
    auto done = std::exchange(on_drained_, nullptr);
    close_all();
    done(false);
  });
  // Copy: stop_reading() may close the connection and erase it from the set.
  const auto open = connections_;
  for (const auto& connection : open)
    connection->stop_reading();
  finish_shutdown_if_done();
}

void Server::close_all() {
  const auto open = connections_;
  for (const auto& connection : open)
    connection->close();
}

void Server::finish_shutdown_if_done() {
  if (!shutting_down_ || !connections_.empty() || !on_drained_) return;
  drain_timer_.cancel();
  std::exchange(on_drained_, nullptr)(true);
}

namespace {

void raise_open_file_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

void write_port_file(const std::filesystem::path& path, std::uint16_t port) {
  // Written whole, then renamed: a reader never sees a partial number.
  const auto temporary = std::filesystem::path(path.string() + ".tmp");
  {
    std::ofstream out(temporary);
    out << port << '\n';
    if (!out.flush()) throw std::runtime_error("cannot write port file " + temporary.string());
  }
  std::filesystem::rename(temporary, path);
}

}  // namespace

int run_server(const ServerConfig& config) {
  raise_open_file_limit();
  const Work work(config.work, config.fail_rate);
  const auto started = StageClock::now();
  Reactor reactor;
  ThreadPool pool(config.pool_size, config.max_queue);
  std::optional<StageHistograms> stages;
  if (config.stage_timing) stages.emplace();
  Dispatcher dispatcher(config.mode, reactor, pool, work, stages ? &*stages : nullptr);
  Server server(reactor, dispatcher, config);
  std::optional<AdminServer> admin;
  if (config.admin_port) {
    admin.emplace(AdminServer::Sources{reactor, pool, server, config.mode,
                                       stages ? &*stages : nullptr, started},
                  config.admin_bind_address, *config.admin_port);
  }

  std::fprintf(
      stderr, "reference_server listening on %s:%u (mode %s, pool %zu, work %s, fail rate %g)\n",
      config.bind_address.c_str(), server.port(), std::string(to_string(config.mode)).c_str(),
      config.pool_size, config.work.to_string().c_str(), config.fail_rate);
  if (!config.port_file.empty()) write_port_file(config.port_file, server.port());
  if (admin) {
    std::fprintf(stderr, "reference_server admin on http://%s:%u (GET /stats /metrics /healthz, "
                 "POST /pool?size=N)\n",
                 config.admin_bind_address.c_str(), admin->port());
    if (!config.admin_port_file.empty()) write_port_file(config.admin_port_file, admin->port());
  }

  asio::signal_set signals(reactor.context(), SIGINT, SIGTERM);
  bool drained = true;
  std::function<void(std::error_code, int)> on_signal = [&](std::error_code error, int signal) {
    if (error) return;
    std::fprintf(stderr, "reference_server: %s: draining %zu request(s) in flight\n",
                 sigabbrev_np(signal), server.stats().in_flight);
    server.shutdown([&](bool all_answered) {
      drained = all_answered;
      if (admin) admin->stop();
      signals.cancel();
      reactor.stop();
    });
    // A second signal: stop waiting.
    signals.async_wait([&](std::error_code second_error, int) {
      if (second_error) return;
      std::fprintf(stderr, "reference_server: second signal: closing every connection now\n");
      drained = false;
      server.close_all();
    });
  };
  signals.async_wait(on_signal);
  server.start();
  if (admin) admin->start();
  reactor.run();

  // Everything that could take a reply is closed: what is still queued has nobody to answer.
  const std::size_t discarded = pool.stop(ThreadPool::StopPolicy::discard_backlog);
  const auto& stats = server.stats();
  std::fprintf(
      stderr, "reference_server: stopped%s: %llu requests, %llu ok, %llu errors, %zu discarded\n",
      drained ? "" : " (drain incomplete)", static_cast<unsigned long long>(stats.requests),
      static_cast<unsigned long long>(stats.replies_ok),
      static_cast<unsigned long long>(stats.replies_error), discarded);
  return 0;
}

}  // namespace poolbench
