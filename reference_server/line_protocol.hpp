// LineFramer: the framing of Twisted's LineReceiver (protocols/basic.py), byte for byte.
//
//   - The delimiter is "\r\n", matched exactly: a bare "\n" belongs to the line, "abc\r\r\n" is
//     the line "abc\r". With Delimiter::kLf a bare "\n" ends a line too (and a "\r" just before
//     it is dropped), for people typing into nc.
//   - The empty line is a line.
//   - Too long, as in Twisted: a complete line longer than max_line, or, with no delimiter yet,
//     a buffer of max_line + delimiter-length bytes or more (a max_line-byte line may still be
//     completed by the delimiter, so one byte less is kept waiting).
//   - Lines come out in order; lines before an overlong one in the same read come out first.
//
// Bytes are appended to one buffer that is compacted lazily, and a partial line is not scanned
// again when more of it arrives, so both 100k lines in one read and one byte per read are
// linear in the input.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace poolbench {

class LineFramer {
 public:
  static constexpr std::size_t kDefaultMaxLine = 16384;  // Twisted's LineReceiver.MAX_LENGTH
  enum class Delimiter { kCrlf, kLf };
  enum class Status { kOk, kLineTooLong };

  explicit LineFramer(std::size_t max_line = kDefaultMaxLine,
                      Delimiter delimiter = Delimiter::kCrlf)
      : max_line_(max_line), delimiter_(delimiter) {}

  // Appends `data` and calls on_line(std::string_view line) for each complete line. The view is
  // valid only during the call. After line_too_long the framer holds nothing and must not be
  // fed again (the connection is to be closed).
  template <class OnLine>
  Status feed(std::string_view data, OnLine&& on_line) {
    append(data);
    for (;;) {
      std::string_view line;
      const Status status = next_line(line);
      if (status == Status::kLineTooLong) return status;
      if (line.data() == nullptr) return Status::kOk;
      on_line(line);
    }
  }

  // The same in two steps, for a reader that takes lines only as fast as it can serve them
  // (the server holds back a connection's lines while it has too many requests in flight):
  // append() the bytes read, then next_line() until it gives no line. Sets `line` to the next
  // complete line (valid until the next call), or leaves it null when none is complete.
  void append(std::string_view data) { buffer_.append(data); }
  Status next_line(std::string_view& line);

  std::size_t buffered_bytes() const { return buffer_.size() - line_start_; }

 private:
  std::size_t max_line_;
  Delimiter delimiter_;
  std::string buffer_;
  std::size_t line_start_ = 0;  // where the unconsumed bytes begin
  std::size_t scanned_to_ = 0;  // bytes before this offset hold no delimiter start
};

}  // namespace poolbench
