// Tests for the Java-compatible text output: Formatter's "%f", the .hgrm percentile
// distribution and the .hlog interval log, against golden text from HdrHistogram 2.1.11 (Java,
// the reference) and, through tests/oracle, against Java itself for many values and datasets.
// The oracle tests skip when java/javac or hdrhistogram.jar were not found at configure time.
#include "histogram_writers.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "histogram.hpp"
#include "histogram_oracle.hpp"
#include "same_histogram.hpp"

namespace poolbench {
namespace {

using testing::Dataset;
using testing::expect_same_histogram;
using testing::first_difference;
using testing::hex_bits;
using testing::oracle_datasets;
using testing::run_oracle;
using testing::shortest_decimal;
using testing::split_answers;

// Without Java: golden text produced by HdrHistogram 2.1.11.

TEST(HistogramWriters, FormatsFixedPointLikeJava) {
  EXPECT_EQ(format_java_fixed(1.0235, 3), "1.024");  // printf says 1.023 (binary 1.02349999...)
  EXPECT_EQ(format_java_fixed(2.675, 2), "2.68");
  EXPECT_EQ(format_java_fixed(0.5, 0), "1");
  EXPECT_EQ(format_java_fixed(0.4, 0), "0");
  EXPECT_EQ(format_java_fixed(9.9996, 3, 12), "      10.000");
  EXPECT_EQ(format_java_fixed(0.1, 12, 2), "0.100000000000");
  EXPECT_EQ(format_java_fixed(0.00049, 3), "0.000");
  EXPECT_EQ(format_java_fixed(0.00051, 3), "0.001");
  EXPECT_EQ(format_java_fixed(-0.0, 3), "-0.000");
  EXPECT_EQ(format_java_fixed(1e20, 2), "100000000000000000000.00");
  EXPECT_EQ(format_java_fixed(3600000000.0, 3), "3600000000.000");
  EXPECT_EQ(format_java_fixed(std::numeric_limits<double>::infinity(), 2, 14), "      Infinity");
  EXPECT_EQ(format_java_fixed(std::nan(""), 2), "NaN");
}

TEST(HistogramWriters, MatchesJavaGoldenOutput) {
  Histogram h;
  for (int64_t v = 1; v <= 10; ++v)
    h.record(v * 1000);
  // Produced by HdrHistogram 2.1.11 (tests/oracle) from the same ten values:
  // encodeIntoCompressedByteBuffer, then outputPercentileDistribution(out, 5, 1000.0).
  const std::string java_v2 =
      "HISTFAAAADl4nJNpmSzMwMAgxwABzFCaEURcm7yEwf4DROA8P9NZfqapHExP2ZkWsjB9ZIai5UxM3xmZAGkWDR4=";
  EXPECT_EQ(h.encode_v2_base64(), java_v2);
  expect_same_histogram(h, Histogram::decode_v2_base64(java_v2));
  std::ostringstream out;
  h.write_hgrm(out, 1000.0);
  EXPECT_EQ(out.str(),
            "       Value     Percentile TotalCount 1/(1-Percentile)\n"
            "\n"
            "       1.000 0.000000000000          1           1.00\n"
            "       1.000 0.100000000000          1           1.11\n"
            "       2.000 0.200000000000          2           1.25\n"
            "       3.001 0.300000000000          3           1.43\n"
            "       4.001 0.400000000000          4           1.67\n"
            "       5.003 0.500000000000          5           2.00\n"
            "       6.003 0.550000000000          6           2.22\n"
            "       6.003 0.600000000000          6           2.50\n"
            "       7.003 0.650000000000          7           2.86\n"
            "       7.003 0.700000000000          7           3.33\n"
            "       8.003 0.750000000000          8           4.00\n"
            "       8.003 0.775000000000          8           4.44\n"
            "       8.003 0.800000000000          8           5.00\n"
            "       9.007 0.825000000000          9           5.71\n"
            "       9.007 0.850000000000          9           6.67\n"
            "       9.007 0.875000000000          9           8.00\n"
            "       9.007 0.887500000000          9           8.89\n"
            "       9.007 0.900000000000          9          10.00\n"
            "      10.007 0.912500000000         10          11.43\n"
            "      10.007 1.000000000000         10\n"
            "#[Mean    =        5.502, StdDeviation   =        2.874]\n"
            "#[Max     =       10.007, Total count    =           10]\n"
            "#[Buckets =           22, SubBuckets     =         2048]\n");
}

TEST(HistogramWriters, HgrmEndsEvenWhenTheTotalExceedsDoublePrecision) {
  // Above 2^53 counts, 100 * (total - 1) / total == 100.0 and Java's percentile levels stop
  // advancing (it never returns); we finish with the 100% line at the max.
  Histogram h;
  h.record_n(1, int64_t{1} << 60);
  h.record(2);
  std::ostringstream out;
  h.write_hgrm(out);
  const std::string text = out.str();
  EXPECT_LT(text.size(), 20'000u);
  EXPECT_NE(text.find("       2.000 1.000000000000 1152921504606846977\n#[Mean"), std::string::npos)
      << text;
}

TEST(HistogramWriters, IntervalLogLinesCarryStartLengthMaxAndTheHistogram) {
  Histogram h;
  for (int64_t v = 1; v <= 100; ++v)
    h.record(v * 37);
  std::ostringstream out;
  HistogramLogWriter log(out);
  log.write_log_format_version();
  log.write_base_time(1'700'000'000'123);
  log.write_legend();
  log.write_interval(0.0, 1.0005, h, 1000.0);
  log.write_interval(1.0, 2.0, h, 1000.0, "lag");
  EXPECT_THROW(log.write_interval(2.0, 3.0, h, 1000.0, "a,b"), std::invalid_argument);
  std::istringstream lines(out.str());
  std::string line;
  std::getline(lines, line);
  EXPECT_EQ(line, "#[Histogram log format version 1.3]");
  std::getline(lines, line);
  EXPECT_EQ(line, "#[BaseTime: 1700000000.123 (seconds since epoch)]");
  std::getline(lines, line);
  EXPECT_EQ(line,
            "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\","
            "\"Interval_Compressed_Histogram\"");
  const std::string encoded = h.encode_v2_base64(9);
  std::getline(lines, line);
  EXPECT_EQ(line, "0.000,1.001,3.701," + encoded);  // length 1.0005 rounds HALF_UP like Java
  std::getline(lines, line);
  EXPECT_EQ(line, "Tag=lag,1.000,1.000,3.701," + encoded);
  expect_same_histogram(h, Histogram::decode_v2_base64(encoded));
}

// ---------------------------------------------------------------------------------------------
// Conformance with the Java reference (tests/oracle/HistogramOracle.java)

TEST(HistogramOracle, FixedPointFormattingMatchesJava) {
  REQUIRE_ORACLE();
  std::mt19937_64 rng(99);
  std::vector<double> values = {0.0,
                                -0.0,
                                0.5,
                                1.5,
                                2.5,
                                1.0235,
                                2.675,
                                0.125,
                                9.9995,
                                99.995,
                                1e-7,
                                4.9e-324,
                                1e15 + 0.5,
                                4503599627370497.0,
                                1e22,
                                9007199254740993.0,
                                3.6e9,
                                0.9990234375,
                                0.999999999999,
                                std::numeric_limits<double>::infinity(),
                                std::nan("")};
  for (int k = 53; k <= 63; ++k) {
    values.push_back(std::ldexp(1.0, k));
    values.push_back(std::ldexp(1.0, k) * 1.75);
    values.push_back(std::ldexp(1.0, k) + std::ldexp(1.0, k - 52) * 3);
  }
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::uniform_int_distribution<int64_t> integer(0, int64_t{1} << 62);
  for (int i = 0; i < 3000; ++i) {
    values.push_back(unit(rng) * std::pow(10.0, static_cast<double>(i % 24) - 8));
    values.push_back(static_cast<double>(integer(rng) % 100'000) / 1000.0);  // x.yyy5-ish ties
    values.push_back(static_cast<double>(integer(rng) >> (i % 40)) / 8.0);
    values.push_back(1.0 / (1.0 - static_cast<double>(i) / 3001.0));
  }
  std::string input;
  std::vector<std::string> expected;
  for (const auto& [precision, width] :
       std::vector<std::pair<int, int>>{{0, 0}, {2, 14}, {3, 12}, {5, 0}, {12, 2}}) {
    input += "format " + std::to_string(precision) + " " + std::to_string(width);
    std::string ours;
    for (const double v : values) {
      input += " " + hex_bits(v);
      ours += "[" + format_java_fixed(v, precision, width) + "]\n";
    }
    input += "\n";
    expected.push_back(ours + "end\n");
  }
  const std::vector<std::string> answers = split_answers(run_oracle(input));
  ASSERT_EQ(answers.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(first_difference(expected[i], answers[i]), "");
  }
}

TEST(HistogramOracle, IntervalLogMatchesJava) {
  REQUIRE_ORACLE();
  const std::vector<Dataset> sets = oracle_datasets();
  std::string input;
  std::string expected;
  int64_t start_ms = 1'700'000'000'000;
  for (const Dataset& d : sets) {
    const Histogram h = d.record();
    const std::string tag = d.name.size() % 2 ? d.name : "-";
    const double start = static_cast<double>(d.values.size() % 977) / 7.0;
    const double end = start + 1.0005;
    input += "hlog " + std::to_string(start_ms) + " " + std::to_string(start_ms - 1234) + " " +
             shortest_decimal(start) + " " + shortest_decimal(end) + " 1000.0 " + tag + " " +
             h.encode_v2_base64() + "\n";
    std::ostringstream out;
    HistogramLogWriter log(out);
    log.write_log_format_version();
    log.write_start_time(start_ms);
    log.write_base_time(start_ms - 1234);
    log.write_legend();
    log.write_interval(start, end, h, 1000.0, tag == "-" ? "" : tag);
    expected += out.str() + "end\n";
    start_ms += 1'234'567;
  }
  EXPECT_EQ(first_difference(expected, run_oracle(input)), "");
}

}  // namespace
}  // namespace poolbench
