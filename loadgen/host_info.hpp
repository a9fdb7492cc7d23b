// The machine a run was measured on, and the wall-clock stamp of its start, for the record.
#pragma once

#include <chrono>
#include <string>

namespace poolbench {

struct HostInfo {
  std::string hostname;
  std::string os;       // uname sysname
  std::string kernel;   // uname release
  std::string machine;  // uname machine
  std::string cpu_model;
  int cores = 0;
};
HostInfo host_info();

// A run's identity: 64 random bits as 16 hex digits ("3f9c0a17d2e4b881"). Two runs (or a run
// and its copy) are told apart by it, whatever their other fields say.
std::string new_run_id();

// "2026-12-01T14:00:32.123Z": ISO 8601, UTC, milliseconds.
std::string iso8601_utc(std::chrono::system_clock::time_point when);

}  // namespace poolbench
