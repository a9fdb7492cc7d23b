// Test support: the loadgen binary run for real, with its stdout, stderr and output files in a
// directory of the test's own, removed when the test ends.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "process.hpp"

namespace poolbench::testing {

class LoadgenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = std::filesystem::temp_directory_path() /
           ("poolbench-" + std::string(test->test_suite_name()) + "-" + std::to_string(::getpid()) +
            "-" + test->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Starts loadgen with `args`; its output goes to the files "stdout" and "stderr".
  ChildProcess start(std::vector<std::string> args) {
    args.insert(args.begin(), POOLBENCH_LOADGEN_BIN);
    return ChildProcess::spawn(
        args, {.stdout_path = dir_ / "stdout", .stderr_path = dir_ / "stderr", .cpus = {}});
  }
  // Waits (bounded) for a loadgen started with start() and returns its exit code.
  int finish(ChildProcess& child, std::chrono::milliseconds limit) {
    const auto status = child.wait_for(limit);
    if (!status) {
      ADD_FAILURE() << "loadgen did not finish within " << limit.count() << " ms";
      return exit_code_of(child.stop(std::chrono::seconds(1)));
    }
    return exit_code_of(*status);
  }
  int run(std::vector<std::string> args,
          std::chrono::milliseconds limit = std::chrono::seconds(30)) {
    ChildProcess child = start(std::move(args));
    return finish(child, limit);
  }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  std::string text(const std::string& name) const {
    std::ifstream in(dir_ / name);
    return {std::istreambuf_iterator<char>(in), {}};
  }
  nlohmann::json document(const std::string& name) const {
    std::ifstream in(dir_ / name);
    return nlohmann::json::parse(in);
  }
  std::vector<std::string> files() const {
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(dir_))
      names.push_back(entry.path().filename().string());
    return names;
  }

  std::filesystem::path dir_;
};

}  // namespace poolbench::testing
