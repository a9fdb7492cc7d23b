// Tests for the HdrHistogram V2 codec: round trips of every shape and zlib level, hand-made
// inputs, the refusal of malformed ones, and Java (HdrHistogram 2.1.11 through tests/oracle)
// decoding our encodings to the same histogram. The oracle test skips when java/javac or
// hdrhistogram.jar were not found at configure time.
#include <gtest/gtest.h>
#include <zlib.h>

#include <bit>
#include <cstdint>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "histogram.hpp"
#include "histogram_oracle.hpp"
#include "same_histogram.hpp"

namespace poolbench {
namespace {

using testing::Dataset;
using testing::describe;
using testing::expect_same_histogram;
using testing::first_difference;
using testing::oracle_datasets;
using testing::percentiles_command;
using testing::run_oracle;
using testing::split_answers;

TEST(HistogramCodec, V2RoundTripsEveryShape) {
  struct Shape {
    int64_t lowest;
    int64_t highest;
    int digits;
  };
  std::mt19937_64 rng(3);
  for (const Shape s :
       {Shape{1, 3'600'000'000, 3}, Shape{1, 1000, 0}, Shape{1, 100'000'000, 5},
        Shape{1000, 1'000'000'000'000, 2}, Shape{1, std::numeric_limits<int64_t>::max(), 3}}) {
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

TEST(HistogramCodec, DecodesHandMadeV2) {
  // counts: [0] = 2, then 3 zeros, [4] = 1  (ZigZag: 2 -> 4, -3 -> 5, 1 -> 2)
  const Histogram h = Histogram::decode_v2(make_v2(0x1c849313, 3, 2, 1, 1000, "\x04\x05\x02"));
  EXPECT_EQ(h.significant_digits(), 2);
  EXPECT_EQ(h.total_count(), 3);
  EXPECT_EQ(h.count_at_value(0), 2);
  EXPECT_EQ(h.count_at_value(4), 1);
  EXPECT_EQ(h.max(), 4);
  EXPECT_EQ(h.min(), 0);
}

TEST(HistogramCodec, RejectsMalformedV2) {
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
// Conformance with the Java reference (tests/oracle/HistogramOracle.java)

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

}  // namespace
}  // namespace poolbench
