// Server: the listening socket and its connections, all on the reactor thread (run_server.hpp
// wires it to the rest and runs it). Bounds and shutdown: reference_server/README.md §5.
//
// Threading: everything here runs on the reactor thread (rule 1 of reactor.hpp). Replies
// arrive through the connection's ConnectionReplies (a Dispatcher ReplyTo), which holds only a
// weak reference to it (rule 3): the reply to a client that left is dropped. Its one atomic
// flag, set when the connection closes, tells the workers to skip that client's work (rule 4).
//
// Lifecycle of a connection: read lines -> dispatch each -> write replies as they come
// (completion order in the pool modes), one send for all those that came in one turn of the
// loop (inline: a read's lines, or a turn's when its work took kTurnTime; pool modes: a
// call_from_thread batch) or during the previous send. A turn dispatches at most
// kLinesPerTurn lines of one connection, and inline stops a turn once its lines took
// kTurnTime of work: the rest of that read waits for a later turn (posted), so other
// connections are read in between. It stops reading on EOF, on an overlong line (after
// answering "err:line too long") and on shutdown; it closes once the lines it read are
// dispatched, every request it dispatched has been answered and every reply written. A write
// error closes it at once.
//
// Bounds (Twisted's producer/consumer): once a connection has --max-output bytes of replies
// not yet taken by its peer, it stops dispatching and reading that peer (TCP back-pressure
// does the rest) and goes on when they drain below half of that. Once it has
// --max-in-flight-per-connection requests dispatched and not yet answered, it stops the same
// way and goes on at half. A peer that never reads therefore costs at most max_output + the
// replies to one read + max_in_flight requests + one read (64 KiB) of unparsed input.
//
// Counting (Server::Stats): a request is in flight from dispatch until its reply is made (or
// its work is skipped because the client left); the reply is then unsent until its write
// completes (ok or error) or the connection closes first (dropped). So at any time
//   requests = in_flight + skipped + unsent + ok + errors + dropped.
//
// --idle-timeout closes a connection on which no complete line arrived and no reply was
// written for that long while none of its requests was in flight (idle holders, slowloris).
// --max-connections: a connection beyond it is told "err:too many connections" and closed.
// Out of descriptors (EMFILE) on accept: one descriptor kept in reserve is released to accept
// and close the waiting connections (as libuv does), so they are refused, not left hanging,
// and the acceptor does not spin (AcceptGuard, accept_guard.hpp).
//
// Shutdown (SIGINT/SIGTERM): stop accepting and reading, answer everything in flight and in the
// backlog, then exit 0; after --drain-timeout, close what is left. (Twisted runs the backlog
// too, but drops every reply.) A second signal closes everything at once.
#pragma once

#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>

#include "accept_guard.hpp"
#include "line_protocol.hpp"
#include "modes.hpp"
#include "reactor.hpp"

namespace poolbench {

struct ServerConfig {
  std::string bind_address = "127.0.0.1";
  std::uint16_t port = 9090;  // 0: any free port
  std::filesystem::path port_file;
  Mode mode = Mode::kCallInThread;
  std::size_t pool_size = 10;  // Twisted's reactor pool default
  std::size_t max_queue = ThreadPool::kUnboundedQueue;
  WorkSpec work = WorkSpec::parse("sleep:10ms");
  double fail_rate = 0;
  std::string db;                 // --db URL for sql: work (sql_client.hpp); empty: none
  std::int64_t db_keys = 100000;  // {rand}'s range
  std::size_t max_line = LineFramer::kDefaultMaxLine;
  LineFramer::Delimiter delimiter = LineFramer::Delimiter::kCrlf;
  std::chrono::milliseconds drain_timeout{10'000};
  // Admin HTTP endpoint (admin.hpp): off unless admin_port is set (0: any free port).
  std::optional<std::uint16_t> admin_port;
  std::string admin_bind_address = "127.0.0.1";
  std::filesystem::path admin_port_file;
  bool stage_timing = true;                       // per-request stage histograms (stage_timing.hpp)
  std::size_t max_output = std::size_t{1} << 20;  // bytes of replies buffered per connection
  std::size_t max_in_flight_per_connection = 1024;  // requests dispatched, not yet answered
  std::chrono::milliseconds idle_timeout{0};        // 0: connections never time out
  std::size_t max_connections = 0;                  // 0: no limit
  std::size_t max_open_files = 0;  // RLIMIT_NOFILE to set; 0: raise it to the hard limit
};

class Connection;

class Server {
 public:
  // A turn of the loop dispatches at most this many lines of one connection.
  static constexpr std::size_t kLinesPerTurn = 16;
  // Inline, a turn also ends once its lines took this long (one line at least).
  static constexpr std::chrono::microseconds kTurnTime{1000};

  struct Stats {
    std::uint64_t accepted = 0;
    std::size_t open_connections = 0;
    std::uint64_t requests = 0;
    std::size_t in_flight = 0;          // dispatched, not yet answered (connections gone included)
    std::uint64_t replies_ok = 0;       // "ack:" replies written to the socket
    std::uint64_t replies_error = 0;    // "err:" replies written to the socket
    std::uint64_t replies_dropped = 0;  // made, but the connection closed before writing them
    std::size_t replies_unsent = 0;     // made, not yet written
    std::uint64_t skipped = 0;          // work not run: the client left before a worker took it
    std::uint64_t lines_too_long = 0;
    std::uint64_t refused = 0;       // over --max-connections or out of descriptors
    std::uint64_t idle_closed = 0;   // closed by --idle-timeout
    std::uint64_t reads_paused = 0;  // times a connection stopped reading at --max-output
    std::uint64_t reads_held = 0;    // times one stopped at --max-in-flight-per-connection
  };
  struct ReplyCounts {
    std::uint64_t ok = 0;
    std::uint64_t errors = 0;
  };

  // Binds and listens at once (so port() is known); throws std::system_error on failure.
  Server(Reactor& reactor, Dispatcher& dispatcher, const ServerConfig& config);
  ~Server();

  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
  void start();
  // Stops accepting and reading, then calls done(true) once every connection is closed after
  // answering what it had in flight, or done(false) when drain_timeout expires first.
  void shutdown(std::function<void(bool drained)> done);
  // Closes every connection now; replies still to come are dropped.
  void close_all();
  const Stats& stats() const { return stats_; }

 private:
  friend class Connection;
  friend class ConnectionReplies;
  void accept();
  void refuse(int fd);
  void on_request_dispatched() { ++stats_.requests, ++stats_.in_flight; }
  void on_replies_written(const ReplyCounts& counts);
  void on_replies_dropped(const ReplyCounts& counts);
  void on_connection_closed(const std::shared_ptr<Connection>& connection);
  void finish_shutdown_if_done();

  Reactor& reactor_;
  Dispatcher& dispatcher_;
  const ServerConfig& config_;
  asio::ip::tcp::acceptor acceptor_;
  AcceptGuard accept_guard_;
  asio::steady_timer drain_timer_;
  std::unordered_set<std::shared_ptr<Connection>> connections_;
  std::function<void(bool)> on_drained_;
  bool shutting_down_ = false;
  Stats stats_;
};

}  // namespace poolbench
