// `loadgen recommend`'s verdict: which pool size to run per mode, from a sweep run with
// --search (sweep.json, poolbench.sweep/2, whose points carry SLO capacities), as a
// poolbench.recommendation/1 document. loadgen/README.md §9 gives the rule and why;
// results/README.md lists the fields.
//
// The rule in short: a pool passes when its point ran, its run is valid, its search found a
// capacity (or the maximum rate met the SLO) and the capacity's lower bound is at least the
// target rate (without one: within kWithinBestFraction of the mode's best). The recommendation
// is the smallest passing pool whose next larger pool also passes, so that a pool just before a
// contention peak is not chosen by accident. Whatever the data cannot support is
// `no_recommendation` with the reason; nothing is guessed. Beside the verdict: Little's law, the
// CPU model's knee (model.hpp) and a USL fit (usl.hpp) as cross-checks, not as the rule.
#pragma once

#include <optional>

#include <nlohmann/json.hpp>

namespace poolbench {

inline constexpr const char* kRecommendationSchema = "poolbench.recommendation/1";
// Without a target rate, a pool passes within this fraction of the mode's best capacity.
inline constexpr double kWithinBestFraction = 0.95;

// The whole document (no file I/O). target_rate: req/s, > 0, or nullopt. Throws
// std::invalid_argument when `sweep` is not a poolbench.sweep/2 document with points.
nlohmann::json recommend(const nlohmann::json& sweep, std::optional<double> target_rate);

}  // namespace poolbench
