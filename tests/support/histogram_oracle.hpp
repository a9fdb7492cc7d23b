// Test support: the Java conformance oracle for poolbench_histogram. tests/oracle builds
// HistogramOracle.java over HdrHistogram 2.1.11 (Java, the reference); the histogram tests send
// it commands on stdin and compare its answers with what this side prints, byte for byte.
//
// Use: start an oracle test with REQUIRE_ORACLE() (it skips when java/javac or the jar were not
// found at configure time), build the input (percentiles_command(), one command per dataset),
// then compare run_oracle(input) split by split_answers() with first_difference().
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "histogram.hpp"

namespace poolbench::testing {

#if defined(POOLBENCH_ORACLE_JAVA) && defined(POOLBENCH_ORACLE_CLASSPATH)
constexpr const char* kOracleJava = POOLBENCH_ORACLE_JAVA;
constexpr const char* kOracleClasspath = POOLBENCH_ORACLE_CLASSPATH;
#else
constexpr const char* kOracleJava = "";
constexpr const char* kOracleClasspath = "";
#endif

// Percentiles every histogram answer reports (parsed identically by Java and C++).
inline const std::vector<std::string> kOraclePercentiles = {
    "0",  "0.0001", "1",    "10",   "25",    "33.333", "50",      "66.6667", "75",    "90",
    "95", "99",     "99.5", "99.9", "99.99", "99.999", "99.9999", "100",     "100.5", "-1"};

// Why the oracle cannot run here, or "" when java, the compiled oracle and the jar are present.
inline std::string oracle_unavailable() {
  if (*kOracleJava == '\0') {
    return "Java oracle not configured: java/javac or /usr/share/java/hdrhistogram.jar missing "
           "at configure time (apt-get install openjdk-17-jdk-headless libhdrhistogram-java, "
           "then re-run cmake)";
  }
  const std::string classpath = kOracleClasspath;
  const std::string classes = classpath.substr(0, classpath.find(':'));
  const std::string jar = classpath.substr(classpath.find(':') + 1);
  if (!std::filesystem::exists(kOracleJava) ||
      !std::filesystem::exists(classes + "/HistogramOracle.class") ||
      !std::filesystem::exists(jar)) {
    return std::string("Java oracle unavailable: need ") + kOracleJava + ", " + classes +
           "/HistogramOracle.class (target histogram_oracle) and " + jar;
  }
  return "";
}

// Skips the test unless the oracle can run (a macro: only the test body itself can skip).
#define REQUIRE_ORACLE()                                                                  \
  do {                                                                                    \
    if (const std::string why = ::poolbench::testing::oracle_unavailable(); !why.empty()) \
      GTEST_SKIP() << why;                                                                \
  } while (false)

// Runs the oracle on `input` and returns its stdout; the calling test fails if the oracle does.
inline std::string run_oracle(const std::string& input) {
  const std::filesystem::path dir = ::testing::TempDir();
  static int calls = 0;
  const std::string stem =
      "histogram_oracle_" + std::to_string(getpid()) + "_" + std::to_string(calls++);
  const auto in_path = dir / (stem + ".in");
  const auto out_path = dir / (stem + ".out");
  const auto err_path = dir / (stem + ".err");
  std::ofstream(in_path, std::ios::binary) << input;
  const std::string command = std::string("'") + kOracleJava +
                              "' -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -cp '" +
                              kOracleClasspath + "' HistogramOracle < '" + in_path.string() +
                              "' > '" + out_path.string() + "' 2> '" + err_path.string() + "'";
  const int status = std::system(command.c_str());
  const auto slurp = [](const std::filesystem::path& path) {
    std::ifstream file(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(file), {});
  };
  const std::string output = slurp(out_path);
  const std::string errors = slurp(err_path);
  std::filesystem::remove(in_path);
  std::filesystem::remove(out_path);
  std::filesystem::remove(err_path);
  if (status != 0) {
    ADD_FAILURE() << "oracle failed (status " << status << "): " << command << "\n" << errors;
  }
  return output;
}

// The shortest decimal that reads back as `value` (Java's parseDouble and strtod agree on it).
inline std::string shortest_decimal(double value) {
  char buffer[32];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  return std::string(buffer, result.ptr);
}

// The bits of `value` in hex: how both sides name a double exactly.
inline std::string hex_bits(double value) {
  char buffer[24];
  std::snprintf(buffer, sizeof buffer, "%llx",
                static_cast<unsigned long long>(std::bit_cast<uint64_t>(value)));
  return buffer;
}

// The C++ side of an oracle histogram answer (see HistogramOracle.java).
inline std::string describe(const Histogram& h, double scaling, int ticks) {
  std::ostringstream out;
  out << "v2 " << h.encode_v2_base64() << '\n';
  out << "shape " << h.lowest_discernible() << ' ' << h.highest_trackable() << ' '
      << h.significant_digits() << '\n';
  out << "total " << h.total_count() << '\n';
  out << "min " << h.min() << " max " << h.max() << '\n';
  out << "mean " << hex_bits(h.mean()) << " stddev " << hex_bits(h.stddev()) << '\n';
  out << "pct";
  for (const std::string& p : kOraclePercentiles) {
    out << ' ' << h.value_at_percentile(std::strtod(p.c_str(), nullptr));
  }
  out << '\n';
  std::ostringstream bins;
  int bin_count = 0;
  h.for_each_recorded([&](int64_t value, int64_t count) {
    bins << value << ' ' << count << '\n';
    ++bin_count;
  });
  out << "bins " << bin_count << '\n' << bins.str();
  std::ostringstream hgrm;
  h.write_hgrm(hgrm, scaling, ticks);
  const std::string text = hgrm.str();
  out << "hgrm " << std::count(text.begin(), text.end(), '\n') << '\n' << text << "end\n";
  return out.str();
}

// Splits oracle output into answers (each ends with a line "end").
inline std::vector<std::string> split_answers(const std::string& output) {
  std::vector<std::string> answers;
  std::string current;
  std::istringstream lines(output);
  std::string line;
  while (std::getline(lines, line)) {
    current += line + "\n";
    if (line == "end") answers.push_back(std::exchange(current, {}));
  }
  return answers;
}

// "" when equal, else the first differing line of each.
inline std::string first_difference(const std::string& ours, const std::string& java) {
  if (ours == java) return "";
  std::istringstream a(ours);
  std::istringstream b(java);
  std::string line_a;
  std::string line_b;
  for (int n = 1;; ++n) {
    const bool more_a = static_cast<bool>(std::getline(a, line_a));
    const bool more_b = static_cast<bool>(std::getline(b, line_b));
    if (!more_a && !more_b) return "differ only in the final newline";
    if (!more_a || !more_b || line_a != line_b) {
      return "line " + std::to_string(n) + "\n  ours: " + (more_a ? line_a : "<end>") +
             "\n  java: " + (more_b ? line_b : "<end>");
    }
  }
}

// A histogram the oracle is asked about: its shape, how to print it and what it records.
struct Dataset {
  std::string name;
  int64_t lowest = 1;
  int64_t highest = 3'600'000'000;
  int digits = 3;
  double scaling = 1.0;
  int ticks = 5;
  std::vector<std::pair<int64_t, int64_t>> values;  // (value, count)

  Histogram record() const {
    Histogram h(lowest, highest, digits);
    for (const auto& [value, count] : values)
      h.record_n(value, count);
    return h;
  }
};

// `n` values drawn from `draw(rng)`, each recorded once.
template <typename Draw>
std::vector<std::pair<int64_t, int64_t>> sample(std::mt19937_64& rng, int n, Draw&& draw) {
  std::vector<std::pair<int64_t, int64_t>> values;
  for (int i = 0; i < n; ++i)
    values.emplace_back(draw(rng), 1);
  return values;
}

// The histograms both sides record, encode and print: distributions, edge cases and shapes.
inline std::vector<Dataset> oracle_datasets() {
  std::vector<Dataset> sets;
  constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();
  std::mt19937_64 rng(2024);
  const auto add = [&sets](Dataset d) { sets.push_back(std::move(d)); };
  std::uniform_int_distribution<int64_t> uniform(1, 1'000'000);
  std::exponential_distribution<double> exponential(1.0 / 2000.0);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::lognormal_distribution<double> lognormal(std::log(1e6), 1.0);

  add({.name = "uniform", .values = sample(rng, 50'000, uniform)});
  add({.name = "uniform_in_ms", .scaling = 1000.0, .values = sets.back().values});
  add({.name = "exponential", .values = sample(rng, 50'000, [&](auto& g) {
                                return static_cast<int64_t>(exponential(g));
                              })});
  add({.name = "heavy_tail_pareto", .values = sample(rng, 50'000, [&](auto& g) {
                                      const double x = 50.0 / std::pow(1.0 - unit(g), 1.0 / 1.2);
                                      return static_cast<int64_t>(std::min(x, 3.6e9));
                                    })});
  add({.name = "small_counts",
       .values = {{1, 1}, {2, 1}, {3, 1}, {5, 1}, {1000, 1}, {2047, 1}, {2048, 1}}});
  add({.name = "single_value", .values = {{12345, 1}}});
  add({.name = "above_2048", .values = sample(rng, 20'000, [](auto& g) {
                               return std::uniform_int_distribution<int64_t>(2049, 50'000'000)(g);
                             })});
  add({.name = "empty", .values = {}});
  add({.name = "zeros", .values = {{0, 3}, {1, 1}, {7, 2}, {100'000, 1}}});
  // 2^60 needs all nine LEB128 bytes. It sits in the last bin: with a total above 2^53 any
  // earlier running count reads as 100% and Java's percentile iteration would never end.
  add({.name = "huge_counts",
       .values = {{5, 1},
                  {100, 3'000'000'000},
                  {1'000'000, int64_t{1} << 40},
                  {3'600'000'000, int64_t{1} << 60}}});
  add({.name = "nanoseconds_2_digits",
       .lowest = 1000,
       .highest = 1'000'000'000'000,
       .digits = 2,
       .scaling = 1000.0,
       .values = sample(rng, 30'000, [&](auto& g) { return static_cast<int64_t>(lognormal(g)); })});
  add({.name = "digits_5",
       .highest = 100'000'000,
       .digits = 5,
       .values = sample(rng, 20'000,
                        [&](auto& g) { return static_cast<int64_t>(exponential(g) * 50.0); })});
  add({.name = "digits_0",
       .highest = 1000,
       .digits = 0,
       .values = sample(
           rng, 1000, [](auto& g) { return std::uniform_int_distribution<int64_t>(0, 1000)(g); })});
  add({.name = "full_int64_range",
       .highest = kInt64Max,
       .values = {
           {1, 1}, {1000, 2}, {int64_t{1} << 40, 3}, {int64_t{1} << 62, 4}, {kInt64Max, 5}}});
  add({.name = "ticks_1", .ticks = 1, .values = sets[2].values});
  add({.name = "ticks_10_scaled", .scaling = 3.0, .ticks = 10, .values = sets[3].values});
  return sets;
}

// The command that sets the percentiles every answer reports.
inline std::string percentiles_command() {
  std::string command = "percentiles";
  for (const std::string& p : kOraclePercentiles)
    command += " " + p;
  return command + "\n";
}

}  // namespace poolbench::testing
