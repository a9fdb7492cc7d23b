#include "usage_recorder.hpp"

#include <algorithm>

namespace poolbench {
namespace {

using json = nlohmann::json;

json usage_delta(const ProcessUsage& first, const ProcessUsage& last, double span_s,
                 std::uint64_t requests) {
  const double cpu = last.cpu_s - first.cpu_s;
  const auto voluntary = last.voluntary_switches - first.voluntary_switches;
  const auto involuntary = last.involuntary_switches - first.involuntary_switches;
  const double cpus = static_cast<double>(std::max<std::size_t>(1, last.cpus.size()));
  const auto per_request = [requests](double value) -> json {
    return requests > 0 ? json(value / static_cast<double>(requests)) : json(nullptr);
  };
  return {
      {"cpus", last.cpus},
      {"cpu_s", cpu},
      {"cpu_user_s", last.cpu_user_s - first.cpu_user_s},
      {"cpu_system_s", last.cpu_system_s - first.cpu_system_s},
      {"utilization", span_s > 0 ? cpu / span_s / cpus : 0.0},
      {"cpu_us_per_request", per_request(cpu * 1e6)},
      {"voluntary_context_switches", voluntary},
      {"involuntary_context_switches", involuntary},
      {"context_switches_per_request", per_request(static_cast<double>(voluntary + involuntary))},
      {"threads", last.threads}};
}

}  // namespace

UsageRecorder::UsageRecorder(Source server, std::vector<NamedSource> others)
    : server_(std::move(server)), others_(std::move(others)) {}

UsageRecorder::Sample UsageRecorder::sample_at(double at_s) const {
  Sample sample{at_s, server_ ? server_() : std::nullopt, own_usage(), {}};
  for (const auto& [name, source] : others_)
    sample.others.push_back(source());
  return sample;
}

void UsageRecorder::start() {
  samples_.push_back(sample_at(0.0));
}

void UsageRecorder::on_interval(const IntervalStats& interval) {
  intervals_.push_back(interval);
  samples_.push_back(sample_at(interval.start_s + interval.length_s));
}

json UsageRecorder::finish() const {
  if (intervals_.empty()) return nullptr;
  std::size_t first = intervals_.size();
  std::size_t last = 0;
  for (std::size_t i = 0; i < intervals_.size(); ++i) {
    if (intervals_[i].phase == Phase::kMeasure) {
      first = std::min(first, i);
      last = i;
    }
  }
  if (first == intervals_.size()) {  // no interval started inside the window
    first = intervals_.size() > 1 ? 1 : 0;
    last = intervals_.size() - 1;
  }
  std::uint64_t requests = 0;
  for (std::size_t i = first; i <= last; ++i)
    requests += intervals_[i].completed;
  const Sample& from = samples_[first];
  const Sample& to = samples_[last + 1];
  const double span = to.at_s - from.at_s;
  json server = nullptr;
  if (from.server && to.server) server = usage_delta(*from.server, *to.server, span, requests);
  json others = json::object();
  for (std::size_t i = 0; i < others_.size(); ++i) {
    const auto& first = from.others[i];
    const auto& last = to.others[i];
    others[others_[i].first] =
        first && last ? usage_delta(*first, *last, span, requests) : json(nullptr);
  }
  json resources = {{"span_s", span},
                    {"requests", requests},
                    {"server", std::move(server)},
                    {"generator", usage_delta(from.generator, to.generator, span, requests)}};
  if (!others_.empty()) resources["processes"] = std::move(others);
  return resources;
}

}  // namespace poolbench
