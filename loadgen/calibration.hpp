// The calibration that comes before a sweep's grid: what one request of the sweep's work
// costs, measured, so that the model predicts with measured costs (model.hpp; loadgen/README.md
// §7).
//
// S, its time: one connection against one worker (inline if only inline is swept), the
// median response time for work of fixed cost (a few scheduling outliers on a shared machine
// would inflate a mean), the mean when the cost varies. S includes the sleep's timer slack and
// the loopback round trip.
//
// d, the part of S outside the pool: a request with no work, alone (a third short run), its
// median response time: the loopback round trip and the server's hand-offs. A worker holds a
// request for S_w = S - d.
//
// c, the server's CPU time per request as it is when the CPUs are the bottleneck (that is where
// K/c bounds the throughput): the work's spin parts, which cost exactly their duration of CPU
// by construction, plus the server's own CPU per request measured in a second short run with
// no work and the CPU saturated (between 8 and 64 of the sweep's connections, one request in
// flight on each, against a pool as large, so that each request pays its hand-offs to a worker).
// Not the CPU per request of the one-connection run: a server that idles between requests pays
// for waking up every time (on the 2-core VM, sleep:10ms: 0.19 ms per request alone against
// 0.04 ms at 3,000 requests/s). That figure is kept (cpu_time_alone_us) and is c when the
// second run cannot be made: a --running server, or a server command without {work} (and then
// d is 0: S_w = S).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "model.hpp"
#include "point_runner.hpp"
#include "sweep.hpp"

namespace poolbench {

// sweep.json's "calibration" object (results/README.md). Its status is "ok", "failed" (no
// request completed alone, or the server's CPU time was unreadable) or "interrupted".
nlohmann::json calibrate(const PointRunner& runner, const SweepSettings& settings);

// The costs the model predicts with: the calibration's when it is ok, else the work spec's
// nominal ones (S its mean, c its spin parts).
RequestCosts request_costs(const std::string& work, const nlohmann::json& calibration);

}  // namespace poolbench
