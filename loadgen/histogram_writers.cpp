// Java-compatible text: Formatter's "%f", the .hgrm percentile distribution (Java's
// outputPercentileDistribution) and the .hlog interval log (Java's HistogramLogWriter).
#include "histogram_writers.hpp"

#include <zlib.h>

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <stdexcept>
#include <string>

#include "histogram_internal.hpp"

namespace poolbench {
namespace {

using histogram_internal::java_long_cast;

std::string format_integer(int64_t value, int width) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%*lld", width, static_cast<long long>(value));
  return buffer;
}

// ---- Java's %f ----

// A finite non-negative value as 0.DIGITS x 10^exponent.
struct DecimalDigits {
  std::string digits = "0";
  int exponent = 1;
};

// Java's FloatingDecimal gives the shortest digits that round-trip, except for integers in
// [2^53, 2^63), which it prints from the exact long value (rounding away 1 or 2 low digits
// above 2^58). (Known remaining difference: beyond 2^63 Java 17 is not always shortest, e.g.
// 1e23.)
DecimalDigits java_decimal_digits(double magnitude) {
  DecimalDigits decimal;
  if (magnitude >= 0x1p53 && magnitude < 0x1p63) {
    auto exact = static_cast<uint64_t>(magnitude);
    const int binary_exponent = 63 - std::countl_zero(exact);
    const int insignificant = binary_exponent >= 61 ? 2 : binary_exponent >= 58 ? 1 : 0;
    const uint64_t divisor = insignificant == 2 ? 100 : insignificant == 1 ? 10 : 1;
    const bool round_up = exact % divisor >= divisor / 2 && divisor > 1;
    exact = exact / divisor + (round_up ? 1 : 0);
    decimal.digits = std::to_string(exact);
    decimal.exponent = static_cast<int>(decimal.digits.size()) + insignificant;
  } else if (magnitude != 0.0) {
    char buffer[64];
    const auto result =
        std::to_chars(buffer, buffer + sizeof buffer, magnitude, std::chars_format::scientific);
    const std::string_view text(buffer, static_cast<size_t>(result.ptr - buffer));
    const size_t e = text.find('e');
    decimal.digits.clear();
    for (const char c : text.substr(0, e)) {
      if (c != '.') decimal.digits.push_back(c);
    }
    const bool negative_exponent = text[e + 1] == '-';
    int exponent_magnitude = 0;
    std::from_chars(text.data() + e + 2, text.data() + text.size(), exponent_magnitude);
    decimal.exponent = (negative_exponent ? -exponent_magnitude : exponent_magnitude) + 1;
  }
  return decimal;
}

// Formatter's HALF_UP rounding of those digits to `precision` places after the point.
void round_half_up(DecimalDigits& decimal, int precision) {
  std::string& digits = decimal.digits;
  const int keep = decimal.exponent + precision;  // significant digits left of the rounding point
  if (keep < 0) {
    decimal = DecimalDigits{};
  } else if (keep < static_cast<int>(digits.size())) {
    const bool round_up = digits[static_cast<size_t>(keep)] >= '5';
    digits.resize(static_cast<size_t>(keep));
    if (round_up) {
      int i = keep - 1;
      while (i >= 0 && digits[static_cast<size_t>(i)] == '9')
        digits[static_cast<size_t>(i--)] = '0';
      if (i < 0) {
        digits.insert(digits.begin(), '1');
        ++decimal.exponent;
      } else {
        ++digits[static_cast<size_t>(i)];
      }
    }
    if (digits.empty()) decimal = DecimalDigits{};
  }
}

// The digits in positional notation with exactly `precision` places after the point (and no
// point when there are none).
std::string positional_notation(const DecimalDigits& decimal, int precision) {
  const std::string& digits = decimal.digits;
  std::string integer_part;
  std::string fraction;
  if (decimal.exponent > 0) {
    const auto split = std::min(static_cast<size_t>(decimal.exponent), digits.size());
    integer_part = digits.substr(0, split);
    integer_part.append(static_cast<size_t>(decimal.exponent) - split, '0');
    fraction = digits.substr(split);
  } else {
    integer_part = "0";
    fraction = std::string(static_cast<size_t>(-decimal.exponent), '0') + digits;
  }
  fraction.resize(static_cast<size_t>(precision), '0');
  return precision > 0 ? integer_part + "." + fraction : integer_part;
}

// ---- .hgrm ----

// One line of the distribution: the value (scaled), the percentile level as a fraction, the
// running count and, except on the 100% line, 1 / (1 - fraction).
std::string percentile_line(const Histogram& histogram, double value, double level,
                            int64_t running_count, double scaling) {
  const double fraction = level / 100.0;
  std::string line = format_java_fixed(value / scaling, histogram.significant_digits(), 12) + " " +
                     format_java_fixed(fraction, 12, 2) + " " + format_integer(running_count, 10);
  if (level != 100.0) line += " " + format_java_fixed(1 / (1.0 - fraction), 2, 14);
  return line;
}

// Where Java's PercentileIterator stands: a bin and the running count through it.
struct PercentileCursor {
  int index = 0;
  bool fresh_bin = true;  // the bin's count is not in running_count yet
  int64_t running_count = 0;

  // Moves, from the current bin on, to the first non-empty bin where the running count reaches
  // `level` percent of `total`; false when no bin does.
  bool advance_to(const Histogram& histogram, double level, double total) {
    for (; index < histogram.counts_length(); ++index, fresh_bin = true) {
      const int64_t count = histogram.count_at_index(index);
      if (fresh_bin) {
        running_count += count;
        fresh_bin = false;
      }
      if (count != 0 && 100.0 * static_cast<double>(running_count) / total >= level) return true;
    }
    return false;
  }
};

// Levels advance by 100 / (ticks * 2^(floor(log2(100 / (100 - level))) + 1)), i.e. `ticks`
// lines per halving of the distance to 100%.
double next_percentile_level(double level, int ticks_per_half_distance) {
  const int64_t halvings = java_long_cast(std::log(100.0 / (100.0 - level)) / std::log(2.0));
  const int64_t ticks =
      int64_t{ticks_per_half_distance} *
      java_long_cast(std::pow(
          2.0, static_cast<double>(static_cast<int64_t>(static_cast<uint64_t>(halvings) + 1))));
  return level + 100.0 / static_cast<double>(ticks);
}

// Java's PercentileIterator: walk the bins; each time the running count reaches the next
// percentile level, print the level (not the actual percentile) at that bin's highest
// equivalent value. The last line is at 100%.
void write_percentile_lines(std::ostream& out, const Histogram& histogram, double scaling,
                            int ticks_per_half_distance) {
  const auto total = static_cast<double>(histogram.total_count());
  double level = 0.0;
  PercentileCursor cursor;
  bool reached_last = false;
  while (true) {
    if (cursor.running_count >= histogram.total_count()) {
      if (reached_last) break;
      level = 100.0;
      reached_last = true;
    }
    // No bin reaches the level only if it overshot 100% (Java throws here).
    if (!cursor.advance_to(histogram, level, total)) break;
    const auto value = static_cast<double>(
        histogram.highest_equivalent_value(histogram.value_from_index(cursor.index)));
    out << percentile_line(histogram, value, level, cursor.running_count, scaling) << '\n';
    const double next_level = next_percentile_level(level, ticks_per_half_distance);
    if (next_level == level && !reached_last) {
      // Above ~2^53 counts a running count short of the total can read as 100.0% and the
      // level stops moving: Java loops forever here; we end with the 100% line instead.
      out << percentile_line(histogram, static_cast<double>(histogram.max()), 100.0,
                             histogram.total_count(), scaling)
          << '\n';
      break;
    }
    level = next_level;
  }
}

}  // namespace

std::string format_java_fixed(double value, int precision, int width) {
  std::string body;
  if (std::isnan(value)) {
    body = "NaN";
  } else if (std::isinf(value)) {
    body = value > 0 ? "Infinity" : "-Infinity";
  } else {
    DecimalDigits decimal = java_decimal_digits(std::fabs(value));
    round_half_up(decimal, precision);
    // Java prints the sign of negative values and of -0.0 (Double.compare(v, 0.0) == -1).
    body = (std::signbit(value) ? "-" : "") + positional_notation(decimal, precision);
  }
  if (body.size() < static_cast<size_t>(width)) {
    body.insert(0, static_cast<size_t>(width) - body.size(), ' ');
  }
  return body;
}

void Histogram::write_hgrm(std::ostream& out, double scaling, int ticks_per_half_distance) const {
  char header[80];
  std::snprintf(header, sizeof header, "%12s %14s %10s %14s\n\n", "Value", "Percentile",
                "TotalCount", "1/(1-Percentile)");
  out << header;
  if (total_count_ > 0) write_percentile_lines(out, *this, scaling, ticks_per_half_distance);
  out << "#[Mean    = " << format_java_fixed(mean() / scaling, significant_digits_, 12)
      << ", StdDeviation   = " << format_java_fixed(stddev() / scaling, significant_digits_, 12)
      << "]\n";
  out << "#[Max     = "
      << format_java_fixed(static_cast<double>(max()) / scaling, significant_digits_, 12)
      << ", Total count    = " << format_integer(total_count_, 12) << "]\n";
  out << "#[Buckets = " << format_integer(bucket_count_, 12)
      << ", SubBuckets     = " << format_integer(sub_bucket_count_, 12) << "]\n";
}

// ---- .hlog ----

void HistogramLogWriter::write_comment(std::string_view text) {
  out_ << '#' << text << '\n';
}

void HistogramLogWriter::write_log_format_version() {
  write_comment("[Histogram log format version 1.3]");
}

void HistogramLogWriter::write_start_time(int64_t epoch_milliseconds) {
  // Java's Date.toString(): "EEE MMM dd HH:mm:ss zzz yyyy" in the local time zone.
  const std::time_t seconds = static_cast<std::time_t>(
      epoch_milliseconds >= 0 ? epoch_milliseconds / 1000 : (epoch_milliseconds - 999) / 1000);
  std::tm local{};
  localtime_r(&seconds, &local);
  char date[64];
  std::strftime(date, sizeof date, "%a %b %d %H:%M:%S %Z %Y", &local);
  out_ << "#[StartTime: " << format_java_fixed(static_cast<double>(epoch_milliseconds) / 1000.0, 3)
       << " (seconds since epoch), " << date << "]\n";
}

void HistogramLogWriter::write_base_time(int64_t epoch_milliseconds) {
  out_ << "#[BaseTime: " << format_java_fixed(static_cast<double>(epoch_milliseconds) / 1000.0, 3)
       << " (seconds since epoch)]\n";
}

void HistogramLogWriter::write_legend() {
  out_ << "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\","
          "\"Interval_Compressed_Histogram\"\n";
}

void HistogramLogWriter::write_interval(double start_seconds, double end_seconds,
                                        const Histogram& histogram, double max_value_unit_ratio,
                                        std::string_view tag) {
  if (tag.find_first_of(", \r\n") != std::string_view::npos) {
    throw std::invalid_argument("HistogramLogWriter: tag '" + std::string(tag) +
                                "' contains a comma, space or line break");
  }
  std::string line;
  if (!tag.empty()) line = "Tag=" + std::string(tag) + ",";
  line += format_java_fixed(start_seconds, 3) + "," +
          format_java_fixed(end_seconds - start_seconds, 3) + "," +
          format_java_fixed(static_cast<double>(histogram.max()) / max_value_unit_ratio, 3) + "," +
          histogram.encode_v2_base64(Z_BEST_COMPRESSION) + "\n";
  out_ << line;
}

}  // namespace poolbench
