// reference_server: flags -> ServerConfig -> run_server. Nothing else.
#include <CLI/CLI.hpp>

#include <cmath>
#include <cstdio>
#include <exception>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "run_server.hpp"
#include "sql_client.hpp"

namespace {

using poolbench::ServerConfig;

// Flags that are parsed into their ServerConfig fields after CLI11 is done (grammar checks with
// their own messages).
struct TextFlags {
  std::string mode = "call-in-thread";
  std::string work = "sleep:1s";
  std::string drain_timeout = "10s";
  std::string idle_timeout = "0s";
  bool lf = false;
};

void add_listening_options(CLI::App& app, ServerConfig& config, TextFlags& text) {
  app.add_option("--port", config.port, "TCP port; 0 picks a free one (printed on stderr)")
      ->capture_default_str();
  app.add_option("--bind", config.bind_address, "address to listen on (IPv4 or IPv6)")
      ->capture_default_str();
  app.add_option("--port-file", config.port_file,
                 "write the port to this file once listening (for scripts)");
  app.add_flag("--lf", text.lf,
               "also end lines at a bare \\n (for nc/telnet users); default: \\r\\n only");
  app.add_option("--drain-timeout", text.drain_timeout,
                 "on SIGINT/SIGTERM, how long to wait for requests in flight to be answered; "
                 "then the connections are closed, work still running is abandoned, and the "
                 "server exits 3 at once")
      ->capture_default_str();
}

void add_work_options(CLI::App& app, ServerConfig& config, TextFlags& text) {
  app.add_option("--mode", text.mode,
                 "where the work runs: inline (on the reactor: blocks everyone), call-in-thread "
                 "(pool + call_from_thread), defer-to-thread (pool + Deferred); Twisted's "
                 "callInThread / deferToThread also accepted")
      ->capture_default_str();
  app.add_option("--pool-size", config.pool_size,
                 "maximum worker threads (suggestThreadPoolSize), 1 to 4096; workers start on "
                 "demand. A thread the system refuses to create (a thread or memory limit) "
                 "leaves the pool at the size it reached (/stats pool.thread_limit)")
      ->check(CLI::Range(std::size_t{1}, poolbench::ThreadPool::kMaxThreads))
      ->capture_default_str();
  app.add_option("--max-queue", config.max_queue,
                 "bound on the pool's backlog; at it, a request of a connection holding its "
                 "fair share of the backlog (the bound / connections with work queued) gets "
                 "err:busy, others are queued up to twice the bound (0: unbounded)")
      ->capture_default_str();
  app.add_option(
         "--work", text.work,
         "per-request work: none, or parts joined by + that run in turn: sleep:DUR "
         "(blocks without CPU, like I/O) or spin:DUR (uses DUR of the worker thread's own "
         "CPU time, however long that takes on a busy machine); each part optionally "
         "followed by ,exp (exponential, DUR is the mean) and ,pPROB=DUR outliers. DUR like "
         "10ms, 200us, 1s. E.g. sleep:10ms  spin:200us,exp  spin:2ms+sleep:8ms  "
         "sleep:1ms,p0.01=100ms. A part sql:STATEMENT or sql:NAME runs a statement on --db "
         "(blocking; NAME point-read, hot-update, range-scan or sleep-10ms; {rand} in the "
         "statement is a random key from 1 to --db-keys, {rand:N} one from 1 to N), e.g. "
         "sql:point-read+spin:1ms")
      ->capture_default_str();
  app.add_option("--db", config.db,
                 "the database for sql: work: mysql://USER[:PASSWORD]@HOST[:PORT]/DATABASE"
                 "[?socket=PATH] (scripts/db start prints one). Each thread that runs work "
                 "opens its own connection on its first sql: task and keeps it; a failure is "
                 "answered err:sql <errno>: <message>|<line> and the connection reopened on the "
                 "next task");
  app.add_option("--db-keys", config.db_keys, "the range of {rand}: keys 1 to N")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{2147483647}))
      ->capture_default_str();
  app.add_option("--fail-rate", config.fail_rate,
                 "fraction of requests whose work throws (answered err:injected failure|<line>)")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
}

void add_limit_options(CLI::App& app, ServerConfig& config, TextFlags& text) {
  app.add_option("--max-line", config.max_line,
                 "longest line in bytes (Twisted's MAX_LENGTH); longer: err:line too long, close")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--max-output", config.max_output,
                 "bytes of replies buffered per connection before it stops reading that peer "
                 "(resumes below half)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--max-in-flight-per-connection", config.max_in_flight_per_connection,
                 "requests of one connection dispatched and not yet answered before it stops "
                 "reading that peer (resumes at half); with the pool's turns per connection, "
                 "what keeps one pipelining client from taking the server's memory and time")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--idle-timeout", text.idle_timeout,
                 "close a connection with no complete line, no reply written and nothing in "
                 "flight for this long (0s: never)")
      ->capture_default_str();
  app.add_option("--max-connections", config.max_connections,
                 "open connections at most; beyond: err:too many connections, close (0: no limit)")
      ->capture_default_str();
  app.add_option("--max-open-files", config.max_open_files,
                 "set the descriptor limit (RLIMIT_NOFILE) to this (0: raise it to the hard limit)")
      ->capture_default_str();
}

void add_admin_options(CLI::App& app, ServerConfig& config) {
  const std::string admin_group = "Admin endpoint";
  app.add_option_function<std::uint16_t>(
         "--admin-port", [&config](std::uint16_t port) { config.admin_port = port; },
         "serve GET /stats, /metrics, /healthz and POST /pool?size=N over HTTP on this port "
         "(0: a free one, printed on stderr); off by default")
      ->group(admin_group);
  app.add_option("--admin-bind", config.admin_bind_address, "address of the admin endpoint")
      ->capture_default_str()
      ->group(admin_group);
  app.add_option("--admin-port-file", config.admin_port_file,
                 "write the admin port to this file once listening")
      ->group(admin_group);
  app.add_flag("--stage-timing,!--no-stage-timing", config.stage_timing,
               "time every request's stages (dispatch, queue wait, service, return hop) into "
               "histograms served by /stats and /metrics (default: on)")
      ->group(admin_group);
}

// --print-work SPEC: the spec's canonical spelling and mean costs as one JSON line (exit 0), or
// its error (exit 2). Every peer prints the same, so one test (tests/scripts/test_peers_agree.py)
// holds every program to tests/data/work_specs.json.
int print_work(const std::string& text) {
  try {
    const auto spec = poolbench::WorkSpec::parse(text);
    const nlohmann::json description = {
        {"canonical", spec.to_string()},
        {"cpu_ns", std::llround(spec.mean_cpu_nanoseconds())},
        {"blocking_ns", std::llround(spec.mean_blocking_nanoseconds())}};
    std::printf("%s\n", description.dump().c_str());
    return 0;
  } catch (const std::invalid_argument& error) {
    std::fprintf(stderr, "%s\n", error.what());
    return 2;
  }
}

// The text flags into `config`; false (said on stderr) if one is malformed.
bool finish_config(ServerConfig& config, const TextFlags& text) {
  try {
    config.mode = poolbench::parse_mode(text.mode);
    config.work = poolbench::WorkSpec::parse(text.work);
    if (!config.db.empty()) poolbench::DbUrl::parse(config.db);
    if (config.work.has_sql() && config.db.empty()) {
      throw std::invalid_argument("--work has sql: parts: give --db mysql://...");
    }
    config.delimiter =
        text.lf ? poolbench::LineFramer::Delimiter::kLf : poolbench::LineFramer::Delimiter::kCrlf;
    config.drain_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(
        poolbench::parse_duration(text.drain_timeout));
    config.idle_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(
        poolbench::parse_duration(text.idle_timeout));
    return true;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "reference_server: %s\n", error.what());
    return false;
  }
}

}  // namespace

int main(int argc, char** argv) {
  ServerConfig config;
  TextFlags text;
  CLI::App app{
      "reference_server - a reactor + worker-pool TCP line server (the pattern of Twisted's\n"
      "callInThread / deferToThread). Each line \"<line>\\r\\n\" is answered "
      "\"ack:<line>\\r\\n\",\n"
      "or \"err:<what>|<line>\\r\\n\" when its work fails or the backlog is full."};
  app.get_formatter()->column_width(34);
  add_listening_options(app, config, text);
  add_work_options(app, config, text);
  add_limit_options(app, config, text);
  add_admin_options(app, config);
  std::string work_to_print;
  app.add_option("--print-work", work_to_print,
                 "print SPEC's canonical spelling and mean costs (ns) as JSON and exit; exit 2 "
                 "with the parse error if it is bad");
  app.footer(
      "Shutdown: SIGINT, SIGTERM or SIGHUP stops accepting and reading, answers every request in\n"
      "flight or queued, then exits 0. After --drain-timeout, or at a second signal, it closes\n"
      "every connection, abandons work still running on the workers and exits 3 at once.\n"
      "SIGPIPE is ignored: a closed stderr loses messages, not requests.\n"
      "Exit codes: 0 stopped by a signal, every request answered; 1 a runtime failure (e.g.\n"
      "the port is taken); 2 a bad flag or work spec, or sql: statements the database refuses;\n"
      "3 stopped by a signal, drain cut\n"
      "(--drain-timeout or a second signal; stderr says how many requests were abandoned).\n"
      "Threading rules, modes and what is kept from Twisted: reference_server/README.md.\n"
      "Example: reference_server --port 9090 --mode deferToThread --pool-size 4 --work sleep:1s "
      "--lf\n"
      "         then: nc 127.0.0.1 9090");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error) == 0 ? 0 : 2;  // --help is not an error; every bad flag exits 2
  }
  if (app.count("--print-work") > 0) return print_work(work_to_print);
  if (!finish_config(config, text)) return 2;
  try {
    return poolbench::run_server(config);
  } catch (const std::invalid_argument& error) {  // e.g. a statement the database refuses
    std::fprintf(stderr, "reference_server: %s\n", error.what());
    return 2;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "reference_server: %s\n", error.what());
    return 1;
  }
}
