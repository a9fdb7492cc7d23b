#include "server.hpp"

#include <asio/post.hpp>
#include <asio/write.hpp>

#include <algorithm>
#include <array>
#include <cstdio>
#include <string_view>
#include <system_error>

#include "stage_timing.hpp"

namespace poolbench {

namespace {
constexpr std::string_view kRefusal = "err:too many connections\r\n";
}  // namespace

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(Server& server, asio::ip::tcp::socket socket)
      : server_(server),
        socket_(std::move(socket)),
        framer_(server.config_.max_line, server.config_.delimiter),
        idle_timer_(server.reactor_.context()) {}

  void start() {
    // One callback for all of this connection's requests, built once: inline mode calls it
    // without copying it. It holds the connection weakly (rule 3 of reactor.hpp).
    reply_ = [server = &server_, weak = weak_from_this()](std::string reply) {
      server->on_request_answered(reply.starts_with("ack:"));
      if (auto self = weak.lock()) {
        --self->in_flight_;
        self->send(reply);
      }
    };
    touch();
    arm_idle_timer();
    read();
  }

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
    idle_timer_.cancel();
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
    const auto read_at = server_.dispatcher_.stage_timing() ? Clock::now() : TimePoint{};
    holding_output_ = true;
    const auto status =
        framer_.feed({read_buffer_.data(), bytes},
                     [this, read_at](std::string_view line) { dispatch(line, read_at); });
    holding_output_ = false;
    if (!writing_ && !flush_posted_ && !outbox_.empty()) flush();
    if (status == LineFramer::Status::kLineTooLong) {
      ++server_.stats_.lines_too_long;
      send("err:line too long");
      return stop_reading();
    }
    if (!reading_) return;
    if (buffered_output() >= server_.config_.max_output) {
      // The peer is not taking its replies: stop reading it (flush() resumes).
      read_paused_ = true;
      ++server_.stats_.reads_paused;
      return;
    }
    read();
  }

  void dispatch(std::string_view line, TimePoint read_at) {
    if (!reading_) return;  // an earlier line of this read made us stop
    touch();
    ++in_flight_;
    server_.on_request_dispatched();
    server_.dispatcher_.dispatch(line, reply_, read_at);
  }

  // One send per turn of the loop at most: a reply queued while no write is in progress waits
  // for the end of the read whose lines it answers (inline), or for a posted flush, which runs
  // after the rest of the call_from_thread batch that brought it (pool modes). Replies queued
  // during a write leave together when it completes.
  void send(std::string_view reply) {
    if (!socket_.is_open()) return;
    outbox_.append(reply).append("\r\n");
    if (writing_ || flush_posted_ || holding_output_) return;
    flush_posted_ = true;
    asio::post(socket_.get_executor(), [self = shared_from_this()] {
      self->flush_posted_ = false;
      if (!self->writing_) self->flush();
    });
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
                        self->touch();
                        self->resume_reading_if_drained();
                        self->flush();
                      });
  }

  std::size_t buffered_output() const { return outbox_.size() + in_transit_.size(); }

  void resume_reading_if_drained() {
    if (!read_paused_ || !reading_ || buffered_output() > server_.config_.max_output / 2) return;
    read_paused_ = false;
    read();
  }

  // The idle clock restarts on a complete line and on a written reply, not on bytes alone: a
  // slowloris peer dribbling one endless line never finishes one.
  void touch() {
    if (server_.config_.idle_timeout.count() > 0) last_activity_ = Clock::now();
  }

  void arm_idle_timer() {
    if (server_.config_.idle_timeout.count() <= 0) return;
    idle_timer_.expires_at(last_activity_ + server_.config_.idle_timeout);
    idle_timer_.async_wait([weak = weak_from_this()](std::error_code error) {
      if (error) return;
      if (auto self = weak.lock()) self->on_idle_timer();
    });
  }

  void on_idle_timer() {
    if (!socket_.is_open()) return;
    const auto now = Clock::now();
    if (in_flight_ > 0) last_activity_ = now;  // we owe it a reply: it is waiting, not idle
    if (now - last_activity_ < server_.config_.idle_timeout) return arm_idle_timer();
    ++server_.stats_.idle_closed;
    if (writing_) return close();  // it does not even take what we wrote
    send("err:idle timeout");
    stop_reading();
  }

  void close_if_done() {
    if (!reading_ && in_flight_ == 0 && !writing_ && outbox_.empty()) close();
  }

  Server& server_;
  asio::ip::tcp::socket socket_;
  LineFramer framer_;
  asio::steady_timer idle_timer_;
  Clock::time_point last_activity_;          // the last complete line or written reply
  std::array<char, 64 * 1024> read_buffer_;  // Twisted reads 64 KiB at a time too
  Dispatcher::Reply reply_;                  // answers one request of this connection
  std::string outbox_;                       // replies not yet handed to the socket
  std::string in_transit_;                   // the replies async_write is sending
  std::size_t in_flight_ = 0;                // requests dispatched and not yet answered
  bool reading_ = true;
  bool read_paused_ = false;  // at --max-output: no read pending until the peer drains
  bool writing_ = false;
  bool holding_output_ = false;  // on_read is dispatching a read's lines: it flushes after them
  bool flush_posted_ = false;
};

Server::Server(Reactor& reactor, Dispatcher& dispatcher, const ServerConfig& config)
    : reactor_(reactor),
      dispatcher_(dispatcher),
      config_(config),
      acceptor_(reactor.context()),
      accept_guard_(acceptor_, "reference_server"),
      drain_timer_(reactor.context()) {
  const asio::ip::tcp::endpoint endpoint(asio::ip::make_address(config.bind_address), config.port);
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(asio::socket_base::reuse_address(true));
  acceptor_.bind(endpoint);
  // Twisted listens with a backlog of 50; a load generator opening thousands of connections
  // at once needs the system's maximum.
  acceptor_.listen(asio::socket_base::max_listen_connections);
  acceptor_.native_non_blocking(true);  // AcceptGuard accepts the waiting ones until EAGAIN
}

Server::~Server() = default;

void Server::start() {
  accept();
}

void Server::accept() {
  acceptor_.async_accept([this](std::error_code error, asio::ip::tcp::socket socket) {
    if (error == asio::error::operation_aborted || !acceptor_.is_open()) return;
    if (error) {
      return accept_guard_.on_accept_error(
          error, [this] { accept(); }, [this](int fd) { refuse(fd); });
    }
    if (config_.max_connections > 0 && connections_.size() >= config_.max_connections) {
      refuse(socket.release());
      return accept();
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

void Server::refuse(int fd) {
  ++stats_.refused;
  AcceptGuard::refuse_with(fd, kRefusal);
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
  accept_guard_.cancel();
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

}  // namespace poolbench
