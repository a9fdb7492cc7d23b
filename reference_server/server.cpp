#include "server.hpp"

#include <asio/post.hpp>
#include <asio/write.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <string_view>
#include <system_error>
#include <utility>

#include "stage_timing.hpp"

namespace poolbench {

namespace {
constexpr std::string_view kRefusal = "err:too many connections\r\n";
}  // namespace

// The reply end of one connection, shared by its requests in the pool. It outlives the
// connection (rule 3 of reactor.hpp): a reply that comes back after the client left is counted
// as dropped, and `left_` tells the workers to skip the work they have not started for it.
// Its last reference may go on a worker (defer-to-thread's shared request block): it holds only
// a weak reference and an atomic flag, so nothing of the connection is touched there.
class ConnectionReplies final : public ReplyTo {
 public:
  ConnectionReplies(Server& server, std::weak_ptr<Connection> connection)
      : server_(server), connection_(std::move(connection)) {}
  void reply(std::string reply) override;
  void skipped() override;
  bool gone() const override { return left_.load(std::memory_order_relaxed); }
  void mark_left() { left_.store(true, std::memory_order_relaxed); }

 private:
  Server& server_;
  std::weak_ptr<Connection> connection_;
  std::atomic<bool> left_{false};  // written on the reactor thread, read by workers
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(Server& server, asio::ip::tcp::socket socket)
      : server_(server),
        socket_(std::move(socket)),
        framer_(server.config_.max_line, server.config_.delimiter),
        idle_timer_(server.reactor_.context()) {}

  void start() {
    replies_ = std::make_shared<ConnectionReplies>(server_, weak_from_this());
    touch();
    arm_idle_timer();
    pump();
  }

  // Stop reading the socket; close once the lines already read are dispatched and answered,
  // and every reply is written.
  void stop_reading() {
    reading_ = false;
    close_if_done();
  }

  void close() {
    if (!socket_.is_open()) return;
    replies_->mark_left();
    std::error_code ignored;
    socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
    idle_timer_.cancel();
    server_.on_replies_dropped(std::exchange(outbox_counts_, {}));
    server_.on_connection_closed(shared_from_this());
  }

  // A request's reply (ConnectionReplies, reactor thread).
  void on_answered(std::string_view reply) {
    --in_flight_;
    send(reply, reply.starts_with("ack:") ? Kind::kOk : Kind::kError);
    resume_if_below_half();
  }
  void on_skipped() {
    --in_flight_;
    resume_if_below_half();
    close_if_done();
  }

 private:
  enum class Kind { kMessage, kOk, kError };  // a message of the server's own, or a reply
  enum class TurnEnd {
    kNeedBytes,
    kTurnOver,  // kLinesPerTurn lines
    kTimeUp,    // inline: kTurnTime of work
    kTooManyInFlight,
    kOutputFull,
    kLineTooLong
  };

  // Dispatches what the bounds allow of the lines already read, then reads more if it may.
  void pump() {
    if (pumping_ || turn_posted_ || read_pending_ || paused() || !socket_.is_open()) return;
    pumping_ = true;
    const TurnEnd end = dispatch_turn();
    pumping_ = false;
    lines_pending_ = end != TurnEnd::kNeedBytes && end != TurnEnd::kLineTooLong;
    // Cheap lines' replies leave together, one send per read (as before turns were bounded);
    // after a turn of expensive ones (kTimeUp), a send costs little next to the work.
    if (end != TurnEnd::kTurnOver && !writing_ && !flush_posted_ && !outbox_.empty()) flush();
    if (!socket_.is_open()) return;
    switch (end) {
      case TurnEnd::kLineTooLong:
        ++server_.stats_.lines_too_long;
        send("err:line too long", Kind::kMessage);
        return stop_reading();
      case TurnEnd::kTurnOver:
      case TurnEnd::kTimeUp:
        turn_posted_ = true;
        asio::post(socket_.get_executor(), [self = shared_from_this()] {
          self->turn_posted_ = false;
          self->pump();
        });
        return;
      case TurnEnd::kTooManyInFlight:
        in_flight_paused_ = true;  // resume_if_below_half() goes on
        ++server_.stats_.reads_held;
        return;
      case TurnEnd::kOutputFull:
        output_paused_ = true;  // the peer is not taking its replies: flush() goes on
        ++server_.stats_.reads_paused;
        return;
      case TurnEnd::kNeedBytes:
        if (!reading_) return close_if_done();  // the lines read before shutdown are all out
        read_pending_ = true;
        return read();
    }
  }

  // One turn's lines: up to kLinesPerTurn, up to kTurnTime of inline work, within the bounds.
  TurnEnd dispatch_turn() {
    const bool timed = server_.dispatcher_.mode() == Mode::kInline;
    const auto started = timed ? Clock::now() : TimePoint{};
    holding_output_ = true;  // the replies made meanwhile leave in one send, after the turn
    TurnEnd end = TurnEnd::kNeedBytes;
    for (std::size_t lines = 0;; ++lines) {
      if (in_flight_ >= server_.config_.max_in_flight_per_connection) {
        end = TurnEnd::kTooManyInFlight;
        break;
      }
      if (buffered_output() >= server_.config_.max_output) {
        end = TurnEnd::kOutputFull;
        break;
      }
      if (lines == Server::kLinesPerTurn) {
        end = TurnEnd::kTurnOver;
        break;
      }
      if (timed && lines > 0 && Clock::now() - started >= Server::kTurnTime) {
        end = TurnEnd::kTimeUp;
        break;
      }
      std::string_view line;
      if (framer_.next_line(line) == LineFramer::Status::kLineTooLong) {
        end = TurnEnd::kLineTooLong;
        break;
      }
      if (line.data() == nullptr) break;
      dispatch(line);
    }
    holding_output_ = false;
    return end;
  }

  bool paused() const { return in_flight_paused_ || output_paused_; }

  void read() {
    socket_.async_read_some(asio::buffer(read_buffer_),
                            [self = shared_from_this()](std::error_code error, std::size_t n) {
                              self->on_read(error, n);
                            });
  }

  void on_read(std::error_code error, std::size_t bytes) {
    read_pending_ = false;
    if (!reading_ || !socket_.is_open()) return;  // shutdown or closed meanwhile
    if (error) {
      // EOF (the client half-closed): answer what it sent, then close. Anything else: gone.
      if (error == asio::error::eof) return stop_reading();
      return close();
    }
    // One clock read per socket read, for every line in it (stage timing's "parsed").
    read_at_ = server_.dispatcher_.stage_timing() ? Clock::now() : TimePoint{};
    framer_.append({read_buffer_.data(), bytes});
    pump();
  }

  void dispatch(std::string_view line) {
    touch();
    ++in_flight_;
    server_.on_request_dispatched();
    server_.dispatcher_.dispatch(line, replies_, read_at_);
  }

  void resume_if_below_half() {
    if (!in_flight_paused_ || in_flight_ > server_.config_.max_in_flight_per_connection / 2) return;
    in_flight_paused_ = false;
    pump();
  }

  // One send per turn of the loop at most: a reply queued while no write is in progress waits
  // for the end of the turn or read whose lines it answers (inline, pump()), or for a posted
  // flush, which runs after the rest of the call_from_thread batch that brought it (pool modes).
  // Replies queued during a write leave together when it completes.
  void send(std::string_view reply, Kind kind) {
    if (!socket_.is_open()) {
      if (kind != Kind::kMessage) ++server_.stats_.replies_dropped;
      return;
    }
    outbox_.append(reply).append("\r\n");
    if (kind != Kind::kMessage) {
      ++(kind == Kind::kOk ? outbox_counts_.ok : outbox_counts_.errors);
      ++server_.stats_.replies_unsent;
    }
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
    in_transit_counts_ = std::exchange(outbox_counts_, {});
    asio::async_write(socket_, asio::buffer(in_transit_),
                      [self = shared_from_this()](std::error_code error, std::size_t) {
                        self->writing_ = false;
                        self->in_transit_.clear();
                        const auto counts = std::exchange(self->in_transit_counts_, {});
                        if (error) {
                          self->server_.on_replies_dropped(counts);
                          return self->close();
                        }
                        self->server_.on_replies_written(counts);
                        self->touch();
                        self->resume_if_drained();
                        self->flush();
                      });
  }

  std::size_t buffered_output() const { return outbox_.size() + in_transit_.size(); }

  void resume_if_drained() {
    if (!output_paused_ || buffered_output() > server_.config_.max_output / 2) return;
    output_paused_ = false;
    pump();
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
    send("err:idle timeout", Kind::kMessage);
    stop_reading();
  }

  void close_if_done() {
    if (!reading_ && !lines_pending_ && in_flight_ == 0 && !writing_ && outbox_.empty()) close();
  }

  Server& server_;
  asio::ip::tcp::socket socket_;
  LineFramer framer_;
  asio::steady_timer idle_timer_;
  Clock::time_point last_activity_;             // the last complete line or written reply
  TimePoint read_at_;                           // when the last read came (stage timing)
  std::array<char, 64 * 1024> read_buffer_;     // Twisted reads 64 KiB at a time too
  std::shared_ptr<ConnectionReplies> replies_;  // answers every request of this connection
  std::string outbox_;                          // replies not yet handed to the socket
  std::string in_transit_;                      // the replies async_write is sending
  Server::ReplyCounts outbox_counts_;           // the requests' replies among them
  Server::ReplyCounts in_transit_counts_;
  std::size_t in_flight_ = 0;  // requests dispatched and not yet answered
  bool reading_ = true;  // false: no more reads from the socket (EOF, overlong line, shutdown)
  bool read_pending_ = false;
  bool lines_pending_ = false;     // the last turn left complete lines in the framer
  bool turn_posted_ = false;       // lines are left for a later turn
  bool pumping_ = false;           // dispatch_turn() is running: an inline reply must not re-enter
  bool in_flight_paused_ = false;  // at --max-in-flight-per-connection, until half
  bool output_paused_ = false;     // at --max-output, until half
  bool writing_ = false;
  bool holding_output_ = false;  // a turn is dispatching lines: it flushes after them
  bool flush_posted_ = false;
};

void ConnectionReplies::reply(std::string reply) {
  --server_.stats_.in_flight;
  if (auto connection = connection_.lock()) return connection->on_answered(reply);
  ++server_.stats_.replies_dropped;
}

void ConnectionReplies::skipped() {
  --server_.stats_.in_flight;
  ++server_.stats_.skipped;
  if (auto connection = connection_.lock()) connection->on_skipped();
}

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

void Server::on_replies_written(const ReplyCounts& counts) {
  stats_.replies_unsent -= counts.ok + counts.errors;
  stats_.replies_ok += counts.ok;
  stats_.replies_error += counts.errors;
}

void Server::on_replies_dropped(const ReplyCounts& counts) {
  stats_.replies_unsent -= counts.ok + counts.errors;
  stats_.replies_dropped += counts.ok + counts.errors;
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
