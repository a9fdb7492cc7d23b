// What a process has used of the machine, as the kernel counts it: CPU time (user, system),
// context switches (voluntary: it blocked; involuntary: it was preempted), threads, and the
// CPUs it may run on (its affinity). The server reports its own in /stats and /metrics; the
// sweep reads the server process it started (/proc/PID) and its own, to put CPU utilisation,
// CPU per request and context switches per request next to every measurement.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace poolbench {

struct ProcessUsage {
  double cpu_s = 0;         // user + system, from the process CPU clock (nanoseconds)
  double cpu_user_s = 0;    // the split, as the kernel accounts it (getrusage, or clock ticks
  double cpu_system_s = 0;  // in /proc/PID/stat)
  std::uint64_t voluntary_switches = 0;
  std::uint64_t involuntary_switches = 0;
  int threads = 0;
  std::vector<int> cpus;  // the CPUs it may run on, ascending
};

// This process: its CPU clock and getrusage (every thread, live or gone).
ProcessUsage own_usage();
// Another process: its CPU clock (clock_getcpuclockid: every thread, nanoseconds), the
// user/system split from /proc/PID/stat (clock ticks, usually 10 ms), context switches summed
// over its live threads. Nullopt if it is gone or unreadable.
std::optional<ProcessUsage> usage_of(pid_t pid);

// The CPUs a process (0: this thread) may run on. Throws std::system_error.
std::vector<int> allowed_cpus(pid_t pid = 0);
// Pins the calling thread (and the threads it creates from now on) to `cpus`.
// Throws std::system_error (e.g. a CPU that is offline or outside the cgroup's set).
void pin_this_thread(const std::vector<int>& cpus);

// "0-3,6" <-> {0, 1, 2, 3, 6}, the notation of taskset -c and /proc/PID/status. Parsing throws
// std::invalid_argument naming the bad text; the result is sorted, without duplicates.
std::vector<int> parse_cpu_list(std::string_view text);
std::string format_cpu_list(const std::vector<int>& cpus);

}  // namespace poolbench
