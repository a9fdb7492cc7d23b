// One load-generator connection: the request table that matches replies to requests by id, and
// the socket that carries them (loadgen/README.md §4, matching).
//
// Invariants:
//  - Only the owning worker's thread touches a Connection (worker.hpp's threading).
//  - A request occupies a slot from send() until its reply (or late reply) is matched or the
//    connection closes; a timed-out request keeps its slot (the server still holds it) until
//    the worker retires the connection and reopens it (reopen() frees every slot).
//  - Ack protocol: the id in the request line is `generation * depth + slot`, so a reply finds
//    its slot in O(1) whatever order the server answers in, and a stale id never matches.
//  - Raw protocol: replies carry no id; they are matched first-in first-out.
//  - The hot path (per request, per reply) does not allocate once buffers have grown.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>

#include "reference_server/clock.hpp"
#include "settings.hpp"

namespace poolbench {

enum class SlotState : std::uint8_t {
  kFree,
  kQueued,    // in the write buffer, not yet handed to the socket
  kInFlight,  // written; waiting for the reply
  kExpired,   // timed out (already counted); waiting for the late reply or the close
};

struct RequestSlot {
  std::uint64_t id = 0;
  TimePoint intended{};
  TimePoint sent{};
  SlotState state = SlotState::kFree;
  bool measured = false;
};

struct ReplyMatch {
  enum class Kind {
    kCompleted,  // the expected reply to an outstanding request
    kFailed,     // a request's error: `error` says which ("err:busy", "mismatch", ...)
    kLate,       // the reply to a request that had already timed out: dropped
    kStray,      // belongs to no request: `error` says why ("unknown_id", "malformed", ...)
  };
  Kind kind = Kind::kStray;
  int slot = -1;           // the request's slot for every kind but kStray
  std::string_view error;  // points into the reply line or at a static string
};

class RequestTable {
 public:
  RequestTable(Protocol protocol, int depth, int payload_size, std::string_view raw_request,
               std::string_view expect);

  int depth() const { return static_cast<int>(slots_.size()); }
  int occupied() const { return depth() - static_cast<int>(free_.size()); }
  bool has_free() const { return !free_.empty(); }

  // Takes a free slot (precondition: has_free()) for a request intended at `intended`, and
  // appends its line with CRLF to `out`. Returns the slot.
  int add(std::string& out, TimePoint intended, bool measured);
  // Every request added since the last call was handed to the socket at `now`.
  void mark_sent(TimePoint now);
  // Matches one reply line (without its line ending). Does not release the slot.
  ReplyMatch match(std::string_view line);
  void release(int slot);
  // Marks a timed-out request; it keeps its slot until release().
  void expire(int slot) { slots_[static_cast<std::size_t>(slot)].state = SlotState::kExpired; }

  const RequestSlot& slot(int index) const { return slots_[static_cast<std::size_t>(index)]; }
  // Requests queued or in flight (occupied slots that have not timed out).
  int live() const;
  // Frees every slot (the connection was closed and is being reopened).
  void clear();

  // The ack-protocol request line of `id` (for tests and messages).
  std::string request_line(std::uint64_t id) const;

 private:
  void append_line(std::string& out, std::uint64_t id) const;
  ReplyMatch settle(int index, ReplyMatch::Kind kind, std::string_view error) const;
  ReplyMatch match_raw(std::string_view line) const;
  ReplyMatch match_ack(std::string_view request) const;
  ReplyMatch match_err(std::string_view line) const;
  bool is_request_line(std::string_view line, std::uint64_t* id) const;
  int find_slot(std::uint64_t id) const;

  Protocol protocol_;
  int payload_size_;
  std::string raw_line_;  // raw protocol: request + CRLF
  std::string expect_;
  std::vector<RequestSlot> slots_;
  std::vector<int> free_;    // free slot indices (a stack)
  std::vector<int> unsent_;  // queued since the last mark_sent()
  std::vector<int> fifo_;    // raw protocol: occupied slots in send order (a ring)
  std::size_t fifo_head_ = 0;
  std::size_t fifo_size_ = 0;
};

class Connection;

// The worker's side of a connection; all calls happen on the worker's thread.
class ConnectionHandler {
 public:
  virtual ~ConnectionHandler() = default;
  // One reply line was matched (or a request was lost with its connection: kFailed with
  // "connection_closed"). The slot is released right after this returns.
  virtual void on_reply(Connection& connection, const ReplyMatch& match, TimePoint now) = 0;
  // After a batch of replies: slots may be free for new requests. The connection flushes after.
  virtual void on_capacity(Connection& connection, TimePoint now) = 0;
  // The connection is gone (peer closed or error); its requests were reported already.
  virtual void on_closed(Connection& connection, std::error_code error) = 0;
};

class Connection {
 public:
  Connection(asio::io_context& context, int index, RequestTable table, ConnectionHandler& handler);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  int index() const { return index_; }
  bool is_open() const { return open_; }
  bool can_send() const { return open_ && !retiring_ && table_.has_free(); }
  // A request on it timed out: it takes no new request until reopen().
  void retire() { retiring_ = true; }
  bool retiring() const { return retiring_; }
  RequestTable& table() { return table_; }
  const RequestTable& table() const { return table_; }

  // Connects (TCP_NODELAY on), then starts reading. `done` gets the connect result.
  template <typename Done>
  void connect(const asio::ip::tcp::endpoint& endpoint, Done done) {
    socket_.async_connect(endpoint,
                          [this, life = life_, done = std::move(done)](std::error_code error) {
                            if (life != life_) return;  // a stale completion of an earlier socket
                            if (!error) error = on_connected();
                            done(error);
                          });
  }
  // Closes from our side (nothing reported), forgets every request on it and its buffers, and
  // connects again on a fresh socket. Completions of the old socket are ignored.
  template <typename Done>
  void reopen(const asio::ip::tcp::endpoint& endpoint, Done done) {
    close();
    start_new_life();
    connect(endpoint, std::move(done));
  }

  // Queues one request (precondition: can_send()); it is written at the next flush().
  int send(TimePoint intended, bool measured);
  // Writes the queued requests unless a write is in progress (then its completion does).
  void flush();
  // Closes from our side: nothing is reported to the handler.
  void close();
  // Fails the connection as if the peer had closed it: requests reported, then on_closed.
  void fail(std::error_code error);

 private:
  std::error_code on_connected();
  void start_new_life();
  void read();
  void on_read(std::error_code error, std::size_t bytes);
  void on_written(std::error_code error);

  asio::ip::tcp::socket socket_;
  int index_;
  RequestTable table_;
  ConnectionHandler& handler_;
  bool open_ = false;
  bool closing_ = false;  // closed by us: errors are expected, not reported
  bool writing_ = false;
  bool retiring_ = false;
  // Which socket this is: bumped by reopen(), captured by every asynchronous operation.
  std::uint64_t life_ = 0;
  std::string pending_;   // requests queued since the last write started
  std::string in_write_;  // the bytes of the write in progress
  std::vector<char> input_;
  std::size_t input_size_ = 0;
};

}  // namespace poolbench
