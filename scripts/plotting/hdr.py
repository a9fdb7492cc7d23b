"""HdrHistogram V2 (the "HISTFAAA..." strings): decoding, value at percentile, mean.

Format and arithmetic as in HdrHistogram (Java) AbstractHistogram; the layout is described at
the top of loadgen/histogram.hpp.
Standard library only: compare.py and the tests use it without matplotlib.
"""

import base64
import math
import struct
import zlib

_V2_COMPRESSED_COOKIE = 0x1C849314  # outer: int32 cookie, int32 length, then a zlib stream
_V2_ENCODING_COOKIE = 0x1C849313  # inner: the 40-byte header below, then the counts
_V2_HEADER = struct.Struct(">iiiiqqd")  # cookie, payload length, normalizing index offset,
#                                         significant digits, lowest, highest, conversion ratio


class HdrError(ValueError):
    """A histogram string that is not an HdrHistogram V2 (compressed) encoding."""


def _read_zigzag_leb128(data, pos):
    """One ZigZag LEB128 int64 as HdrHistogram writes it: at most 9 bytes, the 9th 8 bits."""
    value = 0
    for i in range(9):
        if pos >= len(data):
            raise HdrError("counts end in the middle of a number")
        byte = data[pos]
        pos += 1
        if i == 8:
            value |= byte << 56
            break
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            break
    return (value >> 1) ^ -(value & 1), pos


class HdrHistogram:
    """A decoded histogram: counts by index, plus the layout needed to turn indices into values."""

    def __init__(self, lowest, highest, digits, counts):
        if lowest < 1 or not 0 <= digits <= 5:
            raise HdrError(f"bad histogram layout: lowest {lowest}, {digits} digits")
        self.lowest = lowest
        self.highest = highest
        self.digits = digits
        largest_single_unit = 2 * 10 ** digits
        sub_bucket_count_magnitude = math.ceil(math.log2(largest_single_unit))
        self.sub_bucket_half_count_magnitude = max(sub_bucket_count_magnitude, 1) - 1
        self.sub_bucket_count = 1 << (self.sub_bucket_half_count_magnitude + 1)
        self.sub_bucket_half_count = self.sub_bucket_count // 2
        self.unit_magnitude = int(math.floor(math.log2(lowest)))
        self.sub_bucket_mask = (self.sub_bucket_count - 1) << self.unit_magnitude
        self.counts = counts  # {index: count}, only the non-zero ones
        self.total_count = sum(counts.values())

    @classmethod
    def decode(cls, text):
        """Decodes a base64 V2 compressed histogram (``HISTFAAA...``)."""
        try:
            raw = base64.b64decode(text, validate=True)
        except (ValueError, TypeError) as e:
            raise HdrError(f"not base64: {e}") from None
        if len(raw) < 8:
            raise HdrError("too short for a compressed histogram")
        cookie, length = struct.unpack_from(">ii", raw)
        if cookie != _V2_COMPRESSED_COOKIE:
            raise HdrError(f"cookie 0x{cookie & 0xFFFFFFFF:08x} is not V2 compressed "
                           f"(0x{_V2_COMPRESSED_COOKIE:08x})")
        try:
            body = zlib.decompress(raw[8:8 + length])
        except zlib.error as e:
            raise HdrError(f"bad zlib stream: {e}") from None
        if len(body) < _V2_HEADER.size:
            raise HdrError("header cut short")
        (cookie, payload_length, normalizing_offset, digits, lowest, highest,
         _ratio) = _V2_HEADER.unpack_from(body)
        if cookie != _V2_ENCODING_COOKIE:
            raise HdrError(f"inner cookie 0x{cookie & 0xFFFFFFFF:08x} is not V2 "
                           f"(0x{_V2_ENCODING_COOKIE:08x})")
        if normalizing_offset != 0:
            raise HdrError("normalizing index offset != 0 is not supported")
        payload = body[_V2_HEADER.size:_V2_HEADER.size + payload_length]
        if len(payload) != payload_length:
            raise HdrError("payload cut short")
        counts, index, pos = {}, 0, 0
        while pos < len(payload):
            count, pos = _read_zigzag_leb128(payload, pos)
            if count < 0:
                index += -count  # a run of zero counts
            else:
                if count:
                    counts[index] = count
                index += 1
        return cls(lowest, highest, digits, counts)

    # Index <-> value, as AbstractHistogram does it.
    def value_from_index(self, index):
        bucket = (index >> self.sub_bucket_half_count_magnitude) - 1
        sub_bucket = (index & (self.sub_bucket_half_count - 1)) + self.sub_bucket_half_count
        if bucket < 0:
            sub_bucket -= self.sub_bucket_half_count
            bucket = 0
        return sub_bucket << (bucket + self.unit_magnitude)

    def _size_of_equivalent_range(self, value):
        leading_zero_count_base = 64 - self.unit_magnitude - self.sub_bucket_half_count_magnitude - 1
        bucket = leading_zero_count_base - (64 - (value | self.sub_bucket_mask).bit_length())
        sub_bucket = value >> (bucket + self.unit_magnitude)
        adjusted = bucket + 1 if sub_bucket >= self.sub_bucket_count else bucket
        return 1 << (self.unit_magnitude + adjusted)

    def lowest_equivalent(self, index):
        return self.value_from_index(index)

    def highest_equivalent(self, index):
        value = self.value_from_index(index)
        return value + self._size_of_equivalent_range(value) - 1

    def median_equivalent(self, index):
        value = self.value_from_index(index)
        return value + (self._size_of_equivalent_range(value) >> 1)

    def bins(self):
        """[(highest equivalent value, count)] of the non-empty bins, in value order."""
        return [(self.highest_equivalent(i), self.counts[i]) for i in sorted(self.counts)]

    @property
    def max(self):
        return self.highest_equivalent(max(self.counts)) if self.counts else 0

    @property
    def min(self):
        return self.lowest_equivalent(min(self.counts)) if self.counts else 0

    @property
    def mean(self):
        if not self.total_count:
            return 0.0
        return sum(self.median_equivalent(i) * c for i, c in self.counts.items()) / self.total_count

    @property
    def stdev(self):
        if not self.total_count:
            return 0.0
        mean = self.mean
        return math.sqrt(sum((self.median_equivalent(i) - mean) ** 2 * c
                             for i, c in self.counts.items()) / self.total_count)

    def values_at_percentiles(self, percentiles):
        """HdrHistogram's getValueAtPercentile for each p (0..100), in one pass over the counts.

        rank = max(1, ceil(p/100 * N)) with p nudged down by one ulp; the answer is the highest
        equivalent value of the first bin whose running count reaches the rank (lowest for p=0).
        """
        if not self.total_count:
            return [0 for _ in percentiles]
        order = sorted(range(len(percentiles)), key=lambda k: percentiles[k])
        indices = sorted(self.counts)
        results = [0] * len(percentiles)
        running, at = 0, -1
        for k in order:
            p = min(max(math.nextafter(percentiles[k], -math.inf), 0.0), 100.0)
            rank = max(1, math.ceil(p / 100.0 * self.total_count))
            while running < rank:
                at += 1
                running += self.counts[indices[at]]
            index = indices[at]
            results[k] = (self.lowest_equivalent(index) if percentiles[k] == 0
                          else self.highest_equivalent(index))
        return results

    def value_at_percentile(self, percentile):
        return self.values_at_percentiles([percentile])[0]

    def spectrum(self, steps_per_decade=20):
        """[(p in %, value)] for 1/(1-p) = 10^(k/steps) up to the total count, then 100%."""
        if not self.total_count:
            return []
        percentiles = []
        k = 0
        while True:
            one_over = 10 ** (k / steps_per_decade)
            if one_over > self.total_count:
                break
            percentiles.append(100.0 * (1.0 - 1.0 / one_over))
            k += 1
        values = self.values_at_percentiles(percentiles)
        return list(zip(percentiles, values))
