// The one clock both programs time with: steady (never jumps with the wall clock), nanosecond
// ticks. Intended send times, reply times, stage timings and deadlines are all on it, so any two
// of them can be subtracted.
#pragma once

#include <chrono>

namespace poolbench {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;

}  // namespace poolbench
