// AcceptGuard: what an acceptor does when accept() fails, shared by the line server and the
// admin endpoint, so that neither hangs nor spins when the process is out of descriptors.
//
// Out of descriptors (EMFILE/ENFILE), the waiting connections cannot be accepted and the
// listening socket stays readable, so retrying at once spins (100% CPU, a stderr line per try).
// One descriptor is kept in reserve (as libuv does): it is released to accept each waiting
// connection, hand it to `refuse` (which tells the peer why and closes it), then taken back;
// then the acceptor waits until someone connects. Other resource failures (no buffer space, no
// memory) retry after 100 ms. Either case is reported on stderr at most once a second.
//
// Threading: reactor thread only, like the acceptor it guards.
#pragma once

#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <system_error>

namespace poolbench {

class AcceptGuard {
 public:
  // `name` starts its stderr lines ("reference_server", "reference_server admin"). The acceptor,
  // once listening, must be non-blocking: the waiting connections are accepted until EAGAIN.
  AcceptGuard(asio::ip::tcp::acceptor& acceptor, std::string name);
  ~AcceptGuard();
  AcceptGuard(const AcceptGuard&) = delete;
  AcceptGuard& operator=(const AcceptGuard&) = delete;

  // Handles a failed accept: calls `accept_again` when the acceptor should try again (at once for
  // a transient error, later for a resource failure), and `refuse` for each connection accepted
  // with the reserve descriptor. `refuse` must close the descriptor it gets.
  void on_accept_error(std::error_code error, std::function<void()> accept_again,
                       const std::function<void(int fd)>& refuse);
  // Stops a pending retry (the acceptor is closing).
  void cancel();

  // Tells a connection we will not serve why, without blocking, and closes it. What it sent
  // already is read first: closing with unread data would send a RST, which may overtake the
  // refusal.
  static void refuse_with(int fd, std::string_view message);

 private:
  void refuse_waiting_connections(const std::function<void(int fd)>& refuse);
  bool may_report();

  asio::ip::tcp::acceptor& acceptor_;
  std::string name_;
  asio::steady_timer retry_timer_;
  int reserve_fd_ = -1;
  std::uint64_t refused_ = 0;
  std::chrono::steady_clock::time_point last_report_{};
};

}  // namespace poolbench
