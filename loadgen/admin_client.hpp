// The server's view, next to the client's: a client for reference_server's admin endpoint
// (GET /stats, POST /pool?size=N) and a sampler that takes /stats once per loadgen interval.
//
//   AdminSampler sampler(parse_admin_url("http://127.0.0.1:9091"));
//   sampler.sample(0, "start");                       // before the load: the baseline
//   hooks.on_interval = [&](const IntervalStats& s) { sampler.on_interval(s); };
//   RunResult result = run_load(settings, hooks);
//   doc["server_stats"] = sampler.finish(result);      // results/README.md, "Server's view"
//
// The server's stage histograms are cumulative since it started; each sample stores the stage
// percentiles of what completed since the previous sample (histogram differences, decoded from
// the V2 strings), and the summary covers the window: from the end of the warm-up to the end.
//
// Threading: on_interval() is called on the coordinator thread and only queues a request; one
// sampler thread does the HTTP exchanges, so a slow server never delays the load's bookkeeping.
// finish() joins it. sample() is synchronous (before the load; finish() takes the last one).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include <nlohmann/json.hpp>

#include "histogram.hpp"
#include "run_result.hpp"

namespace poolbench {

struct AdminUrl {
  std::string host;  // an IPv4/IPv6 address or a name
  std::uint16_t port = 0;
  std::string text;  // as given, normalised to http://host:port
};
// "http://HOST:PORT", "http://HOST:PORT/" or "HOST:PORT"; throws std::invalid_argument.
AdminUrl parse_admin_url(std::string_view text);

struct HttpReply {
  int status = 0;
  std::string body;
};
// One HTTP/1.1 exchange ("Connection: close"); throws std::runtime_error on a network error or
// when the server does not answer within `timeout`.
HttpReply http_request(const AdminUrl& url, std::string_view method, std::string_view target,
                       std::chrono::milliseconds timeout = std::chrono::seconds(2));

// GET /stats, parsed; throws std::runtime_error unless 200 and JSON.
nlohmann::json fetch_server_stats(const AdminUrl& url);
// POST /pool?size=N; returns the new state; throws std::runtime_error unless 200.
nlohmann::json resize_server_pool(const AdminUrl& url, int size);

// `later` minus `earlier` (same layout: both decoded from the same server's V2 strings).
Histogram histogram_difference(const Histogram& later, const Histogram& earlier);

class AdminSampler {
 public:
  explicit AdminSampler(AdminUrl url);
  ~AdminSampler();
  AdminSampler(const AdminSampler&) = delete;
  AdminSampler& operator=(const AdminSampler&) = delete;

  // Synchronous sample at `t_s` seconds since the load start, labelled with `phase`.
  void sample(double t_s, std::string_view phase);
  // Coordinator thread: queues a sample at the interval's end.
  void on_interval(const IntervalStats& interval);
  // Stops the sampler thread (after the queued samples), then takes the "end" sample at the end
  // of the run's last interval, and returns the "server_stats" object.
  nlohmann::json finish(const RunResult& result);
  // Whether a "server_stats" object from finish() misses samples: some interval of the run then
  // has no server view, and its window summary spans the gap.
  static bool incomplete(const nlohmann::json& server_stats);

 private:
  struct Snapshot {
    double t_s = 0;
    std::string phase;
    nlohmann::json stats;  // the whole /stats document, null if the request failed
    std::string error;     // why it failed
  };
  void take(double t_s, std::string phase);
  void run();
  // The snapshots that succeeded, in time order, and those that failed as {t_s, phase} entries
  // of "missing" (under mutex_).
  std::vector<const Snapshot*> good_snapshots(nlohmann::json& missing) const;
  // The window's counts and stage histograms: from the last warm-up snapshot to the last one.
  static nlohmann::json window_summary(const std::vector<const Snapshot*>& good);

  AdminUrl url_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::pair<double, std::string>> requests_;  // guarded by mutex_
  std::vector<Snapshot> snapshots_;                      // guarded by mutex_
  bool stopping_ = false;                                // guarded by mutex_
  std::thread thread_;
};

}  // namespace poolbench
