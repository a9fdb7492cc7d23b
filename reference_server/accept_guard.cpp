#include "accept_guard.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>

namespace poolbench {

AcceptGuard::AcceptGuard(asio::ip::tcp::acceptor& acceptor, std::string name)
    : acceptor_(acceptor),
      name_(std::move(name)),
      retry_timer_(acceptor.get_executor()),
      reserve_fd_(::open("/dev/null", O_RDONLY | O_CLOEXEC)) {}

AcceptGuard::~AcceptGuard() {
  if (reserve_fd_ >= 0) ::close(reserve_fd_);
}

void AcceptGuard::cancel() {
  retry_timer_.cancel();
}

void AcceptGuard::on_accept_error(std::error_code error, std::function<void()> accept_again,
                                  const std::function<void(int fd)>& refuse) {
  const bool out_of_descriptors = error == asio::error::no_descriptors || error.value() == ENFILE;
  if (out_of_descriptors && reserve_fd_ >= 0) {
    refuse_waiting_connections(refuse);
    // At the limit accept() fails with EMFILE even when nobody waits (Linux takes the
    // descriptor first), so retrying now would spin: wait until someone connects.
    acceptor_.async_wait(asio::socket_base::wait_read,
                         [this, again = std::move(accept_again)](std::error_code e) {
                           if (!e && acceptor_.is_open()) again();
                         });
    return;
  }
  // Out of descriptors (no reserve) or memory: accepting again at once would spin.
  if (out_of_descriptors || error == asio::error::no_buffer_space ||
      error == asio::error::no_memory) {
    if (may_report()) {
      std::fprintf(stderr, "%s: accept failed (%s); retrying in 100 ms\n", name_.c_str(),
                   error.message().c_str());
    }
    retry_timer_.expires_after(std::chrono::milliseconds(100));
    retry_timer_.async_wait([this, again = std::move(accept_again)](std::error_code e) {
      if (!e && acceptor_.is_open()) again();
    });
    return;
  }
  accept_again();  // e.g. the peer reset before we accepted: not our problem
}

void AcceptGuard::refuse_waiting_connections(const std::function<void(int fd)>& refuse) {
  ::close(reserve_fd_);
  for (int fd; (fd = ::accept4(acceptor_.native_handle(), nullptr, nullptr, SOCK_CLOEXEC)) >= 0;) {
    ++refused_;
    refuse(fd);
  }
  reserve_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (may_report()) {  // a flood must not flood stderr
    std::fprintf(stderr,
                 "%s: out of file descriptors: refusing new connections (%llu refused so far)\n",
                 name_.c_str(), static_cast<unsigned long long>(refused_));
  }
}

bool AcceptGuard::may_report() {
  const auto now = std::chrono::steady_clock::now();
  if (now - last_report_ < std::chrono::seconds(1)) return false;
  last_report_ = now;
  return true;
}

void AcceptGuard::refuse_with(int fd, std::string_view message) {
  [[maybe_unused]] const ssize_t sent =
      ::send(fd, message.data(), message.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  std::array<char, 4096> discard;
  while (::recv(fd, discard.data(), discard.size(), MSG_DONTWAIT) > 0) {
  }
  ::close(fd);
}

}  // namespace poolbench
