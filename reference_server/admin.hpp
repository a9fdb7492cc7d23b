// The admin endpoint: a small HTTP/1.1 server on the reactor (same io_context, reactor thread
// only: threading rule 1 of reactor.hpp holds for its connections too). One request per
// connection ("Connection: close"), answered from state that lives on the reactor thread
// (Server::stats, StageHistograms) or behind the pool's / reactor's own mutex.
//
//   GET  /healthz          200 "ok"
//   GET  /stats            JSON: mode, pool, requests, connections, call_from_thread, and the
//                          per-stage histograms (nanoseconds; schema "poolbench.stats/1")
//   GET  /metrics          Prometheus text exposition format 0.0.4
//   POST /pool?size=N      ThreadPool::resize(N) (suggestThreadPoolSize), then the /stats JSON;
//                          400 when size is missing or not an integer in [1, kMaxPoolSize]
// A known path with another method: 405 with Allow; an unknown path: 404; a malformed request:
// 400 (parser: admin_http.hpp), 414/431/413 for oversize parts. A connection is closed after
// kRequestTimeout without a full request, and at most kMaxConnections are served at once
// (beyond: 503 and close).
#pragma once

#include <asio/ip/tcp.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_set>

#include "admin_http.hpp"
#include "modes.hpp"
#include "reactor.hpp"
#include "stage_timing.hpp"
#include "thread_pool.hpp"

namespace poolbench {

class Server;
class AdminConnection;

class AdminServer {
 public:
  static constexpr std::size_t kMaxPoolSize = 4096;
  static constexpr std::size_t kMaxConnections = 16;
  static constexpr std::chrono::seconds kRequestTimeout{5};

  // What the endpoint reports on and acts on. `stages` may be null (stage timing off).
  struct Sources {
    Reactor& reactor;
    ThreadPool& pool;
    const Server& server;
    Mode mode;
    std::string work;  // the work spec, as WorkSpec::to_string() writes it
    const StageHistograms* stages;
    TimePoint started;
  };

  // Binds and listens at once (port() is known); throws std::system_error on failure.
  AdminServer(Sources sources, const std::string& bind_address, std::uint16_t port);
  ~AdminServer();

  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
  void start();
  // Stops accepting and closes every admin connection (reactor thread).
  void stop();

  // The answer to one parsed request (reactor thread). Public for tests.
  std::string respond(const http::Request& request);
  std::string stats_json() const;
  std::string metrics_text() const;

 private:
  friend class AdminConnection;
  void accept();
  void on_closed(const std::shared_ptr<AdminConnection>& connection) {
    connections_.erase(connection);
  }

  Sources sources_;
  asio::ip::tcp::acceptor acceptor_;
  std::unordered_set<std::shared_ptr<AdminConnection>> connections_;
};

}  // namespace poolbench
