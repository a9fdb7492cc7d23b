// A blocking TCP socket descriptor, closed on every path: what the one-off control connections
// use (the admin client's HTTP requests, the probe that waits for a server to accept, finding a
// free port). The load itself runs on Asio (connection.hpp).
#pragma once

#include <cstdint>
#include <string>
#include <utility>

namespace poolbench {

class TcpSocket {
 public:
  TcpSocket() = default;
  TcpSocket(TcpSocket&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  TcpSocket& operator=(TcpSocket&& other) noexcept;
  TcpSocket(const TcpSocket&) = delete;
  TcpSocket& operator=(const TcpSocket&) = delete;
  ~TcpSocket();

  int fd() const { return fd_; }
  bool is_open() const { return fd_ >= 0; }

  // Connects to the first address of `host` that accepts. Throws std::runtime_error
  // ("cannot resolve HOST: why") when the name does not resolve; when nothing accepts, returns
  // a socket that is not open and says why in `why` (errno's text of the last attempt).
  static TcpSocket connect_to(const std::string& host, std::uint16_t port, std::string& why);

  // A socket bound to 127.0.0.1 on a port the kernel chose, and that port. Throws
  // std::system_error.
  static std::pair<TcpSocket, std::uint16_t> bound_to_free_loopback_port();

 private:
  explicit TcpSocket(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace poolbench
