// The load engine: threads x connections driving a line-protocol server, measured as
// loadgen/README.md describes. This is the library API behind `loadgen run`; `loadgen sweep`
// calls it once per grid point.
//
//   poolbench::LoadSettings settings;            // settings.hpp; or from the CLI (cli.hpp)
//   settings.target = "127.0.0.1:9090";
//   settings.connections = 16;
//   poolbench::RunResult result = poolbench::run_load(settings, {});   // run_result.hpp
//   nlohmann::json doc = poolbench::to_json(result);   // result.hpp; add your own fields
//   poolbench::write_json_atomically("out.json", doc);
//
// Timeline of one run (all times on the steady Clock; "intended" = intended send time):
//   connect all -> t0: load starts (warm-up) -> window start = t0 + warmup
//   -> window end = window start + duration (or when --requests measured requests exist)
//   -> drain: requests intended inside the window are waited for, up to the timeout, while the
//      load goes on unmeasured (so the last measured requests see the same load) -> stop.
// A request is *measured* iff its intended time falls inside the window; only measured requests
// enter the counts, histograms and derived numbers (the per-interval series excepted).
//
// Threading: run_load() runs on the caller's thread (the coordinator) and starts `threads`
// workers (worker.hpp, whose header numbers the rules). The coordinator merges worker data only
// at interval boundaries, through handlers posted to the workers, and at the end, after join.
#pragma once

#include <atomic>
#include <functional>
#include <stdexcept>

#include "run_result.hpp"
#include "settings.hpp"

namespace poolbench {

struct RunHooks {
  // Called on the coordinator (caller's) thread once per interval, with the interval just ended.
  // For the live status line.
  std::function<void(const IntervalStats&)> on_interval;
  // When it becomes true (e.g. set by a SIGINT handler): stop sending, wait briefly for
  // measured requests in flight, return what was measured (end = kInterrupted).
  const std::atomic<bool>* stop = nullptr;
};

// Nothing accepted the connections (or not all of them) within the connect timeout.
class ConnectError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Runs one load. Throws std::invalid_argument for bad settings and ConnectError when the target
// is unreachable; a server that dies mid-run is not an exception (end = kConnectionsLost).
// Raises RLIMIT_NOFILE as far as the hard limit allows when many connections are asked for.
RunResult run_load(const LoadSettings& settings, const RunHooks& hooks);

}  // namespace poolbench
