#include "connection.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <stdexcept>

#include <asio/buffer.hpp>
#include <asio/error.hpp>
#include <asio/write.hpp>

namespace poolbench {
namespace {

constexpr std::size_t kInitialInput = 4096;
constexpr std::size_t kMaxReplyLine = 1 << 20;  // a longer reply line is an error
constexpr std::string_view kAck = "ack:";
constexpr std::string_view kErr = "err:";

}  // namespace

RequestTable::RequestTable(Protocol protocol, int depth, int payload_size,
                           std::string_view raw_request, std::string_view expect)
    : protocol_(protocol),
      payload_size_(payload_size),
      raw_line_(std::string(raw_request) + "\r\n"),
      expect_(expect),
      slots_(static_cast<std::size_t>(depth)),
      fifo_(static_cast<std::size_t>(depth)) {
  if (depth < 1) throw std::invalid_argument("RequestTable: depth must be >= 1");
  free_.reserve(slots_.size());
  unsent_.reserve(slots_.size());
  // Slot 0 on top of the stack; ids start at the slot index (generation 0).
  for (int slot = depth - 1; slot >= 0; --slot) {
    slots_[static_cast<std::size_t>(slot)].id = static_cast<std::uint64_t>(slot);
    free_.push_back(slot);
  }
}

void RequestTable::append_line(std::string& out, std::uint64_t id) const {
  // "<id>", then " xxx..." up to payload_size bytes ("<id>x" when one byte is left).
  char digits[24];
  const auto end = std::to_chars(digits, digits + sizeof digits, id).ptr;
  out.append(digits, end);
  const int rest = payload_size_ - static_cast<int>(end - digits);
  if (rest == 1) {
    out.push_back('x');
  } else if (rest > 1) {
    out.push_back(' ');
    out.append(static_cast<std::size_t>(rest - 1), 'x');
  }
  out.append("\r\n");
}

std::string RequestTable::request_line(std::uint64_t id) const {
  std::string line;
  append_line(line, id);
  line.resize(line.size() - 2);
  return line;
}

int RequestTable::add(std::string& out, TimePoint intended, bool measured) {
  const int index = free_.back();
  free_.pop_back();
  RequestSlot& slot = slots_[static_cast<std::size_t>(index)];
  slot.intended = intended;
  slot.sent = intended;
  slot.state = SlotState::kQueued;
  slot.measured = measured;
  unsent_.push_back(index);
  if (protocol_ == Protocol::kAck) {
    append_line(out, slot.id);
  } else {
    out.append(raw_line_);
    fifo_[(fifo_head_ + fifo_size_) % fifo_.size()] = index;
    ++fifo_size_;
  }
  return index;
}

void RequestTable::mark_sent(TimePoint now) {
  for (const int index : unsent_) {
    RequestSlot& slot = slots_[static_cast<std::size_t>(index)];
    slot.sent = now;
    if (slot.state == SlotState::kQueued) slot.state = SlotState::kInFlight;
  }
  unsent_.clear();
}

void RequestTable::release(int index) {
  RequestSlot& slot = slots_[static_cast<std::size_t>(index)];
  if (slot.state == SlotState::kFree) return;
  if (slot.state == SlotState::kQueued) {
    // Lost before it was written (connection closed): forget it in the unsent list too.
    unsent_.erase(std::remove(unsent_.begin(), unsent_.end(), index), unsent_.end());
  }
  slot.state = SlotState::kFree;
  slot.id += slots_.size();  // next generation: the old id never matches again
  free_.push_back(index);
  if (protocol_ == Protocol::kRaw) {
    // Raw replies are FIFO, so the released slot is normally the head; on a connection
    // failure slots are released in any order, then remove it wherever it is.
    if (fifo_size_ > 0 && fifo_[fifo_head_] == index) {
      fifo_head_ = (fifo_head_ + 1) % fifo_.size();
      --fifo_size_;
      return;
    }
    for (std::size_t i = 0; i < fifo_size_; ++i) {
      const std::size_t at = (fifo_head_ + i) % fifo_.size();
      if (fifo_[at] != index) continue;
      for (std::size_t j = i; j + 1 < fifo_size_; ++j) {
        fifo_[(fifo_head_ + j) % fifo_.size()] = fifo_[(fifo_head_ + j + 1) % fifo_.size()];
      }
      --fifo_size_;
      return;
    }
  }
}

int RequestTable::live() const {
  return static_cast<int>(std::count_if(slots_.begin(), slots_.end(), [](const RequestSlot& s) {
    return s.state == SlotState::kQueued || s.state == SlotState::kInFlight;
  }));
}

void RequestTable::clear() {
  for (int index = 0; index < depth(); ++index)
    release(index);
}

int RequestTable::find_slot(std::uint64_t id) const {
  const auto index = static_cast<int>(id % slots_.size());
  const RequestSlot& slot = slots_[static_cast<std::size_t>(index)];
  if (slot.id != id || slot.state == SlotState::kFree || slot.state == SlotState::kQueued) {
    return -1;
  }
  return index;
}

bool RequestTable::is_request_line(std::string_view line, std::uint64_t* id) const {
  // The id: the leading digits; then exactly the padding append_line() would have written.
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(line.data(), line.data() + line.size(), value);
  if (ec != std::errc() || end == line.data()) return false;
  *id = value;
  const auto digits = static_cast<int>(end - line.data());
  const std::string_view rest = line.substr(static_cast<std::size_t>(digits));
  const int want = std::max(0, payload_size_ - digits);
  if (static_cast<int>(rest.size()) != want) return false;
  if (want == 1) return rest[0] == 'x';
  if (want > 1 && rest[0] != ' ') return false;
  return std::all_of(rest.begin() + (want > 1 ? 1 : 0), rest.end(),
                     [](char c) { return c == 'x'; });
}

namespace {

ReplyMatch stray(std::string_view why) {
  ReplyMatch result;
  result.error = why;
  return result;
}

}  // namespace

// The reply of the request in `index`: late if that request had already timed out.
ReplyMatch RequestTable::settle(int index, ReplyMatch::Kind kind, std::string_view error) const {
  ReplyMatch result;
  result.slot = index;
  result.error = error;
  result.kind = slots_[static_cast<std::size_t>(index)].state == SlotState::kExpired
                    ? ReplyMatch::Kind::kLate
                    : kind;
  return result;
}

ReplyMatch RequestTable::match(std::string_view line) {
  if (protocol_ == Protocol::kRaw) return match_raw(line);
  if (line.substr(0, kAck.size()) == kAck) return match_ack(line.substr(kAck.size()));
  if (line.substr(0, kErr.size()) == kErr) return match_err(line);
  return stray("malformed");
}

// Raw protocol: the oldest request written gets the line.
ReplyMatch RequestTable::match_raw(std::string_view line) const {
  if (fifo_size_ == 0) return stray("unexpected_reply");
  const int index = fifo_[fifo_head_];
  if (slots_[static_cast<std::size_t>(index)].state == SlotState::kQueued) {
    return stray("unexpected_reply");  // a line before our request was even written
  }
  const bool ok = line.substr(0, expect_.size()) == expect_;
  return settle(index, ok ? ReplyMatch::Kind::kCompleted : ReplyMatch::Kind::kFailed,
                ok ? std::string_view() : std::string_view("unexpected_reply"));
}

// "ack:<request line>": the request with that id, if the line is exactly its line.
ReplyMatch RequestTable::match_ack(std::string_view request) const {
  std::uint64_t id = 0;
  if (is_request_line(request, &id)) {
    const int index = find_slot(id);
    return index < 0 ? stray("unknown_id") : settle(index, ReplyMatch::Kind::kCompleted, {});
  }
  // A well-formed id with the wrong rest is that request's error; otherwise unattributable.
  std::uint64_t leading = 0;
  const auto [end, ec] = std::from_chars(request.data(), request.data() + request.size(), leading);
  if (ec != std::errc() || end == request.data()) return stray("malformed");
  const int index = find_slot(leading);
  return index < 0 ? stray("unknown_id") : settle(index, ReplyMatch::Kind::kFailed, "mismatch");
}

// "err:<what>|<request line>" belongs to that request; plain "err:<what>" to no request.
// <what> never contains '|' (the server's rule), while the echoed line may: so the FIRST '|'
// ends <what>, and everything after it is the echo.
ReplyMatch RequestTable::match_err(std::string_view line) const {
  const auto bar = line.find('|');
  if (bar == std::string_view::npos) return stray(line);
  std::uint64_t id = 0;
  if (!is_request_line(line.substr(bar + 1), &id)) return stray("unknown_id");
  const int index = find_slot(id);
  return index < 0 ? stray("unknown_id")
                   : settle(index, ReplyMatch::Kind::kFailed, line.substr(0, bar));
}

Connection::Connection(asio::io_context& context, int index, RequestTable table,
                       ConnectionHandler& handler)
    : socket_(context), index_(index), table_(std::move(table)), handler_(handler) {}

std::error_code Connection::on_connected() {
  std::error_code error;
  socket_.set_option(asio::ip::tcp::no_delay(true), error);
  if (error) return error;
  open_ = true;
  input_.resize(kInitialInput);
  read();
  return {};
}

int Connection::send(TimePoint intended, bool measured) {
  return table_.add(pending_, intended, measured);
}

void Connection::start_new_life() {
  ++life_;
  table_.clear();
  pending_.clear();
  in_write_.clear();
  input_size_ = 0;
  writing_ = false;
  retiring_ = false;
  closing_ = false;
}

void Connection::flush() {
  if (writing_ || pending_.empty() || !open_) return;
  in_write_.swap(pending_);
  pending_.clear();
  table_.mark_sent(Clock::now());
  writing_ = true;
  asio::async_write(socket_, asio::buffer(in_write_),
                    [this, life = life_](std::error_code error, std::size_t) {
                      if (life == life_) on_written(error);
                    });
}

void Connection::on_written(std::error_code error) {
  writing_ = false;
  if (error) {
    fail(error);
    return;
  }
  flush();
}

void Connection::read() {
  socket_.async_read_some(asio::buffer(input_.data() + input_size_, input_.size() - input_size_),
                          [this, life = life_](std::error_code error, std::size_t bytes) {
                            if (life == life_) on_read(error, bytes);
                          });
}

void Connection::on_read(std::error_code error, std::size_t bytes) {
  if (!open_) return;
  if (error) {
    fail(error);
    return;
  }
  const TimePoint now = Clock::now();  // every reply of this batch was fully read by now
  input_size_ += bytes;
  const char* const data = input_.data();
  std::size_t begin = 0;
  while (begin < input_size_) {
    const void* newline = std::memchr(data + begin, '\n', input_size_ - begin);
    if (newline == nullptr) break;
    const auto end = static_cast<std::size_t>(static_cast<const char*>(newline) - data);
    std::string_view line(data + begin, end - begin);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    begin = end + 1;
    const ReplyMatch match = table_.match(line);
    handler_.on_reply(*this, match, now);
    if (match.slot >= 0) table_.release(match.slot);
  }
  if (begin > 0) {
    std::memmove(input_.data(), data + begin, input_size_ - begin);
    input_size_ -= begin;
  }
  if (input_size_ == input_.size()) {
    if (input_.size() >= kMaxReplyLine) {
      ReplyMatch stray;
      stray.error = "reply_too_long";
      handler_.on_reply(*this, stray, now);
      fail(asio::error::message_size);
      return;
    }
    input_.resize(input_.size() * 2);
  }
  handler_.on_capacity(*this, now);
  flush();
  if (open_) read();
}

void Connection::close() {
  closing_ = true;
  open_ = false;
  std::error_code ignored;
  socket_.close(ignored);
}

void Connection::fail(std::error_code error) {
  if (closing_) return;
  const bool was_open = open_;
  open_ = false;
  closing_ = true;
  std::error_code ignored;
  socket_.close(ignored);
  if (!was_open) return;
  // Every request still on this connection is lost with it; timed-out ones were counted.
  const TimePoint now = Clock::now();
  for (int index = 0; index < table_.depth(); ++index) {
    const RequestSlot& slot = table_.slot(index);
    if (slot.state == SlotState::kFree) continue;
    ReplyMatch lost;
    lost.slot = index;
    lost.kind =
        slot.state == SlotState::kExpired ? ReplyMatch::Kind::kLate : ReplyMatch::Kind::kFailed;
    lost.error = "connection_closed";
    handler_.on_reply(*this, lost, now);
    table_.release(index);
  }
  handler_.on_closed(*this, error);
}

}  // namespace poolbench
