// Helpers shared by the files that implement poolbench_histogram (histogram.cpp,
// histogram_codec.cpp, histogram_writers.cpp); not part of its interface, so include it only
// from those files.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

namespace poolbench::histogram_internal {

// "<what> (got <value>)": the message of a rejected argument or header field.
inline std::string message_with_value(const char* what, int64_t value) {
  return std::string(what) + " (got " + std::to_string(value) + ")";
}

// Java's (long) cast of a double: saturating, NaN -> 0 (a C++ cast would be undefined). The
// percentile rule and the .hgrm writer convert through it so that they round as Java does.
inline int64_t java_long_cast(double value) {
  if (std::isnan(value)) return 0;
  if (value >= 9.2233720368547758e18) return std::numeric_limits<int64_t>::max();
  if (value <= -9.2233720368547758e18) return std::numeric_limits<int64_t>::min();
  return static_cast<int64_t>(value);
}

}  // namespace poolbench::histogram_internal
