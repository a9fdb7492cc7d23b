// The histogram core: the layout (Java's AbstractHistogram.init), recording, merging, the
// equivalent-value ranges, the statistics and the percentile rule.
#include "histogram.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "histogram_internal.hpp"

namespace poolbench {

using histogram_internal::java_long_cast;
using histogram_internal::message_with_value;

Histogram::Histogram(int64_t lowest_discernible, int64_t highest_trackable, int significant_digits)
    : lowest_discernible_(lowest_discernible),
      highest_trackable_(highest_trackable),
      significant_digits_(significant_digits) {
  if (lowest_discernible < 1) {
    throw std::invalid_argument(
        message_with_value("Histogram: lowest_discernible must be >= 1", lowest_discernible));
  }
  if (highest_trackable / 2 < lowest_discernible) {  // highest < 2 * lowest, without overflow
    throw std::invalid_argument(message_with_value(
        "Histogram: highest_trackable must be >= 2 * lowest_discernible", highest_trackable));
  }
  if (significant_digits < 0 || significant_digits > 5) {
    throw std::invalid_argument(message_with_value(
        "Histogram: significant_digits must be between 0 and 5", significant_digits));
  }
  // The same floating-point expressions as Java's AbstractHistogram.init, so that odd
  // lowest values give the same unit magnitude as the reference.
  const auto largest_value_with_single_unit_resolution =
      2 * static_cast<int64_t>(std::pow(10.0, significant_digits));
  unit_magnitude_ =
      static_cast<int>(std::log(static_cast<double>(lowest_discernible)) / std::log(2.0));
  const auto sub_bucket_count_magnitude = static_cast<int>(std::ceil(
      std::log(static_cast<double>(largest_value_with_single_unit_resolution)) / std::log(2.0)));
  if (sub_bucket_count_magnitude + unit_magnitude_ > 62) {
    throw std::invalid_argument(
        "Histogram: cannot represent significant_digits worth of values beyond lowest_discernible");
  }
  sub_bucket_half_count_magnitude_ = sub_bucket_count_magnitude - 1;
  sub_bucket_count_ = 1 << sub_bucket_count_magnitude;
  sub_bucket_half_count_ = sub_bucket_count_ / 2;
  sub_bucket_mask_ = static_cast<uint64_t>(sub_bucket_count_ - 1) << unit_magnitude_;
  leading_zero_count_base_ = 64 - unit_magnitude_ - sub_bucket_count_magnitude;

  // Buckets needed so that highest_trackable has an index (Java getBucketsNeededToCoverValue).
  int64_t smallest_untrackable_value = static_cast<int64_t>(sub_bucket_count_) << unit_magnitude_;
  bucket_count_ = 1;
  while (smallest_untrackable_value <= highest_trackable) {
    if (smallest_untrackable_value > std::numeric_limits<int64_t>::max() / 2) {
      ++bucket_count_;
      break;
    }
    smallest_untrackable_value <<= 1;
    ++bucket_count_;
  }
  counts_length_ = (bucket_count_ + 1) * sub_bucket_half_count_;
  counts_.assign(static_cast<size_t>(counts_length_), 0);
}

void Histogram::throw_negative_count(int64_t count) {
  throw std::invalid_argument(message_with_value("Histogram::record_n: count must be >= 0", count));
}

bool Histogram::same_layout(const Histogram& other) const {
  return unit_magnitude_ == other.unit_magnitude_ && sub_bucket_count_ == other.sub_bucket_count_ &&
         bucket_count_ == other.bucket_count_;
}

void Histogram::merge(const Histogram& other) {
  if (!same_layout(other)) {
    throw std::invalid_argument(
        "Histogram::merge: incompatible shapes (lowest/highest/digits " +
        std::to_string(lowest_discernible_) + "/" + std::to_string(highest_trackable_) + "/" +
        std::to_string(significant_digits_) + " vs " + std::to_string(other.lowest_discernible_) +
        "/" + std::to_string(other.highest_trackable_) + "/" +
        std::to_string(other.significant_digits_) + ")");
  }
  for (size_t i = 0; i < counts_.size(); ++i)
    counts_[i] += other.counts_[i];
  total_count_ += other.total_count_;
  saturated_count_ += other.saturated_count_;
  max_value_ = std::max(max_value_, other.max_value_);
  min_non_zero_value_ = std::min(min_non_zero_value_, other.min_non_zero_value_);
}

void Histogram::reset() {
  std::fill(counts_.begin(), counts_.end(), 0);
  total_count_ = 0;
  max_value_ = 0;
  min_non_zero_value_ = std::numeric_limits<int64_t>::max();
  saturated_count_ = 0;
}

int64_t Histogram::value_from_index(int index) const {
  int bucket = (index >> sub_bucket_half_count_magnitude_) - 1;
  int sub_bucket = (index & (sub_bucket_half_count_ - 1)) + sub_bucket_half_count_;
  if (bucket < 0) {
    sub_bucket -= sub_bucket_half_count_;
    bucket = 0;
  }
  return static_cast<int64_t>(static_cast<uint64_t>(sub_bucket) << (bucket + unit_magnitude_));
}

int64_t Histogram::lowest_equivalent_value(int64_t value) const {
  const int shift = bucket_index(value) + unit_magnitude_;
  return static_cast<int64_t>((static_cast<uint64_t>(value) >> shift) << shift);
}

int64_t Histogram::size_of_equivalent_value_range(int64_t value) const {
  return int64_t{1} << (unit_magnitude_ + bucket_index(value));
}

int64_t Histogram::highest_equivalent_value(int64_t value) const {
  // Unsigned: the top bin of a histogram reaching INT64_MAX wraps exactly as in Java.
  return static_cast<int64_t>(static_cast<uint64_t>(lowest_equivalent_value(value)) +
                              static_cast<uint64_t>(size_of_equivalent_value_range(value)) - 1);
}

int64_t Histogram::median_equivalent_value(int64_t value) const {
  return static_cast<int64_t>(static_cast<uint64_t>(lowest_equivalent_value(value)) +
                              static_cast<uint64_t>(size_of_equivalent_value_range(value) >> 1));
}

int64_t Histogram::count_at_value(int64_t value) const {
  const int index = std::min(counts_index(std::max<int64_t>(value, 0)), counts_length_ - 1);
  return counts_[static_cast<size_t>(index)];
}

int64_t Histogram::min() const {
  if (counts_[0] > 0 || total_count_ == 0) return 0;
  return lowest_equivalent_value(min_non_zero_value_);
}

int64_t Histogram::max() const {
  return max_value_ == 0 ? 0 : highest_equivalent_value(max_value_);
}

double Histogram::mean() const {
  if (total_count_ == 0) return 0.0;
  double total_value = 0;
  for (int i = 0; i < counts_length_; ++i) {
    const int64_t count = counts_[static_cast<size_t>(i)];
    if (count != 0) {
      total_value += static_cast<double>(median_equivalent_value(value_from_index(i))) *
                     static_cast<double>(count);
    }
  }
  return total_value / static_cast<double>(total_count_);
}

double Histogram::stddev() const {
  if (total_count_ == 0) return 0.0;
  const double mean_value = mean();
  double deviation_total = 0.0;
  for (int i = 0; i < counts_length_; ++i) {
    const int64_t count = counts_[static_cast<size_t>(i)];
    if (count != 0) {
      const double deviation =
          static_cast<double>(median_equivalent_value(value_from_index(i))) - mean_value;
      deviation_total += (deviation * deviation) * static_cast<double>(count);
    }
  }
  return std::sqrt(deviation_total / static_cast<double>(total_count_));
}

int64_t Histogram::value_at_percentile(double percentile) const {
  // Nudged down one ulp so that e.g. p = 99.9 of 1000 values is rank 999 even when
  // 99.9 / 100 * 1000 comes out as 999.0000000000001.
  const double requested = std::min(
      std::max(std::nextafter(percentile, -std::numeric_limits<double>::infinity()), 0.0), 100.0);
  const double fractional_rank = requested * static_cast<double>(total_count_) / 100.0;
  const int64_t rank = std::isnan(fractional_rank)
                           ? 1
                           : std::max<int64_t>(java_long_cast(std::ceil(fractional_rank)), 1);
  int64_t running_count = 0;
  for (int i = 0; i < counts_length_; ++i) {
    running_count += counts_[static_cast<size_t>(i)];
    if (running_count >= rank) {
      const int64_t value = value_from_index(i);
      return percentile == 0.0 ? lowest_equivalent_value(value) : highest_equivalent_value(value);
    }
  }
  return 0;
}

void Histogram::establish_tracking_values() {
  total_count_ = 0;
  max_value_ = 0;
  min_non_zero_value_ = std::numeric_limits<int64_t>::max();
  int max_index = -1;
  int min_non_zero_index = -1;
  for (int i = 0; i < counts_length_; ++i) {
    const int64_t count = counts_[static_cast<size_t>(i)];
    if (count > 0) {
      if (__builtin_add_overflow(total_count_, count, &total_count_)) {
        throw std::invalid_argument("histogram V2: total count overflows 64 bits");
      }
      max_index = i;
      if (min_non_zero_index == -1 && i != 0) min_non_zero_index = i;
    }
  }
  if (max_index >= 0) max_value_ = highest_equivalent_value(value_from_index(max_index));
  if (min_non_zero_index >= 0) min_non_zero_value_ = value_from_index(min_non_zero_index);
}

}  // namespace poolbench
