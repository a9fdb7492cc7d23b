// A child process started from an argv, without a shell: the sweep's servers and the
// integration tests' servers. The object owns the PID; the destructor stops and reaps a
// child that is still running, so a failing test or an exception never leaks a process.
// The child leads its own process group, and stop() signals the whole group: a server started
// as `sh -c '...'` is stopped with its shell, not left running.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace poolbench {

class ChildProcess {
 public:
  struct Options {
    std::filesystem::path stdout_path;  // empty: inherit ours
    std::filesystem::path stderr_path;  // empty: inherit ours
    std::vector<int> cpus;              // the CPUs it may run on; empty: ours
  };

  // Throws std::system_error when the program cannot be started (e.g. not found).
  static ChildProcess spawn(const std::vector<std::string>& argv, const Options& options);
  static ChildProcess spawn(const std::vector<std::string>& argv) { return spawn(argv, {}); }

  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess();

  pid_t pid() const { return pid_; }
  bool running();
  void send_signal(int signal_number);

  // The raw wait status (as from waitpid) once the child has exited.
  std::optional<int> wait_for(std::chrono::milliseconds timeout);
  int wait();
  // SIGTERM to its process group, then SIGKILL to the group if the child, or anything else in
  // its group, is still there after `grace`. Returns the child's wait status.
  int stop(std::chrono::milliseconds grace);
  // True once stop() had to send SIGKILL (to the child or to what it started).
  bool was_killed() const { return killed_; }

 private:
  explicit ChildProcess(pid_t pid) : pid_(pid) {}
  std::optional<int> reap(bool block);
  bool group_alive() const;

  pid_t pid_ = -1;
  std::optional<int> status_;
  bool killed_ = false;
};

// Shell convention: the exit code, or 128 + signal number for a child killed by a signal.
int exit_code_of(int wait_status);
// "exited with 0", "killed by SIGKILL".
std::string describe_wait_status(int wait_status);

// Waits until `port_file` holds a port number (servers write it once they listen).
// Throws std::runtime_error if the child exits first or `timeout` passes.
std::uint16_t wait_for_port_file(ChildProcess& child, const std::filesystem::path& port_file,
                                 std::chrono::milliseconds timeout);

// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then released), for
// servers that must be told their port. Throws std::system_error.
std::uint16_t pick_free_port();

// Waits until something accepts TCP connections at host:port. Throws std::runtime_error if the
// child exits first or `timeout` passes.
void wait_until_accepting(ChildProcess& child, const std::string& host, std::uint16_t port,
                          std::chrono::milliseconds timeout);

}  // namespace poolbench
