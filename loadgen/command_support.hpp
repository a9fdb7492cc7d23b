// What every loadgen subcommand's front end shares: exit codes, the stop signals, the live
// status line, output checks.
//
// Threading: install_stop_handlers() sets process-wide signal handlers; StatusLine is used from
// the thread that runs the load's hooks (the coordinator).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "run_result.hpp"

namespace poolbench::cli {

inline constexpr int kExitUsage = 2;
// `loadgen run --fail-on`: the run could not be judged (invalid), or a threshold failed (the
// code k6 users know).
inline constexpr int kExitInvalidMeasurement = 3;
inline constexpr int kExitThresholdFailed = 99;

// SIGINT and SIGTERM set the stop flag (the load ends early and says so); SIGPIPE is ignored.
void install_stop_handlers();
const std::atomic<bool>* stop_flag();
// The shell's code for the stop signal that arrived: 128 + its number (SIGINT if none).
int stopped_exit_code();

// Throws CLI::ValidationError naming `flag` when `path` could not be written at the end, so the
// run fails before any load.
void check_writable(const std::string& path, const char* flag);

std::string format_ms(std::int64_t us);

// One line per interval on stderr: redrawn in place on a terminal, appended in a log.
class StatusLine {
 public:
  explicit StatusLine(bool quiet);
  ~StatusLine() { finish(); }
  void show(const IntervalStats& s);
  void finish();  // ends a line drawn in place

 private:
  bool quiet_;
  bool tty_;
  bool drawn_ = false;
};

}  // namespace poolbench::cli
