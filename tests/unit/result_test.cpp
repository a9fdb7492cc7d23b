// Run documents: every field documented in results/README.md is present with its type and
// every field present is documented; atomic writes; derived numbers; merge (histograms, never
// averaged percentiles) and its refusals.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "documented_schema.hpp"
#include "result.hpp"

namespace poolbench {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;
using testing::documented_fields;
using testing::has_type;

// --- the documented schema -----------------------------------------------------------------

// Checks `doc` at `path` ("a.b", "intervals[].x": every element) against `type`.
void expect_field(const json& doc, const std::string& path, const std::string& type) {
  const auto dot = path.find('.');
  const std::string head = path.substr(0, dot);
  const std::string rest = dot == std::string::npos ? "" : path.substr(dot + 1);
  if (head.size() > 2 && head.substr(head.size() - 2) == "[]") {
    const std::string name = head.substr(0, head.size() - 2);
    ASSERT_TRUE(doc.contains(name) && doc[name].is_array()) << path;
    ASSERT_FALSE(doc[name].empty()) << "the test document needs " << name << " entries";
    for (const json& element : doc[name])
      expect_field(element, rest, type);
    return;
  }
  ASSERT_TRUE(doc.contains(head)) << "missing field " << path;
  if (rest.empty()) {
    EXPECT_TRUE(has_type(doc[head], type))
        << head << " should be " << type << ", is " << doc[head].dump();
  } else {
    expect_field(doc[head], rest, type);
  }
}

Histogram histogram_of(const std::vector<std::int64_t>& values) {
  Histogram h(1, kHistogramHighestUs, 3);
  for (auto v : values)
    h.record(v);
  return h;
}

RunResult sample_result() {
  RunResult r;
  r.settings.target = "127.0.0.1:9090";
  r.settings.connections = 4;
  r.settings.depth = 2;
  r.settings.threads = 2;
  r.settings.argv = {"loadgen", "run", "-c", "4", "-d", "2"};
  r.start_time = "2026-01-01T00:00:00.000Z";
  r.host = host_info();
  std::mt19937_64 rng(5);
  std::uniform_int_distribution<std::int64_t> us(9000, 11000);
  for (int i = 0; i < 1000; ++i) {
    const auto v = us(rng);
    r.response_time.record(v);
    r.service_time.record(v - 50);
    r.schedule_lag.record(i % 7);
  }
  r.scheduled = 1003;
  r.completed = 1000;
  r.errors.add("err:busy", 2, false);
  r.errors.add("unknown_id", 1, true);
  r.timeouts = 1;
  r.window_s = 1.25;
  r.reply_span_s = 1.27;
  r.requests_sent = 1500;
  r.cpu_s = 0.01;
  IntervalStats interval;
  interval.length_s = 1;
  interval.completed = 800;
  interval.throughput_rps = 800;
  r.intervals = {interval, interval};
  r.intervals[1].start_s = 1;
  r.intervals[1].phase = Phase::kMeasure;
  r.first_half = {500, 800, 10000};
  r.second_half = {500, 800, 10001};
  r.finalize();
  return r;
}

TEST(RunJson, EveryDocumentedFieldIsPresentWithItsType) {
  const auto fields = documented_fields("Run document");
  ASSERT_GT(fields.size(), 80u) << "the README table was not found or not parsed";
  const json doc = to_json(sample_result());
  for (const auto& [path, type] : fields)
    expect_field(doc, path, type);
}

TEST(RunJson, EveryFieldPresentIsDocumented) {
  const auto fields = documented_fields("Run document");
  std::map<std::string, json> present;
  testing::collect_fields(
      to_json(sample_result()), "",
      [](const std::string& path) { return path == "errors.by_kind"; }, present);
  for (const auto& [path, value] : present) {
    EXPECT_TRUE(fields.count(path) > 0) << path << " is not in results/README.md";
  }
}

TEST(RunJson, FixedTopLevelNamesAndValues) {
  const RunResult r = sample_result();
  const json doc = to_json(r);
  EXPECT_EQ(doc["schema"], "poolbench.run/1");
  EXPECT_EQ(doc["model"], "closed");
  EXPECT_EQ(doc["config"]["argv"], json(r.settings.argv));
  EXPECT_EQ(doc["errors"]["total"], 3);
  EXPECT_EQ(doc["errors"]["by_kind"]["err:busy"], 2);
  EXPECT_TRUE(doc["accounting_ok"].get<bool>());  // 1000 + 2 + 1 + 0 == 1003
  EXPECT_DOUBLE_EQ(doc["throughput_rps"].get<double>(), 1000 / 1.25);
  EXPECT_EQ(doc["latency_us"]["p99"], r.response_time.value_at_percentile(99));
  EXPECT_EQ(doc["latency_us"]["count"], 1000);
  // The histogram string decodes to the same histogram.
  const Histogram decoded =
      Histogram::decode_v2_base64(doc["latency_us"]["histogram"].get<std::string>());
  EXPECT_EQ(decoded.total_count(), 1000);
  EXPECT_EQ(decoded.value_at_percentile(99.9), r.response_time.value_at_percentile(99.9));
  EXPECT_DOUBLE_EQ(doc["generator"]["cpu_us_per_request"].get<double>(), 0.01 * 1e6 / 1500);
}

TEST(RunJson, AnEmptyHistogramSummarisesAsZeros) {
  const json summary = histogram_summary(Histogram(1, kHistogramHighestUs, 3));
  EXPECT_EQ(summary["count"], 0);
  EXPECT_EQ(summary["min"], 0);
  EXPECT_EQ(summary["max"], 0);
  EXPECT_EQ(summary["p99"], 0);
  EXPECT_EQ(summary["ci95"]["p99"], "insufficient");
}

// --- derived numbers --------------------------------------------------------------------------

TEST(Finalize, ClosedLoopLittleRatioAndReasons) {
  RunResult r;
  r.settings.connections = 10;
  r.settings.depth = 2;
  r.completed = 2000;
  r.scheduled = 2000;
  r.window_s = 1;
  r.response_time = histogram_of(std::vector<std::int64_t>(2000, 10'000));  // 10 ms
  r.finalize();
  // X = 2000/s, R = 10 ms: X * R = 20 = C * D.
  EXPECT_NEAR(r.little_ratio, 1.0, 0.002);
  EXPECT_TRUE(r.valid) << ::testing::PrintToString(r.reasons);
  r.settings.connections = 20;  // half the concurrency it claims: something is off
  r.finalize();
  EXPECT_FALSE(r.valid);
  EXPECT_EQ(r.reasons, std::vector<std::string>{"little_law"});
}

TEST(Finalize, OpenLoopRateAndLagAreJudged) {
  RunResult r;
  r.settings.rate = 1000;
  r.window_s = 2;
  r.scheduled = 2000;
  r.completed = 1500;
  r.reply_span_s = 2;
  r.late_sends = 100;
  r.mean_in_system = 1500 / 2.0 * 0.010;
  r.response_time = histogram_of(std::vector<std::int64_t>(1500, 10'000));
  r.timeouts = 500;
  r.finalize();
  EXPECT_EQ(r.model, LoadModel::kOpen);
  EXPECT_DOUBLE_EQ(r.achieved_rps, 750);
  for (const char* reason : {"rate_not_achieved", "schedule_lag_exceeded", "timeouts"}) {
    EXPECT_NE(std::find(r.reasons.begin(), r.reasons.end(), reason), r.reasons.end()) << reason;
  }
}

TEST(Finalize, FewSamplesAndUnstableHalvesAreFlagged) {
  RunResult r;
  r.settings.connections = 1;
  r.completed = 100;
  r.scheduled = 100;
  r.window_s = 1;
  r.response_time = histogram_of(std::vector<std::int64_t>(100, 10'000));
  r.first_half = {300, 300, 10'000};
  r.second_half = {300, 300, 12'000};
  r.finalize();
  EXPECT_NE(std::find(r.reasons.begin(), r.reasons.end(), "insufficient_samples"), r.reasons.end());
  EXPECT_NE(std::find(r.reasons.begin(), r.reasons.end(), "unstable"), r.reasons.end());
}

TEST(PercentileCi, NeedsSamplesBeyondThePercentile) {
  std::vector<std::int64_t> values;
  for (int i = 1; i <= 298; ++i)
    values.push_back(i);
  EXPECT_FALSE(percentile_ci95(histogram_of(values), 99).sufficient);  // n < 299
  values.push_back(299);
  EXPECT_TRUE(percentile_ci95(histogram_of(values), 99).sufficient);
  EXPECT_FALSE(percentile_ci95(histogram_of(values), 99.9).sufficient);
}

TEST(PercentileCi, BracketsThePercentileOfALargeSample) {
  std::vector<std::int64_t> values;
  for (int i = 1; i <= 100'000; ++i)
    values.push_back(i % 2000 + 1);  // exact below 2048
  const Histogram h = histogram_of(values);
  for (double p : {50.0, 90.0, 99.0, 99.9}) {
    const PercentileInterval ci = percentile_ci95(h, p);
    ASSERT_TRUE(ci.sufficient) << p;
    EXPECT_LE(ci.low, h.value_at_percentile(p)) << p;
    EXPECT_GE(ci.high, h.value_at_percentile(p)) << p;
    EXPECT_LE(ci.high - ci.low, 60) << p;  // about +-1% of the range at n = 10^5
  }
}

// --- atomic writes ------------------------------------------------------------------------

class TempDir : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("poolbench-result-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override {
    fs::permissions(dir_, fs::perms::owner_all, fs::perm_options::add);
    fs::remove_all(dir_);
  }
  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(dir_))
      names.push_back(entry.path().filename());
    return names;
  }
  fs::path dir_;
};

TEST_F(TempDir, WritesAndReplacesAFileWithNothingLeftBehind) {
  const fs::path path = dir_ / "run.json";
  write_json_atomically(path, json{{"a", 1}});
  write_json_atomically(path, json{{"a", 2}});
  std::ifstream in(path);
  EXPECT_EQ(json::parse(in)["a"], 2);
  EXPECT_EQ(entries(), std::vector<std::string>{"run.json"});
}

TEST_F(TempDir, AnUnwritableDirectoryIsAClearErrorAndNoFile) {
  // Root writes where the permission bits forbid it, but not into sysfs (CI runs as root).
  const bool root = ::geteuid() == 0;
  const fs::path directory = root ? fs::path("/sys/kernel") : dir_;
  if (root && !fs::is_directory(directory)) GTEST_SKIP() << "no /sys/kernel to be refused by";
  if (!root) {
    fs::permissions(dir_, fs::perms::owner_read | fs::perms::owner_exec, fs::perm_options::replace);
  }
  const fs::path path = directory / "run.json";
  try {
    write_json_atomically(path, json{{"a", 1}});
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(path.string()), std::string::npos) << what;
    EXPECT_TRUE(what.find("ermission") != std::string::npos ||
                what.find("ead-only") != std::string::npos)
        << what;
  }
  EXPECT_FALSE(fs::exists(path));
  fs::permissions(dir_, fs::perms::owner_all, fs::perm_options::add);
  EXPECT_TRUE(entries().empty());
}

TEST_F(TempDir, AMissingDirectoryIsAClearError) {
  EXPECT_THROW(write_json_atomically(dir_ / "no" / "such" / "run.json", json{}),
               std::runtime_error);
  EXPECT_TRUE(entries().empty());
}

// --- merge -------------------------------------------------------------------------------------

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
