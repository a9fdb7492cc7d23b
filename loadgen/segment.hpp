// A share of one load split over several generator processes, possibly on several hosts
// (loadgen/README.md §11): which share this process runs (--segment i/N) and the wall-clock
// instant every share starts at (--start-at).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace poolbench {

// This process's share of one load split over several generator processes (--segment i/N,
// loadgen/README.md §11): connections and closed-loop --requests are divided, the open-loop
// plan is one plan whose arrivals the shares take in turn (schedule.hpp).
struct Segment {
  int index = 0;
  int count = 1;
  bool operator==(const Segment&) const = default;
};
Segment parse_segment(std::string_view text);   // "i/N"; throws std::invalid_argument
std::string to_string(const Segment& segment);  // "i/N"
// Share `segment.index` of `total` items split as evenly as possible (the first total % N
// shares get one more).
std::uint64_t share_of(std::uint64_t total, const Segment& segment);

// --start-at: epoch seconds ("1764650000.25") or RFC 3339 ("2026-12-02T04:30:00Z",
// "...+01:00"); throws std::invalid_argument.
std::chrono::system_clock::time_point parse_start_at(std::string_view text);
// How far in the past --start-at may be when the run begins, and how far ahead.
constexpr std::chrono::seconds kStartAtPastTolerance{2};
constexpr std::chrono::hours kStartAtFurthestAhead{24};

}  // namespace poolbench
