// The queueing model the sweep puts next to every measurement: what throughput a pool of P
// workers can reach for work whose requests cost S of time, c of it CPU, on K CPUs
// (loadgen/README.md §7 walks through it with the sweep's numbers).
//
// A request alone takes S (one connection, one worker: the calibration measures it). Part of S,
// d, is spent outside the pool (the loopback round trip, the reactor's hand-offs: the response
// time of a request with no work); a worker holds the request for S_w = S - d. Its CPU part c
// (the work's spin parts plus the server's own per-request CPU, also calibrated) needs a CPU;
// the rest of S_w is waiting (a sleep, a database). A closed loop keeps N = connections x depth
// requests in the system; at most min(N, P) of them hold a worker. Two asymptotes bound the
// throughput X:
//   concurrency:  X <= min(N / (S + Z), min(N, P) / S_w)   (every worker busy)
//   CPU:          X <= K / c                               (every CPU busy with request work)
// and they cross at the predicted knee P* = K x S_w / c: a smaller pool leaves CPUs idle, a
// larger one only queues requests for the CPUs (the classic pool-sizing rule
// threads = CPUs x (1 + wait/compute) at full utilisation). Inline mode runs
// everything on the reactor: one worker. A server whose CPU work is serialised by one lock
// (CPython's GIL: the Twisted peer) has K = 1, whatever its CPUs.
//
// Between the asymptotes the bound is not tight (requests contend for the CPUs before they are
// all busy); exact mean-value analysis (MVA) of the closed network gives the curve itself: a
// K-server CPU station and a delay S_w - c inside the pool, the pool a flow-equivalent server
// of at most P requests, and d plus the clients' think time Z outside it.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "settings.hpp"

namespace poolbench {

// What one request costs, in seconds.
struct RequestCosts {
  double service_s = 0;  // S
  double cpu_s = 0;      // c (<= S_w)
  std::string source;    // "calibrated" (measured) or "nominal" (the work spec)
  double outside_s = 0;  // d (< S); 0 when not measured

  // S_w, the time a worker holds a request: S - d (S if d is not below S - c).
  double worker_s() const;
};

struct ServerShape {
  std::string_view mode;        // inline | call-in-thread | defer-to-thread
  int pool_size = 1;            // P
  int cpus = 1;                 // K: the CPUs the server may run on
  bool serialized_cpu = false;  // a GIL: the CPU work runs on one CPU at a time
};

// Throughput of the closed network with `customers` requests in flight (exact MVA), or of an
// open loop; see the header comment. cpu_s may be 0 (pure waiting).
double mva_throughput(double customers, double think_s, const RequestCosts& costs,
                      const ServerShape& server);

// The prediction for one sweep point: bounds, which asymptote binds, MVA, the predicted knee.
// Null when costs.service_s <= 0 (no work to model).
nlohmann::json model_prediction(const LoadSettings& load, const RequestCosts& costs,
                                const ServerShape& server);

// Adds measured / predicted ratios to a point's prediction.
void add_model_ratios(nlohmann::json& prediction, const nlohmann::json& run);

// Per mode of a sweep, from its points (each sweep.json entry with its result and
// model_prediction): the best measured throughput, the measured knee (the smallest pool
// reaching 95% of it), the predicted knee and plateau, and their ratios.
nlohmann::json knee_summary(const nlohmann::json& points);

inline constexpr double kKneeFraction = 0.95;

}  // namespace poolbench
