// `loadgen recommend` run for real on sweep documents written here (a --search sweep as
// results/README.md documents it): its exit codes, its output file, and that every field it writes
// is in results/README.md.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "documented_schema.hpp"
#include "loadgen_process.hpp"

namespace poolbench {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

// call-in-thread at pools 1..16 with these SLO capacities (lower bounds), and inline at pool 1.
json search_sweep(const std::map<int, double>& capacities) {
  json points = json::array();
  const auto add = [&points](const std::string& mode, int pool, double low) {
    points.push_back(
        {{"mode", mode},
         {"pool_size", pool},
         {"status", "ok"},
         {"reason", nullptr},
         {"file", mode + "-pool" + std::to_string(pool) + ".json"},
         {"result", {{"valid", true}, {"throughput_rps", low}, {"model_prediction", nullptr}}},
         {"search",
          {{"file", mode + "-pool" + std::to_string(pool) + ".search.json"},
           {"outcome", "found"},
           {"capacity", {{"low_rps", low}, {"high_rps", low * 1.02}}},
           {"best_achieved_rps", low * 1.1},
           {"probes", 8},
           {"wall_s", 80.0}}}});
  };
  add("inline", 1, 95);
  for (const auto& [pool, low] : capacities)
    add("call-in-thread", pool, low);
  return {{"schema", "poolbench.sweep/2"},
          {"config",
           {{"modes", {"inline", "call-in-thread"}},
            {"search",
             {{"slo", {{"text", "p99<=50ms"}, {"percentile", 99.0}, {"limit_us", 50000}}},
              {"criteria", json::object()}}}}},
          {"calibration", {{"service_time_us", 10400.0}, {"cpu_time_us", 2030.0}}},
          {"points", points}};
}

class LoadgenRecommend : public testing::LoadgenTest {
 protected:
  void write_sweep(const json& sweep) { std::ofstream(path("sweep.json")) << sweep.dump(); }
};

TEST_F(LoadgenRecommend, WritesTheRecommendationAndPrintsTheVerdict) {
  write_sweep(search_sweep({{1, 100}, {2, 200}, {4, 400}, {8, 800}, {16, 1400}}));
  EXPECT_EQ(run({"recommend", dir_.string(), "--rate", "600"}), 0) << text("stderr");
  const json doc = document("recommendation.json");
  EXPECT_EQ(doc["schema"], "poolbench.recommendation/1");
  EXPECT_EQ(doc["modes"]["call-in-thread"]["recommended_pool"], 8);
  EXPECT_EQ(doc["modes"]["inline"]["verdict"], "no_recommendation");  // 95 < 600
  EXPECT_NE(text("stdout").find("call-in-thread: 8 threads (p99<=50ms at 600.0 req/s"),
            std::string::npos)
      << text("stdout");
}

TEST_F(LoadgenRecommend, EveryFieldItWritesIsDocumented) {
  write_sweep(search_sweep({{1, 100}, {2, 200}, {4, 400}, {8, 800}, {16, 1400}}));
  ASSERT_EQ(run({"recommend", dir_.string(), "--rate", "600", "--quiet"}), 0) << text("stderr");
  EXPECT_EQ(text("stdout"), "");
  const auto fields = testing::documented_fields("Recommendation");
  ASSERT_GT(fields.size(), 15u) << "the README table was not found or not parsed";
  // Objects documented as a whole in one row are not descended into.
  const auto whole = [](const std::string& path) {
    for (const char* suffix : {".curve", ".next_larger", ".littles_law", ".cpu_knee", ".usl"}) {
      if (path.ends_with(suffix)) return true;
    }
    return path == "slo" || path == "rule";
  };
  std::map<std::string, json> present;
  testing::collect_fields(document("recommendation.json"), "", whole, present);
  for (const auto& [path, value] : present) {
    std::string documented = path;
    for (const std::string mode : {"inline", "call-in-thread"}) {
      if (path.starts_with("modes." + mode + ".")) {
        documented = "modes.<mode>" + path.substr(6 + mode.size());
      }
    }
    if (path == "modes" || (path.starts_with("modes.") && value.is_object() && !whole(path))) {
      continue;  // the map of modes and each mode's object: documented by their fields
    }
    EXPECT_TRUE(fields.count(documented) > 0) << path << " is not in results/README.md";
  }
  for (const auto& [documented, type] : fields) {
    std::string path = documented;
    if (path.starts_with("modes.<mode>")) path = "modes.call-in-thread" + path.substr(12);
    if (path.ends_with("[]")) path.resize(path.size() - 2);
    EXPECT_TRUE(present.count(path) > 0) << documented << " is documented but not written";
  }
}

TEST_F(LoadgenRecommend, APlainSweepExits3AndStillWritesWhy) {
  json sweep = search_sweep({{1, 100}, {2, 200}, {4, 400}});
  sweep["config"]["search"] = nullptr;
  for (json& point : sweep["points"])
    point.erase("search");
  write_sweep(sweep);
  const std::string out = path("elsewhere.json");
  EXPECT_EQ(run({"recommend", dir_.string(), "--rate", "150", "--json", out}), 3);
  const json doc = document("elsewhere.json");
  EXPECT_EQ(doc["modes"]["call-in-thread"]["verdict"], "no_recommendation");
  EXPECT_NE(doc["modes"]["call-in-thread"]["reason"].get<std::string>().find("plain sweep"),
            std::string::npos);
}

TEST_F(LoadgenRecommend, AMissingOrForeignSweepExits2SayingWhatToGive) {
  EXPECT_EQ(run({"recommend", dir_.string()}), 2);
  EXPECT_NE(text("stderr").find("sweep.json: give the --out directory"), std::string::npos)
      << text("stderr");
  write_sweep({{"schema", "poolbench.run/1"}});
  EXPECT_EQ(run({"recommend", dir_.string()}), 2);
  EXPECT_NE(text("stderr").find("not a poolbench.sweep/2 document"), std::string::npos)
      << text("stderr");
  EXPECT_EQ(run({"recommend", dir_.string(), "--rate", "0"}), 2);
}

TEST_F(LoadgenRecommend, AnUnwritableOutputExits1) {
  write_sweep(search_sweep({{1, 100}, {2, 200}, {4, 400}}));
  EXPECT_EQ(run({"recommend", dir_.string(), "--json", path("no/such/dir/r.json")}), 1);
  EXPECT_NE(text("stderr").find("cannot write"), std::string::npos) << text("stderr");
}

}  // namespace
}  // namespace poolbench
