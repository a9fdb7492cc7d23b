// Test support: a reference_server (or any server with --port-file) started for real on
// --port 0, and a blocking TCP line client with timeouts. The process is stopped when the
// object goes away, so a failing assertion never leaks a server.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "loopback.hpp"
#include "process.hpp"

namespace poolbench::testing {

class ServerProcess {
 public:
  // `launcher` goes before the binary: a command that runs it, e.g. {"prlimit", "--as=N", "--"}.
  explicit ServerProcess(std::vector<std::string> flags,
                         const std::string& binary = POOLBENCH_SERVER_BIN,
                         std::vector<std::string> launcher = {}) {
    static int counter = 0;
    directory_ = std::filesystem::temp_directory_path() /
                 ("poolbench-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::create_directories(directory_);
    std::vector<std::string> argv = std::move(launcher);
    argv.insert(argv.end(), {binary, "--port", "0", "--port-file", (directory_ / "port").string()});
    argv.insert(argv.end(), flags.begin(), flags.end());
    process_.emplace(ChildProcess::spawn(
        argv,
        {.stdout_path = directory_ / "stdout", .stderr_path = directory_ / "stderr", .cpus = {}}));
    port_ = wait_for_port_file(*process_, directory_ / "port", std::chrono::seconds(10));
  }
  // A server stopped by SIGTERM drains and exits 0; anything else (a crash, a sanitizer
  // report: TSan exits 66) fails the test that owned it, with the server's stderr.
  ~ServerProcess() {
    const int status = process_->stop(std::chrono::seconds(5));
    if (exit_code_of(status) != 0 && expect_clean_exit_) {
      ADD_FAILURE() << "server " << describe_wait_status(status) << "; its stderr:\n"
                    << stderr_text();
    }
    std::error_code ignored;
    std::filesystem::remove_all(directory_, ignored);
  }

  std::uint16_t port() const { return port_; }
  void expect_unclean_exit() { expect_clean_exit_ = false; }
  ChildProcess& process() { return *process_; }
  std::string stderr_text() const {
    std::ifstream in(directory_ / "stderr");
    return {std::istreambuf_iterator<char>(in), {}};
  }

 private:
  std::filesystem::path directory_;
  std::optional<ChildProcess> process_;
  std::uint16_t port_ = 0;
  bool expect_clean_exit_ = true;
};

class LineClient {
 public:
  explicit LineClient(std::uint16_t port,
                      std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    fd_ = connect_to_loopback(port, timeout);
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  ~LineClient() { close(); }
  LineClient(const LineClient&) = delete;
  LineClient& operator=(const LineClient&) = delete;

  void send(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) throw std::runtime_error("send failed");
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
  }
  void send_line(std::string_view line) { send(std::string(line) + "\r\n"); }

  // The next line without its "\r\n"; throws on timeout or EOF.
  std::string read_line() {
    for (;;) {
      const auto end = buffer_.find("\r\n");
      if (end != std::string::npos) {
        std::string line = buffer_.substr(0, end);
        buffer_.erase(0, end + 2);
        return line;
      }
      if (!fill()) throw std::runtime_error("connection closed or timed out before a full line");
    }
  }
  // True when the peer closed the connection (EOF) with nothing more to read.
  bool at_eof() {
    while (buffer_.empty()) {
      char chunk[4096];
      const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n == 0) return true;
      if (n < 0) return errno == ECONNRESET;
      buffer_.append(chunk, static_cast<std::size_t>(n));
    }
    return false;
  }
  void shutdown_write() { ::shutdown(fd_, SHUT_WR); }
  int fd() const { return fd_; }  // for socket options a test needs (SO_LINGER, SO_SNDTIMEO)
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  bool fill() {
    char chunk[4096];
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buffer_.append(chunk, static_cast<std::size_t>(n));
    return true;
  }

  int fd_ = -1;
  std::string buffer_;
};

}  // namespace poolbench::testing
