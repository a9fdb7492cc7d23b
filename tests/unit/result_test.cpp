// Run documents: every field documented in results/README.md is present with its type and
// every field present is documented; atomic writes; the numbers finalize() derives.
#include "result.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "documented_schema.hpp"
#include "histogram.hpp"
#include "run_result.hpp"
#include "sample_run.hpp"

namespace poolbench {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;
using testing::documented_fields;
using testing::has_type;
using testing::histogram_of;
using testing::sample_result;

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

}  // namespace
}  // namespace poolbench
