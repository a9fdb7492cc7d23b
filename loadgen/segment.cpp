#include "segment.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <stdexcept>

namespace poolbench {

namespace {

// A whole number spanning all of `text`, or nothing.
bool parse_whole(std::string_view text, int& value) {
  const char* end = text.data() + text.size();
  const auto [stop, error] = std::from_chars(text.data(), end, value);
  return error == std::errc() && stop == end && !text.empty();
}

[[noreturn]] void bad_start_at(std::string_view text) {
  throw std::invalid_argument(
      "--start-at '" + std::string(text) +
      "' is neither epoch seconds (e.g. 1764650000.5) nor RFC 3339 (e.g. 2026-12-02T04:30:00Z "
      "or 2026-12-02T05:30:00+01:00); `date +%s -d '+30 sec'` gives one");
}

// "2026-12-02T04:30:00[.fff](Z|+hh:mm|-hh:mm)"; 't' and ' ' also separate date and time.
std::chrono::system_clock::time_point parse_rfc3339(std::string_view text) {
  std::tm parts{};
  char separator = 0;
  int consumed = 0;
  const std::string owned(text);
  if (std::sscanf(owned.c_str(), "%4d-%2d-%2d%c%2d:%2d:%2d%n", &parts.tm_year, &parts.tm_mon,
                  &parts.tm_mday, &separator, &parts.tm_hour, &parts.tm_min, &parts.tm_sec,
                  &consumed) != 7 ||
      (separator != 'T' && separator != 't' && separator != ' ') || parts.tm_mon < 1 ||
      parts.tm_mon > 12 || parts.tm_mday < 1 || parts.tm_mday > 31 || parts.tm_hour > 23 ||
      parts.tm_min > 59 || parts.tm_sec > 60) {
    bad_start_at(text);  // (timegm would quietly carry month 13 into the next year)
  }
  std::string_view rest = text.substr(static_cast<std::size_t>(consumed));
  double fraction = 0;
  if (!rest.empty() && rest.front() == '.') {
    std::size_t digits = 1;
    while (digits < rest.size() && rest[digits] >= '0' && rest[digits] <= '9')
      ++digits;
    if (digits == 1) bad_start_at(text);
    fraction = std::stod("0" + std::string(rest.substr(0, digits)));
    rest.remove_prefix(digits);
  }
  int offset_s = 0;
  if (rest == "Z" || rest == "z") {
  } else if (rest.size() == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':') {
    int hours = 0;
    int minutes = 0;
    if (!parse_whole(rest.substr(1, 2), hours) || !parse_whole(rest.substr(4, 2), minutes)) {
      bad_start_at(text);
    }
    offset_s = (rest[0] == '-' ? -1 : 1) * (hours * 3600 + minutes * 60);
  } else {
    bad_start_at(text);
  }
  parts.tm_year -= 1900;
  parts.tm_mon -= 1;
  const std::time_t utc = timegm(&parts);
  if (utc == -1) bad_start_at(text);
  const double epoch_s = static_cast<double>(utc - offset_s) + fraction;
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::duration<double>(epoch_s)));
}

}  // namespace

Segment parse_segment(std::string_view text) {
  const auto slash = text.find('/');
  Segment segment;
  if (slash == std::string_view::npos || !parse_whole(text.substr(0, slash), segment.index) ||
      !parse_whole(text.substr(slash + 1), segment.count)) {
    throw std::invalid_argument("--segment '" + std::string(text) +
                                "' is not i/N (share i of N, counted from 0, e.g. 0/4)");
  }
  if (segment.count < 1 || segment.index < 0 || segment.index >= segment.count) {
    throw std::invalid_argument("--segment " + std::string(text) +
                                ": N must be at least 1 and i between 0 and N - 1");
  }
  return segment;
}

std::string to_string(const Segment& segment) {
  return std::to_string(segment.index) + "/" + std::to_string(segment.count);
}

std::uint64_t share_of(std::uint64_t total, const Segment& segment) {
  const auto count = static_cast<std::uint64_t>(segment.count);
  const auto index = static_cast<std::uint64_t>(segment.index);
  return total / count + (index < total % count ? 1 : 0);
}

std::chrono::system_clock::time_point parse_start_at(std::string_view text) {
  if (text.empty()) bad_start_at(text);
  if (text.find_first_of("-:T") == std::string_view::npos || text.front() == '-') {
    // Epoch seconds, with an optional fraction.
    std::size_t used = 0;
    double epoch_s = 0;
    try {
      epoch_s = std::stod(std::string(text), &used);
    } catch (const std::exception&) {
      bad_start_at(text);
    }
    if (used != text.size() || !std::isfinite(epoch_s) || epoch_s <= 0) bad_start_at(text);
    return std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(
            std::chrono::duration<double>(epoch_s)));
  }
  return parse_rfc3339(text);
}

}  // namespace poolbench
