// Test support: a private MariaDB started for real by the project's own scripts/db, in a
// directory of its own (so tests running in parallel never share one), stopped and removed when
// the object goes away. No mock of the database anywhere.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "loadgen/process.hpp"

namespace poolbench::testing {

class Database {
 public:
  // Whether this machine can run one (Debian's mariadb-server, installed by
  // scripts/install-deps); tests skip with this reason when not.
  static bool available() { return std::filesystem::exists("/usr/sbin/mariadbd"); }

  // scripts/db start --rows `rows` [--set NAME=VALUE]...
  explicit Database(std::vector<std::string> settings = {}, int rows = 1000)
      : directory_(
            std::filesystem::temp_directory_path() /
            ("poolbench-db-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++))) {
    std::filesystem::remove_all(directory_);
    std::vector<std::string> start = {"start", "--rows", std::to_string(rows)};
    for (const std::string& setting : settings)
      start.insert(start.end(), {"--set", setting});
    url_ = script(start);
    while (!url_.empty() && (url_.back() == '\n' || url_.back() == '\r'))
      url_.pop_back();
  }
  ~Database() {
    script({"stop"});
    std::error_code ignored;
    std::filesystem::remove_all(directory_, ignored);
  }
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  const std::string& url() const { return url_; }
  nlohmann::json info() const {
    return nlohmann::json::parse(std::ifstream(directory_ / "db.json"));
  }

  // The server gone at once, as a crash would take it (no clean shutdown).
  void kill() { ::kill(info()["pid"].get<pid_t>(), SIGKILL); }
  void start_again() { script({"start"}); }

  // One statement as root through the socket; its output, tab-separated, no column names.
  std::string query(const std::string& statement) const {
    const auto out = directory_ / "query.out";
    auto client = ChildProcess::spawn(
        {"mariadb", "--socket=" + (directory_ / "mysqld.sock").string(), "-uroot", "-N", "-B", "-e",
         statement},
        {.stdout_path = out, .stderr_path = directory_ / "query.err", .cpus = {}});
    const auto status = client.wait_for(std::chrono::seconds(30));
    EXPECT_TRUE(status && exit_code_of(*status) == 0) << statement;
    return read(out);
  }

 private:
  // Runs scripts/db COMMAND --dir <ours> ...; its stdout. A failure fails the test, with stderr.
  std::string script(std::vector<std::string> arguments) const {
    std::vector<std::string> argv = {std::string(POOLBENCH_SOURCE_DIR) + "/scripts/db",
                                     arguments.front(), "--dir", directory_.string()};
    argv.insert(argv.end(), arguments.begin() + 1, arguments.end());
    std::filesystem::create_directories(directory_.parent_path());
    const auto out = directory_.string() + ".out", err = directory_.string() + ".err";
    auto process = ChildProcess::spawn(argv, {.stdout_path = out, .stderr_path = err, .cpus = {}});
    const auto status = process.wait_for(std::chrono::seconds(120));
    EXPECT_TRUE(status && exit_code_of(*status) == 0)
        << "scripts/db " << arguments.front() << " failed:\n"
        << read(err);
    std::string text = read(out);
    std::filesystem::remove(out);
    std::filesystem::remove(err);
    return text;
  }
  static std::string read(const std::filesystem::path& path) {
    std::ifstream in(path);
    return {std::istreambuf_iterator<char>(in), {}};
  }

  static inline int counter_ = 0;
  std::filesystem::path directory_;
  std::string url_;
};

}  // namespace poolbench::testing
