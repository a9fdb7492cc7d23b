#include "recommendation.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include "sweep.hpp"
#include "usl.hpp"

namespace poolbench {
namespace {

using json = nlohmann::json;

constexpr const char* kRuleText =
    "Per mode, pools sorted by size. A pool passes when its point ran (status ok), its run is "
    "valid (result.valid), its search outcome is one of accepted_outcomes and its SLO capacity "
    "lower bound (search.capacity.low_rps) is at least the target rate, or, without a target "
    "rate, at least within_best_fraction of the mode's best lower bound. The recommendation is "
    "the smallest passing pool whose next larger pool in the grid also passes (the largest pool "
    "needs none), so that a pool just before a contention peak is not chosen by accident. A "
    "mode with fewer than min_usable_pool_sizes pool sizes with a usable capacity, or with no "
    "such pool, gets no recommendation. Inline runs the work on the reactor, so its pool size "
    "does not matter: only the grid's smallest pool size is judged, on its capacity alone.";
constexpr int kMinUsablePoolSizes = 2;
const std::vector<std::string> kAcceptedOutcomes{"found", "max_rate_meets_slo"};

std::optional<double> number(const json& object, const char* key) {
  if (!object.is_object()) return std::nullopt;
  const auto it = object.find(key);
  if (it == object.end() || !it->is_number()) return std::nullopt;
  return it->get<double>();
}

json optional_json(const std::optional<double>& value) {
  return value ? json(*value) : json(nullptr);
}

std::string format_rps(double rps) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f req/s", rps);
  return text;
}

std::string format_percent(double fraction) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f%%", 100 * fraction);
  return text;
}

// One sweep point as the rule reads it.
struct PoolPoint {
  int pool = 0;
  const json* entry = nullptr;  // the sweep.json point
  std::string status;
  json valid;  // the run's "valid"; null when there is no run
  std::string outcome;
  std::optional<double> low, high;
  std::string excluded_because;  // empty when the capacity is usable
  bool passes = false;
};

std::string exclusion(const PoolPoint& p) {
  if (p.status != "ok") {
    const json reason = p.entry->value("reason", json());
    return "status " + p.status +
           (reason.is_string() ? " (" + reason.get<std::string>() + ")" : "");
  }
  if (p.valid == false) return "run invalid";
  if (!p.entry->value("search", json()).is_object()) return "no search data";
  if (std::find(kAcceptedOutcomes.begin(), kAcceptedOutcomes.end(), p.outcome) ==
      kAcceptedOutcomes.end()) {
    return "search outcome " + p.outcome;
  }
  if (!p.low) return "no capacity lower bound";
  return "";
}

PoolPoint read_point(const json& entry) {
  PoolPoint p;
  p.entry = &entry;
  p.pool = entry.value("pool_size", 0);
  p.status = entry.value("status", "missing");
  const json& run = entry.value("result", json());
  if (run.is_object()) p.valid = run.value("valid", json());
  const json search = entry.value("search", json());
  if (search.is_object()) {
    p.outcome = search.value("outcome", "missing");
    const json capacity = search.value("capacity", json());
    p.low = number(capacity, "low_rps");
    p.high = number(capacity, "high_rps");
  }
  p.excluded_because = exclusion(p);
  return p;
}

// The modes in config.modes order, then any other mode in the order of the points.
std::vector<std::pair<std::string, std::vector<PoolPoint>>> group_by_mode(const json& sweep) {
  std::vector<std::pair<std::string, std::vector<PoolPoint>>> modes;
  const auto slot = [&modes](const std::string& mode) -> std::vector<PoolPoint>& {
    for (auto& [name, points] : modes) {
      if (name == mode) return points;
    }
    return modes.emplace_back(mode, std::vector<PoolPoint>{}).second;
  };
  const json& config = sweep.value("config", json());
  if (config.is_object() && config.value("modes", json()).is_array()) {
    for (const json& mode : config["modes"])
      slot(mode.get<std::string>());
  }
  for (const json& entry : sweep["points"])
    slot(entry.value("mode", "")).push_back(read_point(entry));
  std::erase_if(modes, [](const auto& mode) { return mode.second.empty(); });
  for (auto& [name, points] : modes) {
    std::sort(points.begin(), points.end(),
              [](const PoolPoint& a, const PoolPoint& b) { return a.pool < b.pool; });
  }
  return modes;
}

// Everything one mode's verdict is made of.
struct ModeVerdict {
  std::string mode;
  std::vector<PoolPoint> points;
  std::optional<double> target;
  std::optional<double> best;         // the best usable lower bound
  std::optional<std::size_t> chosen;  // index into points
  std::vector<std::size_t> skipped;   // passing pools whose next larger failed
  std::string reason;
  std::string short_reason;  // for the summary, when there is no recommendation
};

bool is_inline(const std::string& mode) {
  return mode == "inline";
}

std::string excluded_list(const std::vector<PoolPoint>& points) {
  std::string list;
  for (const PoolPoint& p : points) {
    if (p.excluded_because.empty()) continue;
    list +=
        (list.empty() ? "" : "; ") + ("pool " + std::to_string(p.pool) + ": ") + p.excluded_because;
  }
  return list;
}

std::string threshold_text(const ModeVerdict& v) {
  if (v.target) return format_rps(*v.target);
  return format_percent(kWithinBestFraction) + " of the best " + format_rps(*v.best);
}

void mark_passing(ModeVerdict& v) {
  for (const PoolPoint& p : v.points) {
    if (p.excluded_because.empty()) v.best = std::max(v.best.value_or(0), *p.low);
  }
  if (!v.best) return;
  const double threshold = v.target ? *v.target : kWithinBestFraction * *v.best;
  for (PoolPoint& p : v.points) {
    p.passes = p.excluded_because.empty() && *p.low >= threshold;
  }
}

// Inline: its smallest pool size, on its capacity alone.
void choose_inline(ModeVerdict& v) {
  const PoolPoint& smallest = v.points.front();
  const std::string why = "inline runs the work on the reactor, so its pool size does not matter";
  if (!smallest.excluded_because.empty()) {
    v.short_reason = "pool " + std::to_string(smallest.pool) + " not usable";
    v.reason = why + "; its point (pool " + std::to_string(smallest.pool) +
               ", the grid's smallest) is not usable: " + smallest.excluded_because;
  } else if (!smallest.passes) {
    v.short_reason = "holds " + format_rps(*smallest.low) + " < " + threshold_text(v);
    v.reason =
        why + "; it holds " + format_rps(*smallest.low) + " (lower bound) < " + threshold_text(v);
  } else {
    v.chosen = 0;
    v.reason = why + ": pool " + std::to_string(smallest.pool) + " (the grid's smallest) holds " +
               format_rps(*smallest.low) + " (lower bound) >= " + threshold_text(v);
  }
}

std::string skipped_text(const ModeVerdict& v) {
  std::string text;
  for (const std::size_t i : v.skipped) {
    text += (text.empty() ? "" : "; ") + ("pool " + std::to_string(v.points[i].pool)) +
            " passed but its next larger pool " + std::to_string(v.points[i + 1].pool) +
            " did not, so it was skipped";
  }
  return text;
}

// The pool modes: the smallest passing pool whose next larger one passes too.
void choose_pool(ModeVerdict& v) {
  const auto usable = std::count_if(v.points.begin(), v.points.end(),
                                    [](const PoolPoint& p) { return p.excluded_because.empty(); });
  if (usable < kMinUsablePoolSizes) {
    v.short_reason = std::to_string(usable) + " usable pool size(s)";
    v.reason = "only " + std::to_string(usable) + " pool size(s) with a usable SLO capacity (" +
               std::to_string(kMinUsablePoolSizes) +
               " needed to see the curve): " + excluded_list(v.points);
    return;
  }
  for (std::size_t i = 0; i < v.points.size() && !v.chosen; ++i) {
    if (!v.points[i].passes) continue;
    const bool last = i + 1 == v.points.size();
    if (last || v.points[i + 1].passes) {
      v.chosen = i;
    } else {
      v.skipped.push_back(i);
    }
  }
  const std::string skipped = skipped_text(v);
  if (!v.chosen) {
    v.short_reason = v.skipped.empty() ? "no pool holds " + threshold_text(v)
                                       : "no passing pool is confirmed by its next larger";
    v.reason = v.skipped.empty() ? "no pool holds " + threshold_text(v) + ": the best is " +
                                       format_rps(*v.best) + " (lower bound)"
                                 : skipped + "; no other pool passes";
    return;
  }
  const PoolPoint& chosen = v.points[*v.chosen];
  v.reason = "pool " + std::to_string(chosen.pool) + " holds " + format_rps(*chosen.low) +
             " (lower bound) >= " + threshold_text(v) + "; ";
  v.reason += *v.chosen + 1 < v.points.size()
                  ? "pool " + std::to_string(v.points[*v.chosen + 1].pool) + " also passes"
                  : "it is the grid's largest pool (no larger one to confirm it)";
  if (!skipped.empty()) v.reason += "; " + skipped;
}

ModeVerdict decide(const std::string& mode, std::vector<PoolPoint> points,
                   std::optional<double> target) {
  ModeVerdict v;
  v.mode = mode;
  v.points = std::move(points);
  v.target = target;
  mark_passing(v);
  if (!v.best) {
    v.short_reason = "no usable SLO capacity";
    v.reason = "no point has a usable SLO capacity: " + excluded_list(v.points);
    return v;
  }
  is_inline(mode) ? choose_inline(v) : choose_pool(v);
  const std::string excluded = excluded_list(v.points);
  if (v.chosen && !excluded.empty()) v.reason += " (not usable: " + excluded + ")";
  return v;
}

// The measured throughput a USL fit takes: the search's best achieved, else the run's.
std::optional<double> measured_throughput(const PoolPoint& p) {
  const auto achieved = number(p.entry->value("search", json()), "best_achieved_rps");
  return achieved ? achieved : number(p.entry->value("result", json()), "throughput_rps");
}

json curve_json(const std::vector<PoolPoint>& points) {
  json curve = json::array();
  for (const PoolPoint& p : points) {
    curve.push_back({{"pool", p.pool},
                     {"status", p.status},
                     {"valid", p.valid},
                     {"outcome", p.outcome.empty() ? json(nullptr) : json(p.outcome)},
                     {"capacity_low_rps", optional_json(p.low)},
                     {"capacity_high_rps", optional_json(p.high)},
                     {"throughput_rps", optional_json(measured_throughput(p))},
                     {"passes", p.passes},
                     {"excluded_because",
                      p.excluded_because.empty() ? json(nullptr) : json(p.excluded_because)}});
  }
  return curve;
}

json usl_json(const ModeVerdict& v) {
  if (is_inline(v.mode)) {
    return {{"fitted", false}, {"reason", "inline: the pool size does not change the server"}};
  }
  std::vector<UslPoint> points;
  for (const PoolPoint& p : v.points) {
    const auto throughput = measured_throughput(p);
    if (p.status == "ok" && p.valid != false && throughput && *throughput > 0) {
      points.push_back({static_cast<double>(p.pool), *throughput});
    }
  }
  const UslFit fit = fit_usl(points);
  if (!fit.fitted) return {{"fitted", false}, {"reason", fit.reason}};
  json residuals = json::array();
  for (std::size_t i = 0; i < points.size(); ++i) {
    residuals.push_back({{"pool", std::lround(points[i].pool)},
                         {"measured", points[i].throughput},
                         {"fitted", fit.fitted_throughput[i]}});
  }
  return {{"fitted", true},
          {"lambda", fit.parameters.lambda},
          {"alpha", fit.parameters.alpha},
          {"beta", fit.parameters.beta},
          {"peak_pool", optional_json(fit.peak_pool)},
          {"residuals", residuals},
          {"r2", optional_json(fit.r2)}};
}

json littles_law_json(const ModeVerdict& v, const json& calibration) {
  const auto service_us = number(calibration, "service_time_us");
  std::optional<double> rate = v.target;
  if (!rate && v.chosen) rate = v.points[*v.chosen].low;
  if (!service_us || !rate) return nullptr;
  return {{"rate_rps", *rate},
          {"service_time_s", *service_us / 1e6},
          {"concurrency", *rate * *service_us / 1e6}};
}

// K: the model's cpus, else the number of the server's allowed CPUs.
json server_cpus(const json& run) {
  const json model = run.value("model_prediction", json());
  if (model.is_object() && model.value("cpus", json()).is_number()) return model["cpus"];
  const json resources = run.value("resources", json());
  const json server = resources.is_object() ? resources.value("server", json()) : json();
  const json cpus = server.is_object() ? server.value("cpus", json()) : json();
  if (cpus.is_array()) return cpus.size();
  return cpus.is_number() ? cpus : json(nullptr);
}

json cpu_knee_json(const ModeVerdict& v, const json& calibration) {
  for (const PoolPoint& p : v.points) {
    const json run = p.entry->value("result", json());
    const auto knee = number(run.value("model_prediction", json()), "knee_pool");
    if (!knee) continue;
    const auto cpu_us = number(calibration, "cpu_time_us");
    return {{"predicted_pool", *knee},
            {"cpu_time_s", cpu_us ? json(*cpu_us / 1e6) : json(nullptr)},
            {"cpus", server_cpus(run)}};
  }
  return nullptr;
}

json next_larger_json(const ModeVerdict& v) {
  if (!v.chosen || *v.chosen + 1 >= v.points.size()) return nullptr;
  const PoolPoint& next = v.points[*v.chosen + 1];
  return {
      {"pool", next.pool}, {"passes", next.passes}, {"capacity_low_rps", optional_json(next.low)}};
}

json mode_json(const ModeVerdict& v, const json& calibration) {
  json out = {{"verdict", v.chosen ? "recommended" : "no_recommendation"},
              {"recommended_pool", nullptr},
              {"reason", v.reason},
              {"capacity_low_rps", nullptr},
              {"capacity_high_rps", nullptr},
              {"headroom", nullptr},
              {"best_capacity_low_rps", optional_json(v.best)},
              {"skipped_pools", json::array()},
              {"next_larger", next_larger_json(v)},
              {"curve", curve_json(v.points)},
              {"littles_law", littles_law_json(v, calibration)},
              {"cpu_knee", cpu_knee_json(v, calibration)},
              {"usl", usl_json(v)}};
  for (const std::size_t i : v.skipped)
    out["skipped_pools"].push_back(v.points[i].pool);
  if (v.chosen) {
    const PoolPoint& chosen = v.points[*v.chosen];
    out["recommended_pool"] = chosen.pool;
    out["capacity_low_rps"] = *chosen.low;
    out["capacity_high_rps"] = optional_json(chosen.high);
    out["headroom"] = *chosen.low / v.target.value_or(*v.best) - 1;
  }
  return out;
}

std::string summary_clause(const ModeVerdict& v, const std::string& slo) {
  if (!v.chosen) return v.mode + ": no recommendation (" + v.short_reason + ")";
  const PoolPoint& chosen = v.points[*v.chosen];
  const std::string pool =
      is_inline(v.mode) ? "any pool size (the reactor runs the work)"
                        : std::to_string(chosen.pool) + (chosen.pool == 1 ? " thread" : " threads");
  if (v.target) {
    return v.mode + ": " + pool + " (" + slo + " at " + format_rps(*v.target) + ", " +
           format_percent(*chosen.low / *v.target - 1) + " headroom)";
  }
  return v.mode + ": " + pool + " (" + slo + " up to " + format_rps(*chosen.low) + ", " +
         format_percent(1 - *chosen.low / *v.best) + " below the best)";
}

void check_sweep(const json& sweep) {
  if (!sweep.is_object() || sweep.value("schema", json()) != kSweepSchema) {
    throw std::invalid_argument(std::string("not a ") + kSweepSchema +
                                " document (schema field); give the sweep.json of loadgen sweep");
  }
  if (!sweep.value("points", json()).is_array()) {
    throw std::invalid_argument("the sweep document has no points array");
  }
}

}  // namespace

json recommend(const json& sweep, std::optional<double> target_rate) {
  check_sweep(sweep);
  const json config = sweep.value("config", json());
  const json search = config.is_object() ? config.value("search", json()) : json();
  const json calibration = sweep.value("calibration", json());
  const json slo = search.is_object() ? search.value("slo", json()) : json();
  const std::string slo_text = slo.is_object() ? slo.value("text", "the SLO") : "the SLO";
  json document = {{"schema", kRecommendationSchema},
                   {"sweep", "sweep.json"},
                   {"slo", slo},
                   {"target_rate_rps", optional_json(target_rate)},
                   {"rule",
                    {{"text", kRuleText},
                     {"within_best_fraction", kWithinBestFraction},
                     {"next_larger_must_pass", true},
                     {"accepted_outcomes", kAcceptedOutcomes},
                     {"min_usable_pool_sizes", kMinUsablePoolSizes}}},
                   {"modes", json::object()}};
  std::string summary;
  for (auto& [mode, points] : group_by_mode(sweep)) {
    ModeVerdict verdict = decide(mode, std::move(points), target_rate);
    if (!search.is_object()) {  // a plain sweep: its points have no SLO capacity to judge
      verdict.chosen.reset();
      verdict.skipped.clear();
      verdict.short_reason = "no SLO capacities";
      verdict.reason =
          "a plain sweep (config.search is null): no SLO capacities to recommend from; run "
          "'loadgen sweep --search SLO ...' for them";
    }
    document["modes"][mode] = mode_json(verdict, calibration);
    summary += (summary.empty() ? "" : "; ") + summary_clause(verdict, slo_text);
  }
  document["summary"] = summary.empty() ? "no points" : summary;
  return document;
}

}  // namespace poolbench
