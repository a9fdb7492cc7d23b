#include "host_info.hpp"

#include <sys/utsname.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <random>
#include <thread>

namespace poolbench {

HostInfo host_info() {
  HostInfo host;
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) == 0) host.hostname = name;
  struct utsname uts {};
  if (uname(&uts) == 0) {
    host.os = uts.sysname;
    host.kernel = uts.release;
    host.machine = uts.machine;
  }
  host.cores = static_cast<int>(std::thread::hardware_concurrency());
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos)
        host.cpu_model = line.substr(line.find_first_not_of(' ', colon + 1));
      break;
    }
  }
  return host;
}

std::string new_run_id() {
  std::random_device entropy;
  const std::uint64_t bits = (static_cast<std::uint64_t>(entropy()) << 32) ^ entropy();
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(bits));
  return text;
}

std::string iso8601_utc(std::chrono::system_clock::time_point when) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(when);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &utc);
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(when.time_since_epoch()).count() % 1000;
  char result[40];
  std::snprintf(result, sizeof result, "%s.%03dZ", text, static_cast<int>(ms));
  return result;
}

}  // namespace poolbench
