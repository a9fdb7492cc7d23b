// Tests for the histogram core: the layout, exact counts, the percentile rule against a
// brute-force sort, merge = union, saturation, and recording checked against HdrHistogram
// 2.1.11 (Java, the reference) through tests/oracle: the same values give the same V2 bytes,
// statistics, bins and .hgrm text, byte for byte. The oracle test skips when java/javac or
// hdrhistogram.jar were not found at configure time.
#include "histogram.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "histogram_oracle.hpp"

namespace poolbench {
namespace {

using testing::Dataset;
using testing::describe;
using testing::first_difference;
using testing::oracle_datasets;
using testing::percentiles_command;
using testing::run_oracle;
using testing::split_answers;

constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();

// ---------------------------------------------------------------------------------------------
// Layout and recording

TEST(Histogram, DefaultLayoutIsHdrHistogramsForOneMicrosecondToOneHour) {
  const Histogram h;
  EXPECT_EQ(h.lowest_discernible(), 1);
  EXPECT_EQ(h.highest_trackable(), 3'600'000'000);
  EXPECT_EQ(h.significant_digits(), 3);
  EXPECT_EQ(h.sub_bucket_count(), 2048);
  EXPECT_EQ(h.bucket_count(), 22);
  EXPECT_EQ(h.counts_length(), 23 * 1024);
}

TEST(Histogram, LayoutForOtherDigitsAndUnits) {
  EXPECT_EQ(Histogram(1, 1000, 0).sub_bucket_count(), 2);
  EXPECT_EQ(Histogram(1, 1000, 1).sub_bucket_count(), 32);
  EXPECT_EQ(Histogram(1, 1000, 2).sub_bucket_count(), 256);
  EXPECT_EQ(Histogram(1, 1000, 4).sub_bucket_count(), 32768);
  EXPECT_EQ(Histogram(1, 1000, 5).sub_bucket_count(), 262144);
  // lowest 1000 -> unit magnitude 9: bins of 512 below 2048 * 512.
  const Histogram ns(1000, 1'000'000'000'000, 3);
  EXPECT_EQ(ns.size_of_equivalent_value_range(0), 512);
  EXPECT_EQ(ns.lowest_equivalent_value(1500), 1024);
  EXPECT_EQ(ns.highest_equivalent_value(1500), 1535);
}

TEST(Histogram, ValuesBelowTwiceTenToTheDigitsAreExactAndBinsStayWithinPrecision) {
  const Histogram h;
  for (int64_t v = 0; v < 2048; ++v) {
    ASSERT_EQ(h.lowest_equivalent_value(v), v);
    ASSERT_EQ(h.highest_equivalent_value(v), v);
  }
  EXPECT_EQ(h.lowest_equivalent_value(2049), 2048);
  EXPECT_EQ(h.highest_equivalent_value(2048), 2049);
  EXPECT_EQ(h.median_equivalent_value(2048), 2049);
  for (int64_t v = 2048; v < 3'600'000'000; v = v * 17 / 16 + 1) {
    const int64_t low = h.lowest_equivalent_value(v);
    const int64_t high = h.highest_equivalent_value(v);
    ASSERT_LE(low, v);
    ASSERT_GE(high, v);
    ASSERT_LE(static_cast<double>(high - low + 1) / static_cast<double>(low), 1.0 / 1024) << v;
  }
}

TEST(Histogram, CountsAreExact) {
  Histogram h;
  int64_t expected_total = 0;
  for (int64_t v = 0; v < 5000; ++v) {
    for (int64_t k = 0; k < v % 3 + 1; ++k)
      h.record(v);
    expected_total += v % 3 + 1;
  }
  h.record_n(1'000'000, 1'000'000'000'000);
  expected_total += 1'000'000'000'000;
  for (int64_t v = 0; v < 2048; ++v)
    ASSERT_EQ(h.count_at_value(v), v % 3 + 1) << v;
  for (int64_t v = 2048; v < 4096; v += 2) {  // bins of two values
    ASSERT_EQ(h.count_at_value(v), v % 3 + 1 + (v + 1) % 3 + 1) << v;
    ASSERT_EQ(h.count_at_value(v + 1), h.count_at_value(v)) << v;
  }
  for (int64_t v = 4096; v < 4996; v += 4) {  // bins of four: always 1 + 2 + 3 + one more
    ASSERT_EQ(h.count_at_value(v), 6 + v % 3 + 1) << v;
  }
  EXPECT_EQ(h.count_at_value(1'000'000), 1'000'000'000'000);
  EXPECT_EQ(h.total_count(), expected_total);
  EXPECT_EQ(h.saturated_count(), 0);
}

TEST(Histogram, MinAndMaxUseEquivalentRanges) {
  Histogram h;
  EXPECT_EQ(h.min(), 0);
  EXPECT_EQ(h.max(), 0);
  EXPECT_EQ(h.mean(), 0.0);
  EXPECT_EQ(h.stddev(), 0.0);
  EXPECT_EQ(h.value_at_percentile(50), 0);
  h.record(3001);
  EXPECT_EQ(h.min(), 3000);
  EXPECT_EQ(h.max(), 3001);
  h.record(7);
  EXPECT_EQ(h.min(), 7);
  h.record(0);
  EXPECT_EQ(h.min(), 0);  // a recorded zero is the minimum
}

TEST(Histogram, MeanAndStddevUseBinMedians) {
  Histogram h;
  h.record(1);
  h.record(3);
  EXPECT_DOUBLE_EQ(h.mean(), 2.0);
  EXPECT_DOUBLE_EQ(h.stddev(), 1.0);  // population
  Histogram wide;
  wide.record(4096);  // bin [4096, 4099], median 4098
  EXPECT_DOUBLE_EQ(wide.mean(), 4098.0);
}

TEST(Histogram, SaturatesAboveHighestAndBelowZero) {
  Histogram h(1, 1000, 3);
  h.record(999);
  h.record(1001);
  h.record(kInt64Max);
  h.record_n(-5, 2);
  EXPECT_EQ(h.total_count(), 5);
  EXPECT_EQ(h.saturated_count(), 4);
  EXPECT_EQ(h.count_at_value(1000), 2);
  EXPECT_EQ(h.count_at_value(0), 2);
  EXPECT_EQ(h.max(), 1000);
  EXPECT_EQ(h.value_at_percentile(100), 1000);
  h.reset();
  EXPECT_EQ(h.total_count(), 0);
  EXPECT_EQ(h.saturated_count(), 0);
  EXPECT_EQ(h.max(), 0);
}

TEST(Histogram, RejectsBadArguments) {
  EXPECT_THROW(Histogram(0, 100, 3), std::invalid_argument);
  EXPECT_THROW(Histogram(10, 19, 3), std::invalid_argument);
  EXPECT_THROW(Histogram(1, 100, 6), std::invalid_argument);
  EXPECT_THROW(Histogram(1, 100, -1), std::invalid_argument);
  EXPECT_THROW(Histogram(int64_t{1} << 55, kInt64Max, 3), std::invalid_argument);  // > 62 bits
  EXPECT_NO_THROW(Histogram(10, 20, 3));
  Histogram h;
  EXPECT_THROW(h.record_n(5, -1), std::invalid_argument);
  h.record_n(5, 0);
  EXPECT_EQ(h.total_count(), 0);
  EXPECT_EQ(h.max(), 0);
}

// ---------------------------------------------------------------------------------------------
// Percentiles against a brute-force sort

TEST(Histogram, ValueAtPercentileMatchesSortedValuesWithinPrecision) {
  std::mt19937_64 rng(42);
  std::lognormal_distribution<double> latency(std::log(2000.0), 1.5);  // us, long tail
  constexpr int64_t kValues = 1'000'000;
  std::vector<int64_t> values;
  values.reserve(kValues);
  Histogram h;
  for (int64_t i = 0; i < kValues; ++i) {
    const auto v = std::min<int64_t>(static_cast<int64_t>(latency(rng)), 3'600'000'000);
    values.push_back(v);
    h.record(v);
  }
  std::sort(values.begin(), values.end());
  // Percentiles in parts per million, so the exact rank ceil(p * N) is integer arithmetic.
  for (const int64_t ppm : {1, 10, 100, 1000, 10000, 100000, 250000, 333333, 500000, 666667, 900000,
                            990000, 999000, 999900, 999990, 999999, 1000000}) {
    const int64_t rank = std::max<int64_t>(1, (ppm * kValues + 999'999) / 1'000'000);
    const int64_t exact = values[static_cast<size_t>(rank - 1)];
    const int64_t reported = h.value_at_percentile(static_cast<double>(ppm) / 10000.0);
    EXPECT_EQ(reported, h.highest_equivalent_value(exact)) << "ppm " << ppm;
    // Precision bound: the reported value is the top of the exact value's bin.
    EXPECT_GE(reported, exact);
    EXPECT_LE(static_cast<double>(reported - exact), static_cast<double>(exact) / 1024.0)
        << "ppm " << ppm;
  }
  EXPECT_EQ(h.value_at_percentile(0), h.lowest_equivalent_value(values.front()));
  EXPECT_EQ(h.value_at_percentile(100), h.highest_equivalent_value(values.back()));
  EXPECT_EQ(h.value_at_percentile(250), h.value_at_percentile(100));  // clamped
  EXPECT_EQ(h.min(), h.lowest_equivalent_value(values.front()));
  EXPECT_EQ(h.max(), h.highest_equivalent_value(values.back()));
}

TEST(Histogram, PercentileRankIsNudgedDownLikeJava) {
  // 99.9% of 1000 values: 99.9 / 100 * 1000 is 999.0000000000001 in doubles; the rank is 999.
  Histogram h;
  for (int64_t v = 1; v <= 1000; ++v)
    h.record(v);
  EXPECT_EQ(h.value_at_percentile(99.9), 999);
  EXPECT_EQ(h.value_at_percentile(50), 500);
  EXPECT_EQ(h.value_at_percentile(0.05), 1);
  EXPECT_EQ(h.value_at_percentile(0.1), 1);
  EXPECT_EQ(h.value_at_percentile(0.11), 2);
}

// ---------------------------------------------------------------------------------------------
// Merge

TEST(Histogram, MergeEqualsRecordingAllValues) {
  std::mt19937_64 rng(7);
  std::exponential_distribution<double> gap(1.0 / 5000.0);
  Histogram a;
  Histogram b;
  Histogram all;
  for (int i = 0; i < 200'000; ++i) {
    const auto v = static_cast<int64_t>(gap(rng) * (i % 100 == 0 ? 1e5 : 1.0));
    (i % 3 == 0 ? a : b).record(v);
    all.record(v);
  }
  a.record(5'000'000'000);  // saturated on one side only
  all.record(5'000'000'000);
  Histogram merged = a;
  merged.merge(b);
  EXPECT_EQ(merged.total_count(), all.total_count());
  EXPECT_EQ(merged.saturated_count(), 1);
  EXPECT_EQ(merged.min(), all.min());
  EXPECT_EQ(merged.max(), all.max());
  EXPECT_EQ(merged.mean(), all.mean());
  EXPECT_EQ(merged.stddev(), all.stddev());
  for (int i = 0; i < all.counts_length(); ++i) {
    ASSERT_EQ(merged.count_at_index(i), all.count_at_index(i)) << i;
  }
  EXPECT_EQ(merged.encode_v2_base64(), all.encode_v2_base64());
  for (const double p : {0.0, 50.0, 90.0, 99.0, 99.9, 100.0}) {
    EXPECT_EQ(merged.value_at_percentile(p), all.value_at_percentile(p));
  }
}

TEST(Histogram, MergeRejectsIncompatibleShapes) {
  Histogram h;
  EXPECT_THROW(h.merge(Histogram(1, 3'600'000'000, 2)), std::invalid_argument);
  EXPECT_THROW(h.merge(Histogram(1000, 3'600'000'000, 3)), std::invalid_argument);
  EXPECT_THROW(h.merge(Histogram(1, 1'000'000, 3)), std::invalid_argument);
  EXPECT_NO_THROW(h.merge(Histogram(1, 3'000'000'000, 3)));  // same layout (22 buckets)
}

// ---------------------------------------------------------------------------------------------
// Conformance with the Java reference (tests/oracle/HistogramOracle.java)

TEST(HistogramOracle, RecordingMatchesJavaByteForByte) {
  REQUIRE_ORACLE();
  const std::vector<Dataset> sets = oracle_datasets();
  std::string input = percentiles_command();
  for (const Dataset& d : sets) {
    input += "record " + std::to_string(d.lowest) + " " + std::to_string(d.highest) + " " +
             std::to_string(d.digits) + " " + std::to_string(d.scaling) + " " +
             std::to_string(d.ticks) + " " + std::to_string(d.values.size()) + "\n";
    for (const auto& [value, count] : d.values) {
      input += std::to_string(value) + " " + std::to_string(count) + "\n";
    }
  }
  const std::vector<std::string> answers = split_answers(run_oracle(input));
  ASSERT_EQ(answers.size(), sets.size());
  for (size_t i = 0; i < sets.size(); ++i) {
    const Dataset& d = sets[i];
    // Same values recorded here: same V2 bytes, statistics, bins and .hgrm text.
    EXPECT_EQ(first_difference(describe(d.record(), d.scaling, d.ticks), answers[i]), "") << d.name;
    // Java's own encoding decodes here to the same histogram (and re-encodes identically).
    const std::string java_v2 = answers[i].substr(3, answers[i].find('\n') - 3);
    const Histogram decoded = Histogram::decode_v2_base64(java_v2);
    EXPECT_EQ(first_difference(describe(decoded, d.scaling, d.ticks), answers[i]), "")
        << d.name << " (decoded from Java's V2)";
  }
}

}  // namespace
}  // namespace poolbench
