#include "histogram.hpp"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <limits>
#include <stdexcept>
#include <string>

namespace poolbench {
namespace {

// V2 cookies as Java writes them; readers mask out bits 4-7 (Java's old word-size nibble).
constexpr uint32_t kV2EncodingCookie = 0x1c849313;
constexpr uint32_t kV2CompressedEncodingCookie = 0x1c849314;
constexpr uint32_t kCookieMask = ~uint32_t{0xf0};
constexpr size_t kV2HeaderSize = 40;
constexpr int kMaxLeb128Bytes = 9;  // 8 x 7 bits + a 9th byte carrying 8 full bits

std::string describe(const char* what, int64_t value) {
  return std::string(what) + " (got " + std::to_string(value) + ")";
}

// Java's (long) cast of a double: saturating, NaN -> 0 (a C++ cast would be undefined).
int64_t java_d2l(double value) {
  if (std::isnan(value)) return 0;
  if (value >= 9.2233720368547758e18) return std::numeric_limits<int64_t>::max();
  if (value <= -9.2233720368547758e18) return std::numeric_limits<int64_t>::min();
  return static_cast<int64_t>(value);
}

// ---- big-endian fixed-width fields ----

void put_be32(std::string& out, uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>(value >> shift));
}
void put_be64(std::string& out, uint64_t value) {
  for (int shift = 56; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>(value >> shift));
}
uint64_t get_be(std::string_view bytes, size_t offset, int width) {
  uint64_t value = 0;
  for (int i = 0; i < width; ++i) {
    value = (value << 8) | static_cast<unsigned char>(bytes[offset + static_cast<size_t>(i)]);
  }
  return value;
}

// ---- ZigZag LEB128, as HdrHistogram's ZigZagEncoding ----

void put_zigzag(std::string& out, int64_t value) {
  uint64_t bits = (static_cast<uint64_t>(value) << 1) ^ static_cast<uint64_t>(value >> 63);
  for (int i = 1; i < kMaxLeb128Bytes; ++i) {
    if ((bits >> 7) == 0) {
      out.push_back(static_cast<char>(bits));
      return;
    }
    out.push_back(static_cast<char>((bits & 0x7f) | 0x80));
    bits >>= 7;
  }
  out.push_back(static_cast<char>(bits));  // 9th byte: the remaining 8 bits, no continuation
}

int64_t get_zigzag(std::string_view bytes, size_t& pos) {
  uint64_t bits = 0;
  for (int i = 0; i < kMaxLeb128Bytes; ++i) {
    if (pos >= bytes.size()) {
      throw std::invalid_argument("histogram V2: truncated count in the payload");
    }
    const auto byte = static_cast<unsigned char>(bytes[pos++]);
    if (i == kMaxLeb128Bytes - 1) {
      bits |= static_cast<uint64_t>(byte) << 56;
      break;
    }
    bits |= static_cast<uint64_t>(byte & 0x7f) << (7 * i);
    if ((byte & 0x80) == 0) break;
  }
  return static_cast<int64_t>((bits >> 1) ^ (~(bits & 1) + 1));
}

// ---- base64 (RFC 4648, padded), as Java's Base64Helper ----

constexpr std::string_view kBase64Alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const auto chunk = static_cast<uint32_t>(get_be(bytes, i, 3));
    for (int shift = 18; shift >= 0; shift -= 6)
      out.push_back(kBase64Alphabet[(chunk >> shift) & 63]);
  }
  const size_t rest = bytes.size() - i;
  if (rest > 0) {
    const uint32_t chunk = static_cast<uint32_t>(get_be(bytes, i, static_cast<int>(rest)))
                           << (rest == 1 ? 16 : 8);
    out.push_back(kBase64Alphabet[(chunk >> 18) & 63]);
    out.push_back(kBase64Alphabet[(chunk >> 12) & 63]);
    out.push_back(rest == 2 ? kBase64Alphabet[(chunk >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

std::string base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) {
    throw std::invalid_argument("histogram base64: length " + std::to_string(text.size()) +
                                " is not a multiple of 4");
  }
  std::array<int, 256> sextet{};
  sextet.fill(-1);
  for (size_t i = 0; i < kBase64Alphabet.size(); ++i) {
    sextet[static_cast<unsigned char>(kBase64Alphabet[i])] = static_cast<int>(i);
  }
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    const int padding = last ? (text[i + 3] == '=') + (text[i + 2] == '=') : 0;
    uint32_t chunk = 0;
    for (size_t j = 0; j < 4; ++j) {
      const char c = text[i + j];
      int value = 0;
      if (j >= 4 - static_cast<size_t>(padding)) {
        if (c != '=') throw std::invalid_argument("histogram base64: misplaced padding");
      } else {
        value = sextet[static_cast<unsigned char>(c)];
        if (value < 0) {
          throw std::invalid_argument("histogram base64: invalid character at offset " +
                                      std::to_string(i + j));
        }
      }
      chunk = (chunk << 6) | static_cast<uint32_t>(value);
    }
    out.push_back(static_cast<char>(chunk >> 16));
    if (padding < 2) out.push_back(static_cast<char>(chunk >> 8));
    if (padding < 1) out.push_back(static_cast<char>(chunk));
  }
  return out;
}

// ---- zlib ----

std::string zlib_compress(std::string_view bytes, int level) {
  uLongf length = compressBound(static_cast<uLong>(bytes.size()));
  std::string out(length, '\0');
  const int rc = compress2(reinterpret_cast<Bytef*>(out.data()), &length,
                           reinterpret_cast<const Bytef*>(bytes.data()),
                           static_cast<uLong>(bytes.size()), level);
  if (rc != Z_OK) throw std::invalid_argument(describe("zlib compress2 failed", rc));
  out.resize(length);
  return out;
}

// Reads a zlib stream in pieces, so that the payload size can be checked against the header
// before anything large is allocated.
class Inflater {
 public:
  explicit Inflater(std::string_view input) {
    stream_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(input.data()));
    stream_.avail_in = static_cast<uInt>(input.size());
    if (inflateInit(&stream_) != Z_OK) throw std::runtime_error("zlib inflateInit failed");
  }
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;
  ~Inflater() { inflateEnd(&stream_); }

  // Exactly `size` more bytes, or std::invalid_argument.
  std::string read(size_t size, const char* what) {
    std::string out(size, '\0');
    stream_.next_out = reinterpret_cast<Bytef*>(out.data());
    stream_.avail_out = static_cast<uInt>(size);
    while (stream_.avail_out > 0) {
      const int rc = inflate(&stream_, Z_NO_FLUSH);
      if (rc == Z_STREAM_END) break;
      if (rc != Z_OK) {
        throw std::invalid_argument(std::string("histogram V2: corrupt zlib stream in the ") +
                                    what + (stream_.msg ? std::string(": ") + stream_.msg : ""));
      }
    }
    if (stream_.avail_out > 0) {
      throw std::invalid_argument(std::string("histogram V2: zlib stream ends inside the ") + what);
    }
    return out;
  }

 private:
  z_stream stream_{};
};

std::string_view trim(std::string_view text) {
  const auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!text.empty() && is_space(text.front()))
    text.remove_prefix(1);
  while (!text.empty() && is_space(text.back()))
    text.remove_suffix(1);
  return text;
}

std::string format_integer(int64_t value, int width) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%*lld", width, static_cast<long long>(value));
  return buffer;
}

}  // namespace

// ---- Java's %f ----

std::string format_java_fixed(double value, int precision, int width) {
  std::string body;
  if (std::isnan(value)) {
    body = "NaN";
  } else if (std::isinf(value)) {
    body = value > 0 ? "Infinity" : "-Infinity";
  } else {
    // Java's FloatingDecimal gives the shortest digits that round-trip, except for integers in
    // [2^53, 2^63), which it prints from the exact long value (rounding away 1 or 2 low digits
    // above 2^58); Formatter then rounds those digits HALF_UP. Value = 0.DIGITS x 10^exponent.
    // (Known remaining difference: beyond 2^63 Java 17 is not always shortest, e.g. 1e23.)
    std::string digits = "0";
    int exponent = 1;
    const double magnitude = std::fabs(value);
    if (magnitude >= 0x1p53 && magnitude < 0x1p63) {
      auto exact = static_cast<uint64_t>(magnitude);
      const int binary_exponent = 63 - std::countl_zero(exact);
      const int insignificant = binary_exponent >= 61 ? 2 : binary_exponent >= 58 ? 1 : 0;
      const uint64_t divisor = insignificant == 2 ? 100 : insignificant == 1 ? 10 : 1;
      const bool round_up = exact % divisor >= divisor / 2 && divisor > 1;
      exact = exact / divisor + (round_up ? 1 : 0);
      digits = std::to_string(exact);
      exponent = static_cast<int>(digits.size()) + insignificant;
    } else if (magnitude != 0.0) {
      char buffer[64];
      const auto result =
          std::to_chars(buffer, buffer + sizeof buffer, magnitude, std::chars_format::scientific);
      const std::string_view text(buffer, static_cast<size_t>(result.ptr - buffer));
      const size_t e = text.find('e');
      digits.clear();
      for (const char c : text.substr(0, e)) {
        if (c != '.') digits.push_back(c);
      }
      const bool negative_exponent = text[e + 1] == '-';
      int exponent_magnitude = 0;
      std::from_chars(text.data() + e + 2, text.data() + text.size(), exponent_magnitude);
      exponent = (negative_exponent ? -exponent_magnitude : exponent_magnitude) + 1;
    }
    const int keep = exponent + precision;  // significant digits left of the rounding point
    if (keep < 0) {
      digits = "0";
      exponent = 1;
    } else if (keep < static_cast<int>(digits.size())) {
      const bool round_up = digits[static_cast<size_t>(keep)] >= '5';
      digits.resize(static_cast<size_t>(keep));
      if (round_up) {
        int i = keep - 1;
        while (i >= 0 && digits[static_cast<size_t>(i)] == '9')
          digits[static_cast<size_t>(i--)] = '0';
        if (i < 0) {
          digits.insert(digits.begin(), '1');
          ++exponent;
        } else {
          ++digits[static_cast<size_t>(i)];
        }
      }
      if (digits.empty()) {
        digits = "0";
        exponent = 1;
      }
    }
    std::string integer_part;
    std::string fraction;
    if (exponent > 0) {
      const auto split = std::min(static_cast<size_t>(exponent), digits.size());
      integer_part = digits.substr(0, split);
      integer_part.append(static_cast<size_t>(exponent) - split, '0');
      fraction = digits.substr(split);
    } else {
      integer_part = "0";
      fraction = std::string(static_cast<size_t>(-exponent), '0') + digits;
    }
    fraction.resize(static_cast<size_t>(precision), '0');
    // Java prints the sign of negative values and of -0.0 (Double.compare(v, 0.0) == -1).
    body = (std::signbit(value) ? "-" : "") + integer_part;
    if (precision > 0) body += "." + fraction;
  }
  if (body.size() < static_cast<size_t>(width)) {
    body.insert(0, static_cast<size_t>(width) - body.size(), ' ');
  }
  return body;
}

// ---- Histogram ----

Histogram::Histogram(int64_t lowest_discernible, int64_t highest_trackable, int significant_digits)
    : lowest_discernible_(lowest_discernible),
      highest_trackable_(highest_trackable),
      significant_digits_(significant_digits) {
  if (lowest_discernible < 1) {
    throw std::invalid_argument(
        describe("Histogram: lowest_discernible must be >= 1", lowest_discernible));
  }
  if (highest_trackable / 2 < lowest_discernible) {  // highest < 2 * lowest, without overflow
    throw std::invalid_argument(describe(
        "Histogram: highest_trackable must be >= 2 * lowest_discernible", highest_trackable));
  }
  if (significant_digits < 0 || significant_digits > 5) {
    throw std::invalid_argument(
        describe("Histogram: significant_digits must be between 0 and 5", significant_digits));
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
  throw std::invalid_argument(describe("Histogram::record_n: count must be >= 0", count));
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
  const int64_t rank =
      std::isnan(fractional_rank) ? 1 : std::max<int64_t>(java_d2l(std::ceil(fractional_rank)), 1);
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

// ---- V2 encoding ----

std::string Histogram::encode_v2(int zlib_level) const {
  // Java writes the counts up to the bin of the largest value (one zero count when empty);
  // a run of k >= 2 zero counts becomes the single count -k.
  const int relevant_length = counts_index(max_value_) + 1;
  std::string payload;
  payload.reserve(static_cast<size_t>(relevant_length) / 4 + 16);
  for (int i = 0; i < relevant_length;) {
    const int64_t count = counts_[static_cast<size_t>(i++)];
    if (count != 0) {
      put_zigzag(payload, count);
      continue;
    }
    int64_t zeros = 1;
    while (i < relevant_length && counts_[static_cast<size_t>(i)] == 0) {
      ++zeros;
      ++i;
    }
    put_zigzag(payload, zeros > 1 ? -zeros : 0);
  }

  std::string uncompressed;
  uncompressed.reserve(kV2HeaderSize + payload.size());
  put_be32(uncompressed, kV2EncodingCookie);
  put_be32(uncompressed, static_cast<uint32_t>(payload.size()));
  put_be32(uncompressed, 0);  // normalizingIndexOffset
  put_be32(uncompressed, static_cast<uint32_t>(significant_digits_));
  put_be64(uncompressed, static_cast<uint64_t>(lowest_discernible_));
  put_be64(uncompressed, static_cast<uint64_t>(highest_trackable_));
  put_be64(uncompressed, std::bit_cast<uint64_t>(1.0));  // integerToDoubleValueConversionRatio
  uncompressed += payload;

  const std::string compressed = zlib_compress(uncompressed, zlib_level);
  std::string out;
  out.reserve(8 + compressed.size());
  put_be32(out, kV2CompressedEncodingCookie);
  put_be32(out, static_cast<uint32_t>(compressed.size()));
  out += compressed;
  return out;
}

std::string Histogram::encode_v2_base64(int zlib_level) const {
  return base64_encode(encode_v2(zlib_level));
}

Histogram Histogram::decode_v2_base64(std::string_view text) {
  return decode_v2(base64_decode(trim(text)));
}

Histogram Histogram::decode_v2(std::string_view bytes) {
  if (bytes.size() < 8) {
    throw std::invalid_argument("histogram V2: " + std::to_string(bytes.size()) +
                                " bytes, too short for the 8-byte compressed header");
  }
  const auto cookie = static_cast<uint32_t>(get_be(bytes, 0, 4));
  if ((cookie & kCookieMask) != (kV2CompressedEncodingCookie & kCookieMask)) {
    char message[96];
    std::snprintf(message, sizeof message,
                  "histogram V2: cookie 0x%08x is not a V2 compressed histogram (0x%08x)", cookie,
                  kV2CompressedEncodingCookie);
    throw std::invalid_argument(message);
  }
  const auto compressed_length = static_cast<int32_t>(get_be(bytes, 4, 4));
  if (compressed_length < 0 || static_cast<size_t>(compressed_length) > bytes.size() - 8) {
    throw std::invalid_argument(
        describe("histogram V2: compressed length exceeds the input", compressed_length));
  }
  Inflater inflater(bytes.substr(8, static_cast<size_t>(compressed_length)));
  const std::string header = inflater.read(kV2HeaderSize, "header");
  const auto inner_cookie = static_cast<uint32_t>(get_be(header, 0, 4));
  if ((inner_cookie & kCookieMask) != (kV2EncodingCookie & kCookieMask)) {
    throw std::invalid_argument("histogram V2: bad inner cookie (not a V2 histogram payload)");
  }
  const auto payload_length = static_cast<int32_t>(get_be(header, 4, 4));
  const auto normalizing_index_offset = static_cast<int32_t>(get_be(header, 8, 4));
  const auto digits = static_cast<int32_t>(get_be(header, 12, 4));
  const auto lowest = static_cast<int64_t>(get_be(header, 16, 8));
  const auto highest = static_cast<int64_t>(get_be(header, 24, 8));
  // Bytes 32..39: integerToDoubleValueConversionRatio, only meaningful to DoubleHistogram.
  if (normalizing_index_offset != 0) {
    throw std::invalid_argument(describe(
        "histogram V2: normalizingIndexOffset != 0 is not supported", normalizing_index_offset));
  }
  Histogram histogram = [&] {
    try {
      return Histogram(lowest, highest, digits);
    } catch (const std::invalid_argument& error) {
      throw std::invalid_argument(std::string("histogram V2: bad header: ") + error.what());
    }
  }();
  const int64_t max_payload = int64_t{histogram.counts_length_} * kMaxLeb128Bytes;
  if (payload_length < 0 || payload_length > max_payload) {
    throw std::invalid_argument(describe(
        "histogram V2: payload length does not fit the histogram's counts", payload_length));
  }
  const std::string payload = inflater.read(static_cast<size_t>(payload_length), "counts");
  size_t pos = 0;
  int64_t index = 0;
  while (pos < payload.size()) {
    const int64_t count = get_zigzag(payload, pos);
    // A negative count is a run of zeros (and the most negative one has no positive twin).
    const int64_t run = count == std::numeric_limits<int64_t>::min() ? histogram.counts_length_ + 1
                        : count < 0                                  ? -count
                                                                     : 1;
    if (run > histogram.counts_length_ - index) {
      throw std::invalid_argument("histogram V2: more counts than the histogram's " +
                                  std::to_string(histogram.counts_length_) + " bins");
    }
    if (count > 0) histogram.counts_[static_cast<size_t>(index)] = count;
    index += run;
  }
  histogram.establish_tracking_values();
  return histogram;
}

// ---- .hgrm ----

void Histogram::write_hgrm(std::ostream& out, double scaling, int ticks_per_half_distance) const {
  char header[80];
  std::snprintf(header, sizeof header, "%12s %14s %10s %14s\n\n", "Value", "Percentile",
                "TotalCount", "1/(1-Percentile)");
  out << header;

  // Java's PercentileIterator: walk the bins; each time the running count reaches the next
  // percentile level, print the level (not the actual percentile) at that bin's highest
  // equivalent value. Levels advance by 100 / (ticks * 2^(floor(log2(100 / (100 - level))) + 1)),
  // i.e. `ticks` lines per halving of the distance to 100%; the last line is at 100%.
  if (total_count_ > 0) {
    const auto total = static_cast<double>(total_count_);
    double level = 0.0;
    int64_t running_count = 0;
    int index = 0;
    bool fresh_bin = true;
    bool reached_last = false;
    while (true) {
      if (running_count >= total_count_) {
        if (reached_last) break;
        level = 100.0;
        reached_last = true;
      }
      bool found = false;
      for (; index < counts_length_; ++index, fresh_bin = true) {
        const int64_t count = counts_[static_cast<size_t>(index)];
        if (fresh_bin) {
          running_count += count;
          fresh_bin = false;
        }
        if (count != 0 && 100.0 * static_cast<double>(running_count) / total >= level) {
          found = true;
          break;
        }
      }
      if (!found) break;  // only if the level overshot 100% (Java throws here)
      const double value = static_cast<double>(highest_equivalent_value(value_from_index(index)));
      const double fraction = level / 100.0;
      std::string line = format_java_fixed(value / scaling, significant_digits_, 12) + " " +
                         format_java_fixed(fraction, 12, 2) + " " +
                         format_integer(running_count, 10);
      if (level != 100.0) line += " " + format_java_fixed(1 / (1.0 - fraction), 2, 14);
      out << line << '\n';

      const int64_t halvings = java_d2l(std::log(100.0 / (100.0 - level)) / std::log(2.0));
      const int64_t ticks =
          int64_t{ticks_per_half_distance} *
          java_d2l(std::pow(
              2.0, static_cast<double>(static_cast<int64_t>(static_cast<uint64_t>(halvings) + 1))));
      const double next_level = level + 100.0 / static_cast<double>(ticks);
      if (next_level == level && !reached_last) {
        // Above ~2^53 counts a running count short of the total can read as 100.0% and the
        // level stops moving: Java loops forever here; we end with the 100% line instead.
        out << format_java_fixed(static_cast<double>(max()) / scaling, significant_digits_, 12)
            << " " << format_java_fixed(1.0, 12, 2) << " " << format_integer(total_count_, 10)
            << '\n';
        break;
      }
      level = next_level;
    }
  }

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
