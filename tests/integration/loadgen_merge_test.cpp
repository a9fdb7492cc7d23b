// loadgen merge through the real binary, on real runs: a run counts once, runs of different
// experiments are refused unless --force, and an invalid input keeps the merged run invalid.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "loadgen_process.hpp"
#include "server_process.hpp"

namespace poolbench {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;

class LoadgenMerge : public testing::LoadgenTest {
 protected:
  // A short closed-loop run against `port`, written to `name`.
  void measure(std::uint16_t port, const std::string& name, const std::string& duration = "300ms") {
    ASSERT_EQ(run({"run", "-q", "-t", "127.0.0.1:" + std::to_string(port), "-c", "2", "--warmup",
                   "0s", "--duration", duration, "--json", path(name)}),
              0)
        << text("stderr");
  }
  void write(const std::string& name, const json& doc) { std::ofstream(path(name)) << doc.dump(); }
  // loadgen merge FILES... [flags]; the merged document goes to "merged.json".
  int merge(const std::vector<std::string>& files, const std::vector<std::string>& flags = {}) {
    std::vector<std::string> args{"merge", "--json", path("merged.json")};
    for (const std::string& file : files)
      args.push_back(path(file));
    args.insert(args.end(), flags.begin(), flags.end());
    return run(args);
  }
  bool stderr_has(const std::string& what) const {
    return text("stderr").find(what) != std::string::npos;
  }
};

bool has(const json& array, const std::string& value) {
  return std::find(array.begin(), array.end(), value) != array.end();
}

TEST_F(LoadgenMerge, ARunGivenTwiceIsRefused) {
  testing::ServerProcess server({"--work", "none"});
  measure(server.port(), "a.json");
  measure(server.port(), "b.json");
  EXPECT_EQ(merge({"a.json", "b.json"}), 0) << text("stderr");
  const json merged = document("merged.json");
  EXPECT_EQ(merged["merge"]["runs"][0]["run_ids"][0], document("a.json")["run_id"]);

  EXPECT_EQ(merge({"a.json", "b.json", "a.json"}), 2);
  EXPECT_TRUE(stderr_has("same run")) << text("stderr");
  // A copy under another name is the same run; so is a run inside a merged document.
  write("copy.json", document("a.json"));
  EXPECT_EQ(merge({"a.json", "copy.json"}), 2);
  write("ab.json", merged);
  EXPECT_EQ(merge({"ab.json", "b.json"}), 2);
  // Files written before run ids: the same content is the same run.
  json old = document("a.json");
  old.erase("run_id");
  write("old.json", old);
  write("old-copy.json", old);
  EXPECT_EQ(merge({"old.json", "old-copy.json"}), 2);
  EXPECT_TRUE(stderr_has("identical content")) << text("stderr");
}

TEST_F(LoadgenMerge, AnInvalidInputMakesTheMergedRunInvalidAndIsNamed) {
  testing::ServerProcess server({"--work", "none"});
  measure(server.port(), "a.json");
  measure(server.port(), "b.json");
  // The halves of a window cannot be checked again after a merge: an input found unstable
  // must stay so.
  json unstable = document("b.json");
  unstable["valid"] = false;
  unstable["reasons"] = json::array({"unstable"});
  write("unstable.json", unstable);
  EXPECT_EQ(merge({"a.json", "unstable.json"}), 0) << text("stderr");
  const json merged = document("merged.json");
  EXPECT_FALSE(merged["valid"].get<bool>());
  EXPECT_TRUE(has(merged["reasons"], "input_invalid:" + path("unstable.json") + ":unstable"))
      << merged["reasons"].dump();
  EXPECT_EQ(merged["merge"]["runs"][1]["valid"], false);
}

TEST_F(LoadgenMerge, DifferentExperimentsAreRefusedNamingTheSettingUnlessForced) {
  testing::ServerProcess one({"--work", "none"});
  testing::ServerProcess two({"--work", "none"});
  measure(one.port(), "a.json");
  measure(two.port(), "other-target.json");
  measure(one.port(), "longer.json", "400ms");
  const std::string first = "127.0.0.1:" + std::to_string(one.port());
  const std::string second = "127.0.0.1:" + std::to_string(two.port());

  EXPECT_EQ(merge({"a.json", "other-target.json"}), 2);
  EXPECT_TRUE(stderr_has("config.target")) << text("stderr");
  EXPECT_TRUE(stderr_has(first) && stderr_has(second)) << text("stderr");
  EXPECT_EQ(merge({"a.json", "other-target.json"}, {"--concurrent"}), 2);  // one server, too
  EXPECT_EQ(merge({"a.json", "longer.json"}), 2);
  EXPECT_TRUE(stderr_has("config.duration_s")) << text("stderr");

  EXPECT_EQ(merge({"a.json", "other-target.json"}, {"--force"}), 0) << text("stderr");
  const json forced = document("merged.json");
  EXPECT_FALSE(forced["valid"].get<bool>());
  EXPECT_TRUE(has(forced["reasons"], "merged_different_settings")) << forced["reasons"].dump();
  ASSERT_EQ(forced["merge"]["forced_differences"].size(), 1u);
  EXPECT_NE(forced["merge"]["forced_differences"][0].get<std::string>().find("config.target"),
            std::string::npos);

  EXPECT_EQ(run({"merge", "--help"}), 0);
  EXPECT_TRUE(text("stdout").find("--force") != std::string::npos);
  EXPECT_TRUE(text("stdout").find("EXIT STATUS") != std::string::npos);
}

}  // namespace
}  // namespace poolbench
