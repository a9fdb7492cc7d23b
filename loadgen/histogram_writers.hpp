// Java-compatible text output of histograms: the .hlog interval log writer and Java's "%f"
// formatting, which it and Histogram::write_hgrm (the .hgrm percentile distribution, also
// defined in histogram_writers.cpp) share so that every number reads as Java prints it.
//
// Use: HistogramLogWriter log(out); log.write_log_format_version(); log.write_start_time(ms);
// log.write_base_time(ms); log.write_legend(); then log.write_interval(...) per interval.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>

#include "histogram.hpp"

namespace poolbench {

// Writes HdrHistogram interval logs (.hlog), format 1.3 as Java's HistogramLogWriter, so that
// HistogramLogProcessor, HistogramLogAnalyzer and hdr-plot read them. Times are seconds; an
// interval line is `[Tag=<tag>,]<start>,<interval length>,<max / ratio>,<V2 base64>` where the
// start is relative to the BaseTime (if any) and field 2 is the interval's *length*.
class HistogramLogWriter {
 public:
  explicit HistogramLogWriter(std::ostream& out) : out_(out) {}

  void write_comment(std::string_view text);  // "#<text>"
  void write_log_format_version();            // "#[Histogram log format version 1.3]"
  // "#[StartTime: <s.mmm> (seconds since epoch), <local date as Java's Date.toString()>]"
  void write_start_time(int64_t epoch_milliseconds);
  void write_base_time(int64_t epoch_milliseconds);  // "#[BaseTime: <s.mmm> (seconds since epoch)]"
  void write_legend();
  // The max column is histogram.max() / max_value_unit_ratio (Java's default ratio is 1e6, for
  // nanosecond histograms reported in milliseconds; microseconds -> milliseconds is 1e3). The
  // tag must not contain commas, spaces or line breaks (std::invalid_argument).
  void write_interval(double start_seconds, double end_seconds, const Histogram& histogram,
                      double max_value_unit_ratio, std::string_view tag = {});

 private:
  std::ostream& out_;
};

// Java's Formatter "%<width>.<precision>f" (Locale.US): HALF_UP rounding of the shortest
// decimal representation that round-trips, where printf rounds the exact binary value.
// Exposed for the tests and for writers that must match Java output.
std::string format_java_fixed(double value, int precision, int width = 0);

}  // namespace poolbench
