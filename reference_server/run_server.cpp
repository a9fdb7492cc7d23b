#include "run_server.hpp"

#include <sys/resource.h>

#include <asio/signal_set.hpp>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <system_error>

#include "admin.hpp"
#include "process_usage.hpp"
#include "sql_client.hpp"
#include "stage_timing.hpp"
#include "thread_pool.hpp"
#include "work.hpp"

namespace poolbench {

namespace {

// Raises the descriptor limit to the hard limit, or sets it to `wanted` (--max-open-files).
void set_open_file_limit(std::size_t wanted) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  const rlim_t target = wanted == 0 ? limit.rlim_max : std::min<rlim_t>(wanted, limit.rlim_max);
  if (limit.rlim_cur == target) return;
  limit.rlim_cur = target;
  if (setrlimit(RLIMIT_NOFILE, &limit) != 0)
    throw std::system_error(errno, std::generic_category(), "setrlimit(RLIMIT_NOFILE)");
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

// Says where the server and its admin endpoint listen, on stderr and in the port files.
void announce(const ServerConfig& config, const Server& server, const AdminServer* admin) {
  std::fprintf(
      stderr,
      "reference_server listening on %s:%u (mode %s, pool %zu, work %s, fail rate %g, CPUs %s)\n",
      config.bind_address.c_str(), server.port(), std::string(to_string(config.mode)).c_str(),
      config.pool_size, config.work.to_string().c_str(), config.fail_rate,
      format_cpu_list(allowed_cpus()).c_str());
  if (!config.port_file.empty()) write_port_file(config.port_file, server.port());
  if (admin != nullptr) {
    std::fprintf(stderr,
                 "reference_server admin on http://%s:%u (GET /stats /metrics /healthz, "
                 "POST /pool?size=N)\n",
                 config.admin_bind_address.c_str(), admin->port());
    if (!config.admin_port_file.empty()) write_port_file(config.admin_port_file, admin->port());
  }
}

// The first SIGINT/SIGTERM/SIGHUP drains the server, then calls done(drained); a second one closes
// every connection at once, which ends the drain, cut (done(false)).
void drain_on_signal(asio::signal_set& signals, Server& server,
                     std::function<void(bool drained)> done) {
  signals.async_wait(
      [&signals, &server, done = std::move(done)](std::error_code error, int signal) {
        if (error) return;
        std::fprintf(stderr, "reference_server: %s: draining %zu request(s) in flight\n",
                     sigabbrev_np(signal), server.stats().in_flight);
        // Closing every connection empties the server as a finished drain would: remember why.
        auto cut = std::make_shared<bool>(false);
        server.shutdown([&signals, done, cut](bool all_answered) {
          signals.cancel();
          done(all_answered && !*cut);
        });
        signals.async_wait([&server, cut](std::error_code second_error, int) {
          if (second_error) return;
          std::fprintf(stderr, "reference_server: second signal: closing every connection now\n");
          *cut = true;
          server.close_all();
        });
      });
}

// Everything that could take a reply is closed: what is still queued has nobody to answer. After
// a cut drain the workers get no more time: --drain-timeout is spent.
int stop_pool_and_report(ThreadPool& pool, const Server::Stats& stats, bool drained) {
  const auto deadline =
      drained ? std::chrono::steady_clock::time_point::max() : std::chrono::steady_clock::now();
  const auto stopped = pool.stop_until(ThreadPool::StopPolicy::kDiscardBacklog, deadline);
  std::fprintf(stderr,
               "reference_server: stopped%s: %llu requests, %llu ok, %llu errors, %zu "
               "discarded, %zu abandoned in flight\n",
               drained ? "" : " (drain cut)", static_cast<unsigned long long>(stats.requests),
               static_cast<unsigned long long>(stats.replies_ok),
               static_cast<unsigned long long>(stats.replies_error), stopped.discarded,
               stats.in_flight);
  if (stopped.abandoned > 0) {
    std::fprintf(stderr, "reference_server: leaving %zu worker(s) still running their work\n",
                 stopped.abandoned);
    std::fflush(nullptr);
    std::_Exit(kExitDrainCut);  // no destructor may run under the workers
  }
  return drained ? 0 : kExitDrainCut;
}

}  // namespace

int run_server(const ServerConfig& config) {
  // A closed stderr (a log reader that went away, `reference_server 2>&1 | head -1`) must not
  // kill the server at its next message: the write fails with EPIPE instead, and the message is
  // lost, not the requests in flight. Sockets never raise it (Asio sends with MSG_NOSIGNAL).
  std::signal(SIGPIPE, SIG_IGN);
  set_open_file_limit(config.max_open_files);
  std::optional<SqlClient> sql;
  if (config.work.has_sql() && !config.db.empty()) {
    sql.emplace(DbUrl::parse(config.db), config.db_keys);
    const std::string warning = sql->check(config.work);  // a refused statement: exit 2
    if (!warning.empty()) std::fprintf(stderr, "reference_server: %s\n", warning.c_str());
  }
  const Work work(config.work, config.fail_rate, sql ? &*sql : nullptr);
  const auto started = Clock::now();
  Reactor reactor;
  ThreadPool pool(config.pool_size, config.max_queue);
  std::optional<StageHistograms> stages;
  if (config.stage_timing) stages.emplace();
  Dispatcher dispatcher(config.mode, reactor, pool, work, stages ? &*stages : nullptr);
  Server server(reactor, dispatcher, config);
  std::optional<AdminServer> admin;
  if (config.admin_port) {
    admin.emplace(AdminServer::Sources{reactor, pool, server, config.mode, config.work.to_string(),
                                       stages ? &*stages : nullptr, started, sql ? &*sql : nullptr},
                  config.admin_bind_address, *config.admin_port);
  }

  announce(config, server, admin ? &*admin : nullptr);

  // SIGHUP too: a closed terminal or a supervisor's hang-up drains like a stop, instead of
  // killing the server with requests in flight.
  asio::signal_set signals(reactor.context(), SIGINT, SIGTERM, SIGHUP);
  bool drained = true;
  drain_on_signal(signals, server, [&](bool all_answered) {
    drained = all_answered;
    if (admin) admin->stop();
    reactor.stop();
  });
  server.start();
  if (admin) admin->start();
  reactor.run();

  return stop_pool_and_report(pool, server.stats(), drained);
}

}  // namespace poolbench
