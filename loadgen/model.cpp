#include "model.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <vector>

namespace poolbench {
namespace {

using json = nlohmann::json;

bool is_inline(std::string_view mode) {
  return mode == "inline";
}

// Exact MVA of a closed network of one load-dependent station (rate(j) completions per second
// with j requests at it) and a delay station of `think_s`, holding `customers` requests. Keeps
// the station's queue-length distribution p(j) for n - 1 customers to get the response time with
// n (the arrival theorem). O(customers^2).
template <class Rate>
double load_dependent_mva(int customers, double think_s, const Rate& rate) {
  std::vector<double> probability{1.0};
  double throughput = 0;
  for (int n = 1; n <= customers; ++n) {
    double response = 0;
    for (int j = 1; j <= n; ++j)
      response += j / rate(j) * probability[j - 1];
    throughput = n / (response + think_s);
    std::vector<double> next(static_cast<std::size_t>(n) + 1, 0.0);
    double occupied = 0;
    for (int j = 1; j <= n; ++j) {
      next[j] = throughput / rate(j) * probability[j - 1];
      occupied += next[j];
    }
    next[0] = std::max(0.0, 1 - occupied);
    probability = std::move(next);
  }
  return throughput;
}

int effective_workers(const ServerShape& server) {
  return is_inline(server.mode) ? 1 : std::max(1, server.pool_size);
}

// K as the model sees it: inline work runs on the reactor thread, a GIL allows one CPU.
int effective_cpus(const ServerShape& server) {
  return is_inline(server.mode) || server.serialized_cpu ? 1 : std::max(1, server.cpus);
}

// The costs as the model uses them: c within S_w, both positive or zero.
struct Costs {
  double worker;   // S_w
  double cpu;      // c
  double outside;  // d
};

Costs model_costs(const RequestCosts& costs) {
  const double worker = costs.worker_s();
  return {worker, std::clamp(costs.cpu_s, 0.0, worker), costs.service_s - worker};
}

}  // namespace

double RequestCosts::worker_s() const {
  const double worker = service_s - outside_s;
  return outside_s > 0 && worker > std::max(cpu_s, 0.0) ? worker : service_s;
}

double mva_throughput(double customers, double think_s, const RequestCosts& costs,
                      const ServerShape& server) {
  const Costs c = model_costs(costs);
  const int cpus = effective_cpus(server);
  const int in_flight = static_cast<int>(std::lround(customers));
  const int workers = std::min(effective_workers(server), in_flight);
  if (in_flight < 1 || c.worker <= 0) return 0;
  // The pool with n requests inside: the CPUs (a station serving min(j, K) at a time) and the
  // waiting part (a delay). Its throughput with n = 1..workers inside is the rate of the
  // flow-equivalent server that stands for the pool in the outer network.
  const double wait = c.worker - c.cpu;
  std::vector<double> pool_rate(static_cast<std::size_t>(workers) + 1, 0.0);
  for (int n = 1; n <= workers; ++n) {
    pool_rate[n] =
        c.cpu > 0 ? load_dependent_mva(n, wait, [&](int j) { return std::min(j, cpus) / c.cpu; })
                  : n / wait;
  }
  const double outside = think_s + c.outside;
  if (outside <= 0) return pool_rate[workers];  // every request in flight is in the pool
  return load_dependent_mva(in_flight, outside,
                            [&](int j) { return pool_rate[std::min(j, workers)]; });
}

json model_prediction(const LoadSettings& load, const RequestCosts& costs,
                      const ServerShape& server) {
  if (costs.service_s <= 0) return nullptr;
  const Costs c = model_costs(costs);
  const int workers = effective_workers(server);
  const int cpus = effective_cpus(server);
  const double cpu_bound = c.cpu > 0 ? cpus / c.cpu : INFINITY;
  json prediction = {{"workers", workers},
                     {"cpus", cpus},
                     {"allowed_cpus", server.cpus},
                     {"serialized_cpu", server.serialized_cpu},
                     {"service_time_us", costs.service_s * 1e6},
                     {"worker_time_us", c.worker * 1e6},
                     {"outside_time_us", c.outside * 1e6},
                     {"cpu_time_us", c.cpu * 1e6},
                     {"blocking_time_us", (c.worker - c.cpu) * 1e6},
                     {"service_time_source", costs.source},
                     {"cpu_bound_rps", c.cpu > 0 ? json(cpu_bound) : json(nullptr)},
                     {"knee_pool", nullptr}};
  if (!is_inline(server.mode) && c.cpu > 0) prediction["knee_pool"] = cpus * c.worker / c.cpu;
  if (load.model() == LoadModel::kOpen) {
    const double capacity = std::min(workers / c.worker, cpu_bound);
    prediction["model"] = "open: X = min(rate, min(P/S_w, K/c)); utilization = rate / capacity";
    prediction["throughput_rps"] = std::min(load.rate, capacity);
    prediction["bound"] = workers / c.worker <= cpu_bound ? "concurrency" : "cpu";
    prediction["utilization"] = load.rate / capacity;
    return prediction;
  }
  const double in_flight = static_cast<double>(load.connections) * load.depth;
  const double think = std::chrono::duration<double>(load.think_time).count();
  const double concurrency_bound = std::min(in_flight / (costs.service_s + think),
                                            std::min<double>(workers, in_flight) / c.worker);
  const double mva = mva_throughput(in_flight, think, costs, server);
  prediction["model"] =
      "closed: X <= min(N/(S+Z), min(N,P)/S_w, K/c), knee P* = K*S_w/c; the curve by exact MVA";
  prediction["in_flight"] = in_flight;
  prediction["concurrency_bound_rps"] = concurrency_bound;
  prediction["throughput_rps"] = std::min(concurrency_bound, cpu_bound);
  prediction["bound"] = concurrency_bound <= cpu_bound ? "concurrency" : "cpu";
  prediction["mva_throughput_rps"] = mva;
  prediction["mean_latency_us"] = (in_flight / mva - think) * 1e6;
  return prediction;
}

void add_model_ratios(json& prediction, const json& run) {
  if (prediction.is_null()) return;
  const double throughput = run.value("throughput_rps", 0.0);
  for (const auto& [predicted, ratio] : {std::pair{"throughput_rps", "throughput_ratio"},
                                         std::pair{"mva_throughput_rps", "mva_ratio"}}) {
    if (prediction.value(predicted, 0.0) > 0) {
      prediction[ratio] = throughput / prediction[predicted].get<double>();
    }
  }
  if (prediction.value("mean_latency_us", 0.0) > 0 && run.contains("latency_us")) {
    prediction["mean_latency_ratio"] =
        run["latency_us"].value("mean", 0.0) / prediction["mean_latency_us"].get<double>();
  }
}

json knee_summary(const json& points) {
  struct Measured {
    int pool;
    double throughput;
    const json* prediction;
  };
  std::map<std::string, std::vector<Measured>> by_mode;
  for (const auto& point : points) {
    if (point.value("status", "") != "ok" || !point["result"].is_object()) continue;
    const json& run = point["result"];
    by_mode[point["mode"].get<std::string>()].push_back({point["pool_size"].get<int>(),
                                                         run.value("throughput_rps", 0.0),
                                                         &run["model_prediction"]});
  }
  json summary = json::object();
  for (auto& [mode, measured] : by_mode) {
    std::sort(measured.begin(), measured.end(),
              [](const Measured& a, const Measured& b) { return a.pool < b.pool; });
    const auto best = std::max_element(
        measured.begin(), measured.end(),
        [](const Measured& a, const Measured& b) { return a.throughput < b.throughput; });
    const auto knee = std::find_if(measured.begin(), measured.end(), [&](const Measured& m) {
      return m.throughput >= kKneeFraction * best->throughput;
    });
    json entry = {{"best_throughput_rps", best->throughput},
                  {"best_pool", best->pool},
                  {"measured_knee_pool", knee->pool},
                  {"predicted_knee_pool", nullptr},
                  {"plateau_bound_rps", nullptr}};
    const json& prediction = *measured.front().prediction;
    if (prediction.is_object()) {
      // The plateau: the CPU asymptote in the pool modes, one request at a time inline.
      const json plateau = is_inline(mode) ? json(prediction.value("throughput_rps", 0.0))
                                           : prediction["cpu_bound_rps"];
      entry["plateau_bound_rps"] = plateau;
      if (plateau.is_number()) {
        entry["plateau_ratio"] = best->throughput / plateau.get<double>();
      }
      entry["predicted_knee_pool"] = prediction["knee_pool"];
      if (prediction["knee_pool"].is_number()) {
        const double predicted = prediction["knee_pool"].get<double>();
        entry["knee_ratio"] = knee->pool / predicted;
        // The grid's pool at or just above P*, and how many grid steps the measured knee is away.
        const auto at_or_above =
            std::find_if(measured.begin(), measured.end(),
                         [&](const Measured& m) { return m.pool >= predicted - 1e-9; });
        entry["knee_in_grid"] = at_or_above != measured.end();
        entry["knee_grid_steps"] =
            at_or_above == measured.end()
                ? json(nullptr)
                : json(std::abs(static_cast<long>(knee - measured.begin()) -
                                static_cast<long>(at_or_above - measured.begin())));
      }
    }
    summary[mode] = std::move(entry);
  }
  return summary;
}

}  // namespace poolbench
