// `loadgen merge`: percentiles come from the merged histograms (never averaged), loads add for
// concurrent generators, and refusals name the input and the field.
#include "result_merge.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "histogram.hpp"
#include "merge_checks.hpp"
#include "result.hpp"
#include "run_result.hpp"
#include "sample_run.hpp"

namespace poolbench {
namespace {

using json = nlohmann::json;
using testing::histogram_of;
using testing::sample_result;

RunResult run_with(const std::vector<std::int64_t>& latencies, double window_s) {
  static int runs = 0;
  RunResult r = sample_result();
  r.run_id = "00000000000000" + std::to_string(10 + runs++);  // each run its own
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
  // A merged document is a run document: it merges again, with runs it does not hold yet.
  RunResult other = run_with(fast, 1);
  other.run_id = "0000000000000003";
  EXPECT_NO_THROW(merge_runs({merged, to_json(other)}, {"m", "c"}, {}));
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

TEST(MergeChecks, ARunCountsOnceByItsIdOrForOldFilesByItsContent) {
  const json a = to_json(run_with({1000}, 1));
  const json b = to_json(run_with({2000}, 1));
  EXPECT_EQ(repeated_run({a, b}, {"a", "b"}), "");
  const std::string twice = repeated_run({a, b, a}, {"a", "b", "a2"});
  EXPECT_NE(twice.find("a2 holds the same run as a"), std::string::npos) << twice;
  EXPECT_NE(twice.find(a["run_id"].get<std::string>()), std::string::npos) << twice;
  // Inside a merged document: the runs it holds.
  const json ab = merge_runs({a, b}, {"a", "b"}, {});
  EXPECT_EQ(run_identities(ab).size(), 2u);
  EXPECT_NE(repeated_run({ab, b}, {"ab", "b"}), "");
  EXPECT_THROW(merge_runs({ab, b}, {"ab", "b"}, {}), MergeError);
  // No run id (written before them): identical content is the same run, different is not.
  json old_a = a;
  old_a.erase("run_id");
  json old_b = b;
  old_b.erase("run_id");
  EXPECT_NE(repeated_run({old_a, old_a}, {"x", "y"}), "");
  EXPECT_EQ(repeated_run({old_a, old_b}, {"x", "y"}), "");
}

TEST(MergeChecks, EverySettingThatDiffersIsNamedWithBothValues) {
  RunResult base = run_with({1000}, 1);
  const json reference = to_json(base)["config"];
  EXPECT_TRUE(setting_differences(reference, reference, false).empty());
  RunResult other = base;
  other.run_id = "00000000000000ff";  // another run, of another experiment
  other.settings.target = "10.0.0.1:1";
  other.settings.duration = std::chrono::seconds(20);
  other.settings.protocol = Protocol::kRaw;
  other.settings.rate = 100;  // open loop: the model differs too
  const auto differences = setting_differences(reference, to_json(other)["config"], true);
  std::vector<std::string> fields;
  for (const SettingDifference& d : differences)
    fields.push_back(d.field);
  EXPECT_EQ(fields, (std::vector<std::string>{"config.target", "config.duration_s",
                                              "config.protocol", "model"}));
  EXPECT_EQ(differences[0].value, "\"10.0.0.1:1\"");
  EXPECT_EQ(differences[0].reference_value, "\"127.0.0.1:9090\"");
  // Repetitions must also offer the same load.
  EXPECT_EQ(setting_differences(reference, to_json(other)["config"], false).size(), 5u);
  // --force merges them, says so, and the result is not valid.
  const json forced = merge_runs({to_json(base), to_json(other)}, {"a", "b"}, {.force = true});
  EXPECT_EQ(forced["merge"]["forced_differences"].size(), 5u);
  EXPECT_FALSE(forced["valid"].get<bool>());
  const json& reasons = forced["reasons"];
  EXPECT_NE(std::find(reasons.begin(), reasons.end(), "merged_different_settings"), reasons.end());
}

TEST(MergeChecks, AnInvalidInputIsNamedInTheMergedReasons) {
  std::vector<std::int64_t> many(2000, 1000);
  // 2000 requests of 1 ms in 0.25 s on 4 x 2 slots: Little's law holds, the run is valid.
  RunResult good = run_with(many, 0.25);
  RunResult other = run_with(many, 0.25);
  ASSERT_TRUE(good.valid) << json(good.reasons).dump();
  const json a = to_json(good);
  json b = to_json(other);
  EXPECT_TRUE(merge_runs({a, b}, {"a", "b"}, {})["valid"].get<bool>());
  b["valid"] = false;
  b["reasons"] = json::array({"unstable", "little_law"});
  EXPECT_EQ(invalid_input_reasons({a, b}, {"a", "b"}),
            (std::vector<std::string>{"input_invalid:b:unstable", "input_invalid:b:little_law"}));
  const json merged = merge_runs({a, b}, {"a", "b"}, {});
  EXPECT_FALSE(merged["valid"].get<bool>());
  EXPECT_EQ(merged["reasons"],
            json::array({"input_invalid:b:unstable", "input_invalid:b:little_law"}));
}

TEST(Merge, RefusesADocumentThatIsNotARun) {
  const json a = to_json(run_with({1000}, 1));
  json broken = a;
  broken.erase("latency_us");
  EXPECT_THROW(merge_runs({a, broken}, {"a", "broken"}, {}), MergeError);
}

}  // namespace
}  // namespace poolbench
