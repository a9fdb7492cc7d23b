#include "process_usage.hpp"

#include <sched.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <system_error>

namespace poolbench {
namespace {

// The CPU clock of a process (0: this one), in seconds; nullopt if it is gone.
std::optional<double> process_cpu_seconds(pid_t pid) {
  clockid_t clock = CLOCK_PROCESS_CPUTIME_ID;
  if (pid != 0 && ::clock_getcpuclockid(pid, &clock) != 0) return std::nullopt;
  timespec now{};
  if (::clock_gettime(clock, &now) != 0) return std::nullopt;
  return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) / 1e9;
}

double seconds(const timeval& time) {
  return static_cast<double>(time.tv_sec) + static_cast<double>(time.tv_usec) / 1e6;
}

// The value of a "Name:\tvalue" line of a /proc status file, or nullopt.
std::optional<std::string> status_field(const std::filesystem::path& status,
                                        std::string_view name) {
  std::ifstream file(status);
  std::string line;
  while (std::getline(file, line)) {
    if (line.size() > name.size() && line.compare(0, name.size(), name) == 0 &&
        line[name.size()] == ':') {
      const auto value = line.find_first_not_of(" \t", name.size() + 1);
      return value == std::string::npos ? "" : line.substr(value);
    }
  }
  return std::nullopt;
}

std::uint64_t status_count(const std::filesystem::path& status, std::string_view name) {
  const auto text = status_field(status, name);
  std::uint64_t value = 0;
  if (text) std::from_chars(text->data(), text->data() + text->size(), value);
  return value;
}

// The fields of a /proc/PID/stat file after the command name, keyed by their number in
// proc(5) (3: state, 14: utime, 15: stime, 20: num_threads); empty if unreadable.
std::map<int, std::string> stat_fields(const std::filesystem::path& stat_path) {
  std::ifstream file(stat_path);
  const std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  std::map<int, std::string> fields;
  const auto close = text.rfind(')');  // the command name may hold spaces and parentheses
  if (close == std::string::npos) return fields;
  std::istringstream words(text.substr(close + 2));
  std::string word;
  for (int index = 3; words >> word; ++index)
    fields[index] = word;
  return fields;
}

int thread_count(const std::map<int, std::string>& fields) {
  const auto found = fields.find(20);
  return found == fields.end() ? 0 : std::stoi(found->second);
}

}  // namespace

ProcessUsage own_usage() {
  ProcessUsage usage;
  rusage self{};
  ::getrusage(RUSAGE_SELF, &self);
  usage.cpu_s = process_cpu_seconds(0).value_or(0);
  usage.cpu_user_s = seconds(self.ru_utime);
  usage.cpu_system_s = seconds(self.ru_stime);
  usage.voluntary_switches = static_cast<std::uint64_t>(self.ru_nvcsw);
  usage.involuntary_switches = static_cast<std::uint64_t>(self.ru_nivcsw);
  usage.threads = thread_count(stat_fields("/proc/self/stat"));
  usage.cpus = allowed_cpus(0);
  return usage;
}

std::optional<ProcessUsage> usage_of(pid_t pid) {
  const std::filesystem::path proc = "/proc/" + std::to_string(pid);
  const auto fields = stat_fields(proc / "stat");
  if (fields.size() < 18 || fields.at(3) == "Z") return std::nullopt;  // gone, or not reaped
  static const double ticks_per_second = static_cast<double>(::sysconf(_SC_CLK_TCK));
  ProcessUsage usage;
  usage.cpu_user_s = std::stod(fields.at(14)) / ticks_per_second;
  usage.cpu_system_s = std::stod(fields.at(15)) / ticks_per_second;
  usage.threads = thread_count(fields);
  const auto cpu = process_cpu_seconds(pid);
  if (!cpu) return std::nullopt;
  usage.cpu_s = *cpu;
  std::error_code error;
  for (const auto& task : std::filesystem::directory_iterator(proc / "task", error)) {
    usage.voluntary_switches += status_count(task.path() / "status", "voluntary_ctxt_switches");
    usage.involuntary_switches +=
        status_count(task.path() / "status", "nonvoluntary_ctxt_switches");
  }
  if (const auto cpus = status_field(proc / "status", "Cpus_allowed_list")) {
    usage.cpus = parse_cpu_list(*cpus);
  }
  return usage;
}

std::vector<int> allowed_cpus(pid_t pid) {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(pid, sizeof set, &set) != 0) {
    throw std::system_error(errno, std::generic_category(), "sched_getaffinity");
  }
  std::vector<int> cpus;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
  }
  return cpus;
}

void pin_this_thread(const std::vector<int>& cpus) {
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int cpu : cpus)
    CPU_SET(cpu, &set);
  if (::sched_setaffinity(0, sizeof set, &set) != 0) {
    throw std::system_error(errno, std::generic_category(),
                            "cannot pin to CPUs " + format_cpu_list(cpus));
  }
}

std::vector<int> parse_cpu_list(std::string_view text) {
  const auto reject = [text](const char* why) {
    return std::invalid_argument("bad CPU list '" + std::string(text) + "': " + why +
                                 " (expected e.g. 0, 1-3, 0,2-3)");
  };
  const auto number = [&](std::string_view digits) {
    int value = -1;
    const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (error != std::errc() || end != digits.data() + digits.size() || value < 0 ||
        value >= CPU_SETSIZE) {
      throw reject("not a CPU number");
    }
    return value;
  };
  std::vector<int> cpus;
  std::string_view rest = text;
  while (!rest.empty() || cpus.empty()) {
    const auto comma = rest.find(',');
    const std::string_view range = rest.substr(0, comma);
    const auto dash = range.find('-');
    const int first = number(range.substr(0, dash));
    const int last = dash == std::string_view::npos ? first : number(range.substr(dash + 1));
    if (last < first) throw reject("a range ends before it starts");
    for (int cpu = first; cpu <= last; ++cpu)
      cpus.push_back(cpu);
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
    if (rest.empty()) throw reject("it ends with a comma");
  }
  std::sort(cpus.begin(), cpus.end());
  cpus.erase(std::unique(cpus.begin(), cpus.end()), cpus.end());
  return cpus;
}

std::string format_cpu_list(const std::vector<int>& cpus) {
  std::string text;
  for (std::size_t i = 0; i < cpus.size();) {
    std::size_t j = i;
    while (j + 1 < cpus.size() && cpus[j + 1] == cpus[j] + 1)
      ++j;
    if (!text.empty()) text += ',';
    text += std::to_string(cpus[i]);
    if (j > i) text += "-" + std::to_string(cpus[j]);
    i = j + 1;
  }
  return text;
}

}  // namespace poolbench
