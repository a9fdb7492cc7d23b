// HDR log-linear histogram, compatible with HdrHistogram 2.1.11 (Java, the reference): the same
// bucket layout, the same percentile rule, the V2 compressed encoding ("HISTFAAA..." base64),
// the .hgrm percentile distribution text and the .hlog interval log format, byte for byte
// (loadgen/README.md §5).
//
// Use: record() on the hot path, merge() per-thread histograms, read value_at_percentile(),
// min(), max(), mean(); carry a histogram as text with encode_v2_base64() and
// Histogram::decode_v2_base64(); print it with write_hgrm(). The .hlog interval log writer and
// Java's number formatting are in histogram_writers.hpp.
//
// One class, three source files, one concern each: histogram.cpp (layout, recording,
// statistics, merge), histogram_codec.cpp (the V2 encoding) and histogram_writers.cpp (.hgrm
// and .hlog text). The codec and the .hgrm writer are members, as in Java's AbstractHistogram,
// because the codec reads and fills the counts array directly: decoding must restore bins that
// record() would saturate.
//
// Layout (HdrHistogram's). For d significant digits the histogram keeps
// sub_bucket_count = 2^ceil(log2(2 * 10^d)) linear sub-buckets (d = 3: 2048) per power-of-two
// bucket, so every value is stored with a relative error below 1 / (sub_bucket_count / 2) and
// values below sub_bucket_count << unit_magnitude are exact. Bucket 0 holds all sub-buckets;
// every later bucket only its upper half (the lower half would repeat the previous bucket).
// The counts array is indexed by countsIndex = ((bucket + 1) << half_magnitude) + (sub - half).
//
// Threading: a Histogram is a plain value with no internal locking. In the load generator each
// thread owns its histograms and merges them at interval boundaries.
#pragma once

#include <bit>
#include <cstdint>
#include <limits>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace poolbench {

class Histogram {
 public:
  // Values are integers in the caller's unit (loadgen uses microseconds). Throws
  // std::invalid_argument unless 1 <= lowest_discernible, 2 * lowest_discernible <=
  // highest_trackable and 0 <= significant_digits <= 5 (HdrHistogram's own limits).
  explicit Histogram(int64_t lowest_discernible = 1, int64_t highest_trackable = 3'600'000'000,
                     int significant_digits = 3);

  // Hot path: no allocation, a few ns. Values above highest_trackable are recorded as
  // highest_trackable and negative values as 0; both are counted in saturated_count().
  void record(int64_t value) { record_n(value, 1); }
  // Records `count` occurrences of `value`: count 0 is a no-op, a negative count throws
  // std::invalid_argument.
  void record_n(int64_t value, int64_t count) {
    if (count <= 0) [[unlikely]] {
      reject_negative_count(count);
      return;
    }
    if (value > highest_trackable_ || value < 0) [[unlikely]] {
      value = value < 0 ? 0 : highest_trackable_;
      saturated_count_ += count;
    }
    counts_[static_cast<size_t>(counts_index(value))] += count;
    total_count_ += count;
    if (value > max_value_) max_value_ = value;
    if (value < min_non_zero_value_ && value != 0) min_non_zero_value_ = value;
  }

  // Adds the other histogram's counts. Both must have the same counts layout (same
  // significant digits, unit magnitude and bucket count), else std::invalid_argument.
  void merge(const Histogram& other);
  void reset();

  int64_t total_count() const { return total_count_; }
  // HdrHistogram semantics: min is the lowest equivalent value of the smallest recorded value
  // (0 if a value in the first unit was recorded), max the highest equivalent value of the
  // largest; both 0 when empty.
  int64_t min() const;
  int64_t max() const;
  // Over bin median-equivalent values, in the same summation order as Java; stddev is the
  // population one. 0 when empty.
  double mean() const;
  double stddev() const;
  // Java's getValueAtPercentile: percentile in [0, 100] (clamped), nudged down one ulp,
  // rank = max(1, ceil(p / 100 * N)); returns the highest equivalent value of the bin holding
  // that rank (the lowest equivalent value for p == 0). 0 when empty.
  int64_t value_at_percentile(double percentile) const;
  int64_t saturated_count() const { return saturated_count_; }

  int significant_digits() const { return significant_digits_; }
  int64_t lowest_discernible() const { return lowest_discernible_; }
  int64_t highest_trackable() const { return highest_trackable_; }

  // Layout queries (Java names in parentheses).
  int bucket_count() const { return bucket_count_; }          // (bucketCount)
  int sub_bucket_count() const { return sub_bucket_count_; }  // (subBucketCount)
  int counts_length() const { return counts_length_; }        // (countsArrayLength)
  int64_t count_at_index(int index) const { return counts_[static_cast<size_t>(index)]; }
  int64_t count_at_value(int64_t value) const;                  // (getCountAtValue)
  int64_t value_from_index(int index) const;                    // (valueFromIndex)
  int64_t lowest_equivalent_value(int64_t value) const;         // (lowestEquivalentValue)
  int64_t highest_equivalent_value(int64_t value) const;        // (highestEquivalentValue)
  int64_t median_equivalent_value(int64_t value) const;         // (medianEquivalentValue)
  int64_t size_of_equivalent_value_range(int64_t value) const;  // (sizeOfEquivalentValueRange)
  // Visits (highest equivalent value, count) for every non-empty bin, in value order.
  template <typename Visitor>
  void for_each_recorded(Visitor&& visit) const {
    for (int i = 0; i < counts_length_; ++i) {
      if (counts_[static_cast<size_t>(i)] != 0) {
        visit(highest_equivalent_value(value_from_index(i)), counts_[static_cast<size_t>(i)]);
      }
    }
  }

  // ---- V2 codec (histogram_codec.cpp) ----
  // HdrHistogram V2 compressed encoding (zlib) in base64, as Java's
  // encodeIntoCompressedByteBuffer: the default level (-1, i.e. zlib 6) gives the same bytes as
  // Java's default; the .hlog writer uses 9 like Java's HistogramLogWriter.
  std::string encode_v2_base64(int zlib_level = -1) const;
  // The raw (not base64) compressed V2 bytes.
  std::string encode_v2(int zlib_level = -1) const;
  // Accepts what Java's encodeIntoCompressedByteBuffer writes (any digits/range: the result
  // has the encoded shape). Surrounding whitespace is ignored. Throws std::invalid_argument on
  // anything else (bad base64, wrong cookie, corrupt zlib stream, truncated or overlong counts).
  static Histogram decode_v2_base64(std::string_view text);
  static Histogram decode_v2(std::string_view bytes);

  // ---- .hgrm writer (histogram_writers.cpp) ----
  // Java's outputPercentileDistribution(out, ticks, scaling), byte-identical (including Java's
  // HALF_UP rounding of the shortest decimal representation in every %f column).
  void write_hgrm(std::ostream& out, double output_value_unit_scaling_ratio = 1.0,
                  int percentile_ticks_per_half_distance = 5) const;

 private:
  int bucket_index(int64_t value) const {
    return leading_zero_count_base_ -
           std::countl_zero(static_cast<uint64_t>(value) | sub_bucket_mask_);
  }
  int counts_index(int64_t value) const {
    const int bucket = bucket_index(value);
    const auto sub_bucket =
        static_cast<int>(static_cast<uint64_t>(value) >> (bucket + unit_magnitude_));
    return ((bucket + 1) << sub_bucket_half_count_magnitude_) +
           (sub_bucket - sub_bucket_half_count_);
  }
  bool same_layout(const Histogram& other) const;
  // Recomputes total, min and max from the counts (after decoding), as Java's
  // establishInternalTackingValues.
  void establish_tracking_values();
  [[noreturn]] static void throw_negative_count(int64_t count);
  static void reject_negative_count(int64_t count) {
    if (count < 0) throw_negative_count(count);
  }

  int64_t lowest_discernible_;
  int64_t highest_trackable_;
  int significant_digits_;
  int unit_magnitude_;
  int sub_bucket_half_count_magnitude_;
  int sub_bucket_count_;
  int sub_bucket_half_count_;
  uint64_t sub_bucket_mask_;
  int leading_zero_count_base_;
  int bucket_count_;
  int counts_length_;

  std::vector<int64_t> counts_;
  int64_t total_count_ = 0;
  int64_t max_value_ = 0;                                             // largest recorded value, raw
  int64_t min_non_zero_value_ = std::numeric_limits<int64_t>::max();  // smallest non-zero, raw
  int64_t saturated_count_ = 0;
};

}  // namespace poolbench
