// Tests for poolbench::Histogram: the layout, exact counts, the percentile rule against a
// brute-force sort, merge = union, the V2 codec and its error handling, saturation, and
// conformance with HdrHistogram 2.1.11 (Java, the reference) through tests/oracle: V2 bytes,
// decoded counts, statistics, .hgrm and .hlog text, all byte for byte. The oracle tests skip
// when java/javac or hdrhistogram.jar were not found at configure time.
#include "histogram.hpp"

#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace poolbench {
namespace {

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
// V2 codec

void expect_same_histogram(const Histogram& a, const Histogram& b) {
  ASSERT_EQ(a.lowest_discernible(), b.lowest_discernible());
  ASSERT_EQ(a.highest_trackable(), b.highest_trackable());
  ASSERT_EQ(a.significant_digits(), b.significant_digits());
  ASSERT_EQ(a.counts_length(), b.counts_length());
  for (int i = 0; i < a.counts_length(); ++i)
    ASSERT_EQ(a.count_at_index(i), b.count_at_index(i));
  EXPECT_EQ(a.total_count(), b.total_count());
  EXPECT_EQ(a.min(), b.min());
  EXPECT_EQ(a.max(), b.max());
  EXPECT_EQ(a.mean(), b.mean());
}

TEST(Histogram, V2RoundTripsEveryShape) {
  struct Shape {
    int64_t lowest;
    int64_t highest;
    int digits;
  };
  std::mt19937_64 rng(3);
  for (const Shape s : {Shape{1, 3'600'000'000, 3}, Shape{1, 1000, 0}, Shape{1, 100'000'000, 5},
                        Shape{1000, 1'000'000'000'000, 2}, Shape{1, kInt64Max, 3}}) {
    Histogram h(s.lowest, s.highest, s.digits);
    std::uniform_int_distribution<int64_t> value(0, s.highest);
    for (int i = 0; i < 10'000; ++i)
      h.record(value(rng) >> (i % 40));
    h.record_n(s.lowest * 3, int64_t{1} << 61);  // a count needing all 9 LEB128 bytes
    for (const int level : {-1, 1, 9}) {
      const std::string text = h.encode_v2_base64(level);
      ASSERT_EQ(text.rfind("HISTF", 0), 0u) << text.substr(0, 16);
      const Histogram decoded = Histogram::decode_v2_base64(text);
      expect_same_histogram(h, decoded);
      EXPECT_EQ(decoded.encode_v2_base64(level), text);
    }
  }
  const Histogram empty;
  expect_same_histogram(empty, Histogram::decode_v2_base64(empty.encode_v2_base64()));
  // Surrounding whitespace (a line read from a log) is fine.
  expect_same_histogram(empty,
                        Histogram::decode_v2_base64(" \t" + empty.encode_v2_base64() + "\r\n"));
}

// A V2 compressed histogram from raw parts, to make malformed inputs.
std::string make_v2(uint32_t inner_cookie, int32_t payload_length, int32_t digits, int64_t lowest,
                    int64_t highest, const std::string& payload,
                    uint32_t outer_cookie = 0x1c849314) {
  std::string raw;
  const auto be = [&raw](uint64_t v, int bytes) {
    for (int i = bytes - 1; i >= 0; --i)
      raw.push_back(static_cast<char>(v >> (8 * i)));
  };
  be(inner_cookie, 4);
  be(static_cast<uint32_t>(payload_length), 4);
  be(0, 4);
  be(static_cast<uint32_t>(digits), 4);
  be(static_cast<uint64_t>(lowest), 8);
  be(static_cast<uint64_t>(highest), 8);
  be(std::bit_cast<uint64_t>(1.0), 8);
  raw += payload;
  uLongf length = compressBound(static_cast<uLong>(raw.size()));
  std::string compressed(length, '\0');
  compress2(reinterpret_cast<Bytef*>(compressed.data()), &length,
            reinterpret_cast<const Bytef*>(raw.data()), static_cast<uLong>(raw.size()), 6);
  compressed.resize(length);
  std::string out;
  for (int i = 3; i >= 0; --i)
    out.push_back(static_cast<char>(outer_cookie >> (8 * i)));
  for (int i = 3; i >= 0; --i)
    out.push_back(static_cast<char>(length >> (8 * i)));
  return out + compressed;
}

TEST(Histogram, DecodesHandMadeV2) {
  // counts: [0] = 2, then 3 zeros, [4] = 1  (ZigZag: 2 -> 4, -3 -> 5, 1 -> 2)
  const Histogram h = Histogram::decode_v2(make_v2(0x1c849313, 3, 2, 1, 1000, "\x04\x05\x02"));
  EXPECT_EQ(h.significant_digits(), 2);
  EXPECT_EQ(h.total_count(), 3);
  EXPECT_EQ(h.count_at_value(0), 2);
  EXPECT_EQ(h.count_at_value(4), 1);
  EXPECT_EQ(h.max(), 4);
  EXPECT_EQ(h.min(), 0);
}

TEST(Histogram, RejectsMalformedV2) {
  const std::string good = Histogram().encode_v2_base64();
  const auto rejects = [](std::string_view text) {
    EXPECT_THROW(Histogram::decode_v2_base64(text), std::invalid_argument) << text;
  };
  rejects("");
  rejects("HISTFAAA");                                // too short to hold the 8-byte header
  rejects(good.substr(0, good.size() - 1));           // length not a multiple of 4
  rejects("HIST!AAAAAAAAAAA");                        // not base64
  rejects(good.substr(0, good.size() - 4) + "====");  // misplaced padding
  std::string truncated = Histogram::decode_v2_base64(good).encode_v2();
  truncated.resize(truncated.size() - 4);
  EXPECT_THROW(Histogram::decode_v2(truncated), std::invalid_argument);  // length > input

  const auto rejects_raw = [](const std::string& bytes, const char* why) {
    EXPECT_THROW(Histogram::decode_v2(bytes), std::invalid_argument) << why;
  };
  rejects_raw(make_v2(0x1c849313, 1, 3, 1, 1000, "\x02", 0x1c849302), "V1 outer cookie");
  rejects_raw(make_v2(0x1c849301, 1, 3, 1, 1000, "\x02"), "V1 inner cookie");
  rejects_raw(make_v2(0x1c849313, 1, 7, 1, 1000, "\x02"), "7 digits");
  rejects_raw(make_v2(0x1c849313, 1, 3, 0, 1000, "\x02"), "lowest 0");
  rejects_raw(make_v2(0x1c849313, 1, 3, 10, 15, "\x02"), "highest < 2 * lowest");
  rejects_raw(make_v2(0x1c849313, 5, 3, 1, 1000, "\x02"), "payload shorter than announced");
  rejects_raw(make_v2(0x1c849313, -1, 3, 1, 1000, "\x02"), "negative payload length");
  rejects_raw(make_v2(0x1c849313, 1, 3, 1, 1000, "\x80"), "truncated LEB128");
  // digits 0, highest 3: 2 buckets -> 3 bins; four counts do not fit, nor does a zero run of 4.
  rejects_raw(make_v2(0x1c849313, 4, 0, 1, 3, "\x02\x02\x02\x02"), "too many counts");
  rejects_raw(make_v2(0x1c849313, 2, 0, 1, 3, "\x07\x02"), "zero run past the end");
  // Counts summing past INT64_MAX.
  std::string big_counts;
  for (int i = 0; i < 2; ++i)
    big_counts += "\xfe" + std::string(8, '\xff');  // INT64_MAX each
  rejects_raw(make_v2(0x1c849313, 18, 3, 1, 1000, big_counts), "total overflow");
  // The zigzag count INT64_MIN, a zero run with no positive length (found by fuzz_histogram_v2).
  rejects_raw(make_v2(0x1c849313, 9, 3, 1, 1000, std::string(9, '\xff')), "INT64_MIN run");
  // A corrupt zlib stream.
  std::string corrupt = make_v2(0x1c849313, 1, 3, 1, 1000, "\x02");
  corrupt[10] = static_cast<char>(corrupt[10] ^ 0x5a);
  corrupt[12] = static_cast<char>(corrupt[12] ^ 0xa5);
  rejects_raw(corrupt, "corrupt zlib");
}

// ---------------------------------------------------------------------------------------------
// Java-compatible text output (without Java: golden text produced by HdrHistogram 2.1.11)

TEST(Histogram, FormatsFixedPointLikeJava) {
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

TEST(Histogram, MatchesJavaGoldenOutput) {
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

TEST(Histogram, HgrmEndsEvenWhenTheTotalExceedsDoublePrecision) {
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

TEST(Histogram, IntervalLogLinesCarryStartLengthMaxAndTheHistogram) {
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

#if defined(POOLBENCH_ORACLE_JAVA) && defined(POOLBENCH_ORACLE_CLASSPATH)
constexpr const char* kOracleJava = POOLBENCH_ORACLE_JAVA;
constexpr const char* kOracleClasspath = POOLBENCH_ORACLE_CLASSPATH;
#else
constexpr const char* kOracleJava = "";
constexpr const char* kOracleClasspath = "";
#endif

// Percentiles every histogram answer reports (parsed identically by Java and C++).
const std::vector<std::string> kPercentiles = {
    "0",  "0.0001", "1",    "10",   "25",    "33.333", "50",      "66.6667", "75",    "90",
    "95", "99",     "99.5", "99.9", "99.99", "99.999", "99.9999", "100",     "100.5", "-1"};

// Runs the oracle on `input` and returns its stdout; skips the calling test when no oracle.
std::string run_oracle(const std::string& input) {
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

// Skips the test unless java, the compiled oracle and the jar are all present.
#define REQUIRE_ORACLE()                                                                  \
  do {                                                                                    \
    if (*kOracleJava == '\0') {                                                           \
      GTEST_SKIP() << "Java oracle not configured: java/javac or /usr/share/java/"        \
                      "hdrhistogram.jar missing at configure time (apt-get install "      \
                      "openjdk-17-jdk-headless libhdrhistogram-java, then re-run cmake)"; \
    }                                                                                     \
    const std::string classpath = kOracleClasspath;                                       \
    const std::string classes = classpath.substr(0, classpath.find(':'));                 \
    const std::string jar = classpath.substr(classpath.find(':') + 1);                    \
    if (!std::filesystem::exists(kOracleJava) ||                                          \
        !std::filesystem::exists(classes + "/HistogramOracle.class") ||                   \
        !std::filesystem::exists(jar)) {                                                  \
      GTEST_SKIP() << "Java oracle unavailable: need " << kOracleJava << ", " << classes  \
                   << "/HistogramOracle.class (target histogram_oracle) and " << jar;     \
    }                                                                                     \
  } while (false)

// The shortest decimal that reads back as `value` (Java's parseDouble and strtod agree on it).
std::string shortest_decimal(double value) {
  char buffer[32];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  return std::string(buffer, result.ptr);
}

std::string hex_bits(double value) {
  char buffer[24];
  std::snprintf(buffer, sizeof buffer, "%llx",
                static_cast<unsigned long long>(std::bit_cast<uint64_t>(value)));
  return buffer;
}

// The C++ side of an oracle histogram answer (see HistogramOracle.java).
std::string describe(const Histogram& h, double scaling, int ticks) {
  std::ostringstream out;
  out << "v2 " << h.encode_v2_base64() << '\n';
  out << "shape " << h.lowest_discernible() << ' ' << h.highest_trackable() << ' '
      << h.significant_digits() << '\n';
  out << "total " << h.total_count() << '\n';
  out << "min " << h.min() << " max " << h.max() << '\n';
  out << "mean " << hex_bits(h.mean()) << " stddev " << hex_bits(h.stddev()) << '\n';
  out << "pct";
  for (const std::string& p : kPercentiles) {
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
std::vector<std::string> split_answers(const std::string& output) {
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
std::string first_difference(const std::string& ours, const std::string& java) {
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

std::vector<Dataset> oracle_datasets() {
  std::vector<Dataset> sets;
  std::mt19937_64 rng(2024);
  const auto add = [&sets](Dataset d) { sets.push_back(std::move(d)); };
  const auto sample = [&rng](int n, auto&& draw) {
    std::vector<std::pair<int64_t, int64_t>> values;
    for (int i = 0; i < n; ++i)
      values.emplace_back(draw(rng), 1);
    return values;
  };
  std::uniform_int_distribution<int64_t> uniform(1, 1'000'000);
  std::exponential_distribution<double> exponential(1.0 / 2000.0);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::lognormal_distribution<double> lognormal(std::log(1e6), 1.0);

  add({.name = "uniform", .values = sample(50'000, uniform)});
  add({.name = "uniform_in_ms", .scaling = 1000.0, .values = sets.back().values});
  add({.name = "exponential",
       .values = sample(50'000, [&](auto& g) { return static_cast<int64_t>(exponential(g)); })});
  add({.name = "heavy_tail_pareto", .values = sample(50'000, [&](auto& g) {
                                      const double x = 50.0 / std::pow(1.0 - unit(g), 1.0 / 1.2);
                                      return static_cast<int64_t>(std::min(x, 3.6e9));
                                    })});
  add({.name = "small_counts",
       .values = {{1, 1}, {2, 1}, {3, 1}, {5, 1}, {1000, 1}, {2047, 1}, {2048, 1}}});
  add({.name = "single_value", .values = {{12345, 1}}});
  add({.name = "above_2048", .values = sample(20'000, [](auto& g) {
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
       .values = sample(30'000, [&](auto& g) { return static_cast<int64_t>(lognormal(g)); })});
  add({.name = "digits_5",
       .highest = 100'000'000,
       .digits = 5,
       .values =
           sample(20'000, [&](auto& g) { return static_cast<int64_t>(exponential(g) * 50.0); })});
  add({.name = "digits_0",
       .highest = 1000,
       .digits = 0,
       .values = sample(
           1000, [](auto& g) { return std::uniform_int_distribution<int64_t>(0, 1000)(g); })});
  add({.name = "full_int64_range",
       .highest = kInt64Max,
       .values = {
           {1, 1}, {1000, 2}, {int64_t{1} << 40, 3}, {int64_t{1} << 62, 4}, {kInt64Max, 5}}});
  add({.name = "ticks_1", .ticks = 1, .values = sets[2].values});
  add({.name = "ticks_10_scaled", .scaling = 3.0, .ticks = 10, .values = sets[3].values});
  return sets;
}

std::string percentiles_command() {
  std::string command = "percentiles";
  for (const std::string& p : kPercentiles)
    command += " " + p;
  return command + "\n";
}

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

TEST(HistogramOracle, JavaDecodesOurEncodings) {
  REQUIRE_ORACLE();
  const std::vector<Dataset> sets = oracle_datasets();
  std::string input = percentiles_command();
  std::vector<std::string> expected;
  for (const Dataset& d : sets) {
    const Histogram h = d.record();
    for (const int level : {-1, 9}) {
      input += "decode " + std::to_string(d.scaling) + " " + std::to_string(d.ticks) + " " +
               h.encode_v2_base64(level) + "\n";
      expected.push_back(describe(h, d.scaling, d.ticks));
    }
  }
  const std::vector<std::string> answers = split_answers(run_oracle(input));
  ASSERT_EQ(answers.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(first_difference(expected[i], answers[i]), "")
        << sets[i / 2].name << (i % 2 ? " (zlib level 9)" : " (default zlib level)");
  }
}

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
