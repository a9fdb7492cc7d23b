#include "process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <utility>

#include "reference_server/clock.hpp"
#include "reference_server/process_usage.hpp"
#include "tcp_socket.hpp"

extern char** environ;

namespace poolbench {

ChildProcess ChildProcess::spawn(const std::vector<std::string>& argv, const Options& options) {
  if (argv.empty()) throw std::invalid_argument("cannot start a process from an empty command");
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const auto& arg : argv)
    args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);

  // A child inherits the affinity of the thread that starts it, from its first instruction
  // (setting it after the start would race with the threads the child creates). So this thread
  // takes the child's CPUs for the moment of the spawn.
  std::vector<int> own_cpus;
  if (!options.cpus.empty()) {
    own_cpus = allowed_cpus(0);
    pin_this_thread(options.cpus);
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  const auto redirect = [&](const std::filesystem::path& path, int fd) {
    if (path.empty()) return;
    posix_spawn_file_actions_addopen(&actions, fd, path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
  };
  redirect(options.stdout_path, STDOUT_FILENO);
  redirect(options.stderr_path, STDERR_FILENO);

  // Its own process group: a Ctrl-C on our terminal reaches us, and we stop the child in order.
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attributes, 0);

  pid_t pid = -1;
  const int error = posix_spawnp(&pid, args[0], &actions, &attributes, args.data(), environ);
  if (!own_cpus.empty()) pin_this_thread(own_cpus);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  if (error != 0) {
    throw std::system_error(error, std::generic_category(), "cannot start '" + argv[0] + "'");
  }
  return ChildProcess(pid);
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)), status_(other.status_), killed_(other.killed_) {}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    if (pid_ > 0 && !status_) stop(std::chrono::seconds(1));
    pid_ = std::exchange(other.pid_, -1);
    status_ = other.status_;
    killed_ = other.killed_;
  }
  return *this;
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && !status_) stop(std::chrono::seconds(1));
}

std::optional<int> ChildProcess::reap(bool block) {
  if (status_ || pid_ <= 0) return status_;
  int status = 0;
  pid_t result;
  do {
    result = ::waitpid(pid_, &status, block ? 0 : WNOHANG);
  } while (result < 0 && errno == EINTR);
  if (result == pid_) status_ = status;
  return status_;
}

bool ChildProcess::running() {
  return pid_ > 0 && !reap(false);
}

void ChildProcess::send_signal(int signal_number) {
  if (running()) ::kill(pid_, signal_number);
}

std::optional<int> ChildProcess::wait_for(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!reap(false)) {
    if (Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return status_;
}

int ChildProcess::wait() {
  return *reap(true);
}

// The group outlives the child when the child is a shell that ran the server as its own child.
// (Its PGID cannot be reused while any member is alive, so signalling it never hits a stranger.)
bool ChildProcess::group_alive() const {
  return pid_ > 0 && ::kill(-pid_, 0) == 0;
}

int ChildProcess::stop(std::chrono::milliseconds grace) {
  if (pid_ <= 0) return status_.value_or(0);
  const auto deadline = Clock::now() + grace;
  if (group_alive()) ::kill(-pid_, SIGTERM);
  std::optional<int> status = wait_for(grace);
  while (status && group_alive() && Clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  if (!status || group_alive()) {
    killed_ = true;
    ::kill(-pid_, SIGKILL);
    if (!status) status = wait();
  }
  return *status;
}

int exit_code_of(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return -1;
}

std::string describe_wait_status(int wait_status) {
  if (WIFEXITED(wait_status)) return "exited with " + std::to_string(WEXITSTATUS(wait_status));
  if (WIFSIGNALED(wait_status)) {
    const char* name = sigabbrev_np(WTERMSIG(wait_status));
    return std::string("killed by SIG") + (name ? name : std::to_string(WTERMSIG(wait_status)));
  }
  return "status " + std::to_string(wait_status);
}

std::uint16_t wait_for_port_file(ChildProcess& child, const std::filesystem::path& port_file,
                                 std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    std::ifstream in(port_file);
    unsigned port = 0;
    if (in >> port && port > 0 && port <= 65535) return static_cast<std::uint16_t>(port);
    if (!child.running()) {
      throw std::runtime_error("server " + describe_wait_status(*child.wait_for({})) +
                               " before it wrote its port to " + port_file.string());
    }
    if (Clock::now() >= deadline) {
      throw std::runtime_error("server did not write its port to " + port_file.string() +
                               " within " + std::to_string(timeout.count()) + " ms");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

namespace {

bool accepts_connections(const std::string& host, std::uint16_t port) {
  std::string why;
  return TcpSocket::connect_to(host, port, why).is_open();
}

}  // namespace

std::uint16_t pick_free_port() {
  return TcpSocket::bound_to_free_loopback_port().second;
}

void wait_until_accepting(ChildProcess& child, const std::string& host, std::uint16_t port,
                          std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!accepts_connections(host, port)) {
    if (!child.running()) {
      throw std::runtime_error("server " + describe_wait_status(*child.wait_for({})) +
                               " before it accepted connections on port " + std::to_string(port));
    }
    if (Clock::now() >= deadline) {
      throw std::runtime_error("server did not accept connections on " + host + ":" +
                               std::to_string(port) + " within " + std::to_string(timeout.count()) +
                               " ms");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

}  // namespace poolbench
