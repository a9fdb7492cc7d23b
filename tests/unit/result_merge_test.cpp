// `loadgen merge`: percentiles come from the merged histograms (never averaged), loads add for
// concurrent generators, and refusals name the input and the field.
#include "result_merge.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "histogram.hpp"
#include "result.hpp"
#include "run_result.hpp"
#include "sample_run.hpp"

namespace poolbench {
namespace {

using json = nlohmann::json;
using testing::histogram_of;
using testing::sample_result;

RunResult run_with(const std::vector<std::int64_t>& latencies, double window_s) {
  RunResult r = sample_result();
  r.response_time = histogram_of(latencies);
  r.service_time = histogram_of(latencies);
  r.schedule_lag = histogram_of({1});
  r.completed = latencies.size();
  r.scheduled = latencies.size();
  r.errors = {};
  r.timeouts = 0;
  r.window_s = window_s;
  r.finalize();
  return r;
}

TEST(Merge, PercentilesComeFromTheMergedHistogramNotFromAveraging) {
  std::vector<std::int64_t> fast(990, 1000);
  std::vector<std::int64_t> slow(990, 1000);
  for (int i = 0; i < 10; ++i) {
    fast.push_back(2000);
    slow.push_back(900'000);
  }
  const json a = to_json(run_with(fast, 1));
  const json b = to_json(run_with(slow, 1));
  const json merged = merge_runs({a, b}, {"a.json", "b.json"}, {});
  std::vector<std::int64_t> all = fast;
  all.insert(all.end(), slow.begin(), slow.end());
  const Histogram union_histogram = histogram_of(all);
  EXPECT_EQ(merged["schema"], kRunSchema);
  EXPECT_EQ(merged["completed"], 2000);
  EXPECT_EQ(merged["latency_us"]["count"], 2000);
  for (const char* key : {"p50", "p99", "p99_9", "max"}) {
    const double p = std::string(key) == "p50"     ? 50
                     : std::string(key) == "p99"   ? 99
                     : std::string(key) == "p99_9" ? 99.9
                                                   : 100;
    EXPECT_EQ(merged["latency_us"][key], union_histogram.value_at_percentile(p)) << key;
  }
  // Averaging the inputs' p99 would give ~ (2 ms + 900 ms) / 2; the union's p99 is 1 ms.
  EXPECT_LT(merged["latency_us"]["p99"].get<std::int64_t>(), 1100);
  EXPECT_EQ(merged["merge"]["kind"], "repeated");
  EXPECT_EQ(merged["merged_from"], json({"a.json", "b.json"}));
  EXPECT_DOUBLE_EQ(merged["throughput_rps"].get<double>(), 2000 / 2.0);  // pooled over 2 s
  EXPECT_EQ(merged["merge"]["p99_spread_us"][0], a["latency_us"]["p99"]);
  EXPECT_EQ(merged["merge"]["p99_spread_us"][1], b["latency_us"]["p99"]);
  // A merged document is a run document: it merges again.
  EXPECT_NO_THROW(merge_runs({merged, a}, {"m", "a"}, {}));
}

TEST(Merge, ConcurrentGeneratorsAddTheirLoads) {
  RunResult one = run_with(std::vector<std::int64_t>(1000, 1000), 1);
  RunResult two = run_with(std::vector<std::int64_t>(1000, 1000), 1);
  two.settings.connections = 8;
  const json merged = merge_runs({to_json(one), to_json(two)}, {"a", "b"}, {.concurrent = true});
  EXPECT_EQ(merged["config"]["connections"], 12);
  EXPECT_DOUBLE_EQ(merged["throughput_rps"].get<double>(), 2000);
  EXPECT_EQ(merged["merge"]["kind"], "concurrent");
}

TEST(Merge, RefusesOtherSchemasAndSaysWhich) {
  const json a = to_json(run_with({1000}, 1));
  json b = a;
  b["schema"] = "poolbench.sweep/1";
  try {
    merge_runs({a, b}, {"a.json", "b.json"}, {});
    FAIL() << "expected a refusal";
  } catch (const MergeError& e) {
    EXPECT_NE(std::string(e.what()).find("b.json"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("poolbench.sweep/1"), std::string::npos) << e.what();
  }
}

TEST(Merge, RefusesIncompatibleSettingsAndNamesTheField) {
  const json a = to_json(run_with({1000}, 1));
  RunResult other = run_with({1000}, 1);
  other.settings.depth = 3;
  try {
    merge_runs({a, to_json(other)}, {"a.json", "c.json"}, {});
    FAIL() << "expected a refusal";
  } catch (const MergeError& e) {
    EXPECT_NE(std::string(e.what()).find("config.depth"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("c.json"), std::string::npos) << e.what();
  }
  RunResult more = run_with({1000}, 1);
  more.settings.connections = 5;
  EXPECT_THROW(merge_runs({a, to_json(more)}, {"a", "b"}, {}), MergeError);  // repetitions
  EXPECT_NO_THROW(merge_runs({a, to_json(more)}, {"a", "b"}, {.concurrent = true}));
}

TEST(Merge, RefusesADocumentThatIsNotARun) {
  const json a = to_json(run_with({1000}, 1));
  json broken = a;
  broken.erase("latency_us");
  EXPECT_THROW(merge_runs({a, broken}, {"a", "broken"}, {}), MergeError);
}

}  // namespace
}  // namespace poolbench
