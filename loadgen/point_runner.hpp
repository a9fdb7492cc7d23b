// One point of a sweep, run: start the server (or resize a running one), run the load while
// recording what the server and this generator use, stop the server. Used by the sweep for its
// grid and its calibration runs.
//
// Threading: every call runs on the sweep's thread; the load runs as run_load does.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "admin_client.hpp"
#include "sweep.hpp"
#include "usage_recorder.hpp"

namespace poolbench {

class PointRunner {
 public:
  PointRunner(const SweepSettings& settings, const std::vector<std::string>& command,
              const std::string& host, const std::optional<AdminUrl>& running,
              const RunHooks& hooks)
      : settings_(settings), command_(command), host_(host), running_(running), hooks_(hooks) {}

  // The point's sweep.json entry: status ok|failed|interrupted, reason, and the run document
  // with its "server" and "resources" records (no model: the caller adds it). `work` replaces
  // the sweep's work spec for this run (a started server's {work}; empty: the sweep's).
  nlohmann::json run(const SweepPoint& point, const LoadSettings& load,
                     const std::string& work = {}) const;
  // With SweepSettings::search: instead of one run, the point's SLO capacity search starting at
  // `start_rate`. The entry's "search" holds the whole search document and "result" the run at
  // the highest passing rate (null if none passed).
  void enable_search(const SearchHooks& hooks) { search_hooks_ = &hooks; }
  void set_start_rate(double rate) { start_rate_ = rate; }

  // Whether run() can give the server another work spec: it starts the servers and their
  // command takes {work}.
  bool can_change_work() const;

 private:
  nlohmann::json run_started(const SweepPoint& point, LoadSettings load,
                             const std::string& work) const;
  nlohmann::json run_resized(const SweepPoint& point, const LoadSettings& load) const;
  nlohmann::json measure(nlohmann::json& entry, const LoadSettings& load,
                         const std::optional<AdminUrl>& admin,
                         UsageRecorder::Source server_usage) const;
  nlohmann::json measure_once(nlohmann::json& entry, const LoadSettings& load,
                              const std::optional<AdminUrl>& admin,
                              const UsageRecorder::Source& server_usage,
                              RunResult* result = nullptr) const;
  nlohmann::json search(nlohmann::json& entry, const LoadSettings& load,
                        const std::optional<AdminUrl>& admin,
                        const UsageRecorder::Source& server_usage) const;

  const SweepSettings& settings_;
  const std::vector<std::string>& command_;
  const std::string& host_;
  const std::optional<AdminUrl>& running_;
  const RunHooks& hooks_;
  const SearchHooks* search_hooks_ = nullptr;
  double start_rate_ = 0;
};

}  // namespace poolbench
