// Test support: a reference_server with its admin endpoint (--admin-port 0), and its /stats
// read as JSON over a plain socket.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "server_process.hpp"

namespace poolbench::testing {

class AdminServerProcess {
 public:
  // `launcher`, if given, runs the server (e.g. prlimit ...), as ServerProcess takes it.
  explicit AdminServerProcess(std::vector<std::string> flags,
                              std::vector<std::string> launcher = {})
      : port_file_(
            std::filesystem::temp_directory_path() /
            ("poolbench-admin-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++))),
        server_(with_admin(std::move(flags), port_file_), POOLBENCH_SERVER_BIN,
                std::move(launcher)) {
    admin_port_ = wait_for_port_file(server_.process(), port_file_, std::chrono::seconds(10));
  }
  ~AdminServerProcess() {
    std::error_code ignored;
    std::filesystem::remove(port_file_, ignored);
  }
  std::uint16_t port() const { return server_.port(); }
  std::uint16_t admin_port() const { return admin_port_; }
  ServerProcess& server() { return server_; }

  // GET /stats, parsed; a failed request fails the test and gives an empty object.
  nlohmann::json stats() const {
    const int fd = connect_to_loopback(admin_port_);
    const std::string request = "GET /stats HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
        static_cast<ssize_t>(request.size())) {
      ::close(fd);
      ADD_FAILURE() << "cannot send GET /stats";
      return nlohmann::json::object();
    }
    std::string response;
    char chunk[16384];
    for (ssize_t n; (n = ::recv(fd, chunk, sizeof chunk, 0)) > 0;)
      response.append(chunk, static_cast<std::size_t>(n));
    ::close(fd);
    const auto body = response.find("\r\n\r\n");
    if (!response.starts_with("HTTP/1.1 200") || body == std::string::npos) {
      ADD_FAILURE() << "GET /stats: " << response;
      return nlohmann::json::object();
    }
    return nlohmann::json::parse(response.substr(body + 4));
  }

 private:
  static std::vector<std::string> with_admin(std::vector<std::string> flags,
                                             const std::filesystem::path& file) {
    flags.insert(flags.end(), {"--admin-port", "0", "--admin-port-file", file.string()});
    return flags;
  }
  static inline int counter_ = 0;
  std::filesystem::path port_file_;
  ServerProcess server_;
  std::uint16_t admin_port_ = 0;
};

}  // namespace poolbench::testing
