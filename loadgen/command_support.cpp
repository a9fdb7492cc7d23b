#include "command_support.hpp"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include <CLI/CLI.hpp>

namespace poolbench::cli {
namespace {

// The one piece of global state: a signal handler can only reach globals. Lock-free atomics
// are async-signal-safe.
std::atomic<bool> g_stop{false};
std::atomic<int> g_signal{0};

void on_stop_signal(int signal_number) {
  g_signal.store(signal_number);
  g_stop.store(true);
}

}  // namespace

void install_stop_handlers() {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  signal(SIGPIPE, SIG_IGN);  // a dead server is an error code on the socket, not a signal
}

const std::atomic<bool>* stop_flag() {
  return &g_stop;
}

int stopped_exit_code() {
  return 128 + (g_signal.load() != 0 ? g_signal.load() : SIGINT);
}

// Fails early (before any load) when an output file could not be written at the end.
void check_writable(const std::string& path, const char* flag) {
  if (path.empty()) return;
  const std::filesystem::path p(path);
  const std::filesystem::path dir = p.has_parent_path() ? p.parent_path() : ".";
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    throw CLI::ValidationError(flag, "cannot write " + path + ": directory " + dir.string() +
                                         " is not writable (" + std::strerror(errno) + ")");
  }
}

std::string format_ms(std::int64_t us) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3f ms", static_cast<double>(us) / 1000.0);
  return text;
}

StatusLine::StatusLine(bool quiet) : quiet_(quiet), tty_(::isatty(STDERR_FILENO) == 1) {}

void StatusLine::show(const IntervalStats& s) {
  if (quiet_) return;
  char line[200];
  std::snprintf(line, sizeof line,
                "[%7.1fs %-7s] %10.1f req/s  p50 %s  p99 %s  max %s  errors %llu  "
                "timeouts %llu",
                s.start_s + s.length_s, std::string(to_string(s.phase)).c_str(), s.throughput_rps,
                format_ms(s.p50_us).c_str(), format_ms(s.p99_us).c_str(),
                format_ms(s.max_us).c_str(), static_cast<unsigned long long>(s.errors),
                static_cast<unsigned long long>(s.timeouts));
  // A terminal gets the line redrawn in place; a log or pipe gets one line per interval.
  std::fprintf(stderr, tty_ ? "\r\033[K%s" : "%s\n", line);
  std::fflush(stderr);
  drawn_ = true;
}

void StatusLine::finish() {
  if (drawn_ && tty_) std::fputc('\n', stderr);
  drawn_ = false;
}

}  // namespace poolbench::cli
