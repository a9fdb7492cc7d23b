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
//                          400 when size is missing, given twice, or not an integer in
//                          [1, ThreadPool::kMaxThreads]
// A known path with another method: 405 with Allow; an unknown path: 404; a malformed request:
// 400 (parser: admin_http.hpp), 414/431/413 for oversize parts.
//
// Threads: everything above runs on the reactor thread, except the expensive half of /stats
// (the stage histograms' percentiles and their compressed V2 encoding): the reactor copies the
// four histograms into a reused snapshot (about 1 MiB into pages already mapped: a fresh copy
// costs ~1 ms of page faults, which was most of what /stats cost the reactor), and one formatter
// thread, owned here, summarises and encodes the snapshot, then posts the answer and the
// snapshot back to the reactor. The formatter touches nothing but the snapshot it was given.
//
// Nobody can lock the endpoint out: a connection lives at most kRequestTimeout from accept
// (its request must arrive and its answer be taken in that time), and at most kMaxConnections
// are open at once. A newcomer beyond that closes the oldest connection still waiting for its
// request, so idle sockets cannot hold every slot; only when all are being answered is it
// refused (503). Out of descriptors, newcomers are refused with 503 by AcceptGuard.
#pragma once

#include <asio/ip/tcp.hpp>
#include <asio/thread_pool.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include <nlohmann/json.hpp>

#include "accept_guard.hpp"
#include "admin_http.hpp"
#include "modes.hpp"
#include "reactor.hpp"
#include "stage_timing.hpp"
#include "thread_pool.hpp"

namespace poolbench {

class Server;
class AdminConnection;
class SqlClient;

class AdminServer {
 public:
  static constexpr std::size_t kMaxConnections = 16;
  // A request is a few hundred bytes sent at once by curl or loadgen: 2 s is generous for
  // them, and bounds how long an idle socket holds a slot.
  static constexpr std::chrono::seconds kRequestTimeout{2};

  // What the endpoint reports on and acts on. `stages` may be null (stage timing off).
  struct Sources {
    Reactor& reactor;
    ThreadPool& pool;
    const Server& server;
    Mode mode;
    std::string work;  // the work spec, as WorkSpec::to_string() writes it
    const StageHistograms* stages;
    TimePoint started;
    const SqlClient* sql = nullptr;  // sql: work's database counters, if any
  };

  // Binds and listens at once (port() is known); throws std::system_error on failure.
  AdminServer(Sources sources, const std::string& bind_address, std::uint16_t port);
  ~AdminServer();

  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
  void start();
  // Stops accepting and closes every admin connection (reactor thread).
  void stop();

  // Answers one parsed request (reactor thread): `answer` is called on the reactor thread, at
  // once or, for /stats and POST /pool, once the formatter has encoded the stage histograms.
  using Answer = std::function<void(std::string response)>;
  void respond(const http::Request& request, Answer answer);
  std::string metrics_text() const;

 private:
  friend class AdminConnection;
  void accept();
  void admit(std::shared_ptr<AdminConnection> connection);
  void on_closed(const std::shared_ptr<AdminConnection>& connection) {
    connections_.erase(connection);
  }
  // /stats without the stage summaries (cheap: counters and /proc), on the reactor thread.
  nlohmann::json stats_without_stages() const;
  void answer_stats(Answer answer);

  using StageSnapshot = std::array<Histogram, kStages.size()>;
  // Snapshots not lent to the formatter (reactor thread only; shared with the answers in
  // flight, which return theirs, so it outlives this object if they do).
  using SpareSnapshots = std::vector<std::unique_ptr<StageSnapshot>>;
  std::shared_ptr<SpareSnapshots> spare_snapshots_ = std::make_shared<SpareSnapshots>();

  Sources sources_;
  asio::ip::tcp::acceptor acceptor_;
  AcceptGuard accept_guard_;
  std::unordered_set<std::shared_ptr<AdminConnection>> connections_;
  asio::thread_pool formatter_{1};  // the /stats stage encoding; joined by the destructor
};

}  // namespace poolbench
