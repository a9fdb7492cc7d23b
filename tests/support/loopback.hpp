// Test support: plain blocking sockets on 127.0.0.1, for the test clients and the scripted
// servers the tests write (the programs under test use Asio; the tests talk to them bare).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace poolbench::testing {

// A socket connected to 127.0.0.1:`port`, with `receive_timeout` on its reads (0: none).
// Throws std::runtime_error.
inline int connect_to_loopback(
    std::uint16_t port, std::chrono::milliseconds receive_timeout = std::chrono::seconds(10)) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket() failed");
  if (receive_timeout.count() > 0) {
    timeval tv{static_cast<time_t>(receive_timeout.count() / 1000),
               static_cast<suseconds_t>((receive_timeout.count() % 1000) * 1000)};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot connect to port " + std::to_string(port));
  }
  return fd;
}

// A listening socket on 127.0.0.1, on a port the kernel chose (written to `port`).
// Throws std::runtime_error naming `who`.
inline int listen_on_loopback(std::uint16_t& port, int backlog, const std::string& who) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::listen(fd, backlog) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    if (fd >= 0) ::close(fd);
    throw std::runtime_error(who + ": cannot listen");
  }
  port = ntohs(address.sin_port);
  return fd;
}

}  // namespace poolbench::testing
