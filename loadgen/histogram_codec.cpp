// The HdrHistogram V2 codec, as Java's encodeIntoCompressedByteBuffer and
// decodeFromCompressedByteBuffer: the counts array as ZigZag LEB128 with runs of zeros, behind a
// 40-byte header, zlib-compressed behind an 8-byte one, and base64 for text.
#include <zlib.h>

#include <array>
#include <bit>
#include <cstdio>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>

#include "histogram.hpp"
#include "histogram_internal.hpp"

namespace poolbench {
namespace {

using histogram_internal::message_with_value;

// V2 cookies as Java writes them; readers mask out bits 4-7 (Java's old word-size nibble).
constexpr uint32_t kV2EncodingCookie = 0x1c849313;
constexpr uint32_t kV2CompressedEncodingCookie = 0x1c849314;
constexpr uint32_t kCookieMask = ~uint32_t{0xf0};
constexpr size_t kV2HeaderSize = 40;
constexpr int kMaxLeb128Bytes = 9;  // 8 x 7 bits + a 9th byte carrying 8 full bits

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
  if (rc != Z_OK) throw std::invalid_argument(message_with_value("zlib compress2 failed", rc));
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

// The zlib stream of a V2 compressed histogram, once its 8-byte header (cookie, stream length)
// has been checked against the input.
std::string_view compressed_stream(std::string_view bytes) {
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
        message_with_value("histogram V2: compressed length exceeds the input", compressed_length));
  }
  return bytes.substr(8, static_cast<size_t>(compressed_length));
}

// The fields of the 40-byte V2 header that decoding uses.
struct V2Header {
  int32_t payload_length;
  int32_t digits;
  int64_t lowest;
  int64_t highest;
};

V2Header read_v2_header(Inflater& inflater) {
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
    throw std::invalid_argument(message_with_value(
        "histogram V2: normalizingIndexOffset != 0 is not supported", normalizing_index_offset));
  }
  return {payload_length, digits, lowest, highest};
}

// An empty histogram of the header's shape; a shape the constructor refuses is a bad header.
Histogram histogram_of_shape(const V2Header& header) {
  try {
    return Histogram(header.lowest, header.highest, header.digits);
  } catch (const std::invalid_argument& error) {
    throw std::invalid_argument(std::string("histogram V2: bad header: ") + error.what());
  }
}

}  // namespace

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
  Inflater inflater(compressed_stream(bytes));
  const V2Header header = read_v2_header(inflater);
  Histogram histogram = histogram_of_shape(header);
  const int64_t max_payload = int64_t{histogram.counts_length_} * kMaxLeb128Bytes;
  if (header.payload_length < 0 || header.payload_length > max_payload) {
    throw std::invalid_argument(message_with_value(
        "histogram V2: payload length does not fit the histogram's counts", header.payload_length));
  }
  const std::string payload = inflater.read(static_cast<size_t>(header.payload_length), "counts");
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

}  // namespace poolbench
