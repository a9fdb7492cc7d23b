// The three ways to run a request's blocking work, as Twisted offers them (reference_server/
// README.md §3, §7), behind one interface:
//   inline           on the reactor thread: every connection waits while it runs (on purpose);
//   call-in-thread   reactor.callInThread(handle) on the pool; the worker hands the reply back
//                    with call_from_thread;
//   defer-to-thread  deferToThread(handle).addCallback(write).addErrback(write_error): the
//                    Deferred's chain runs on the reactor thread.
// Every request gets exactly one reply, "ack:<line>" or "err:<what>|<line>", in every mode;
// <what> never holds '|', '\r' or '\n', so a client splits an err: reply at its first '|'. A
// line holding a bare LF is answered "err:bare LF in line|<line, each LF written \n>" and its
// work does not run (echoed raw, it would read as two lines to a client splitting at LF).
// The pool modes skip the work of a request whose client has left before a worker took it
// (ReplyTo::gone); it then gets ReplyTo::skipped instead of a reply.
// (Twisted sends nothing when the work raises in callInThread or deferToThread mode and drops
// the connection in inline mode: a client then waits forever, and a harness must count errors.)
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "reactor.hpp"
#include "stage_timing.hpp"
#include "thread_pool.hpp"
#include "work.hpp"

namespace poolbench {

enum class Mode { kInline, kCallInThread, kDeferToThread };

// Accepts inline, call-in-thread, defer-to-thread and Twisted's callInThread, deferToThread.
// Throws std::invalid_argument for anything else.
Mode parse_mode(std::string_view text);
std::string_view to_string(Mode mode);

std::string ack_reply(std::string_view line);
// "err:<what>|<line>", each '|', '\r' and '\n' of `what` replaced by '/'.
std::string error_reply(std::string_view what, std::string_view line);

// Where the replies of one client's requests go. The pool modes share it between the client's
// requests in flight (one allocation per client, not per request).
class ReplyTo {
 public:
  virtual ~ReplyTo() = default;
  // Reactor thread, once per request: its reply, without "\r\n".
  virtual void reply(std::string reply) = 0;
  // Reactor thread, once per request instead of reply(): its work was skipped, the client left.
  virtual void skipped() {}
  // Any thread: true once the client has left; pool work not yet started for it is skipped.
  virtual bool gone() const { return false; }
  // The key the pool's backlog shares turns by (ThreadPool::Owner): one per client.
  virtual ThreadPool::Owner owner() const { return reinterpret_cast<ThreadPool::Owner>(this); }
};

class Dispatcher {
 public:
  // Called on the reactor thread, exactly once per request, with the reply (no "\r\n").
  using Reply = std::function<void(std::string)>;

  // `stages`, when given, receives every request's stage times (stage_timing.hpp); it is
  // touched on the reactor thread only. nullptr: no clock is read.
  Dispatcher(Mode mode, Reactor& reactor, ThreadPool& pool, const Work& work,
             StageHistograms* stages = nullptr)
      : mode_(mode), reactor_(reactor), pool_(pool), work_(work), stages_(stages) {}

  // Reactor thread only. In inline mode `to` has been answered when this returns.
  // `parsed`: when the line was read (the dispatch stage starts); the server reads the clock
  // once per socket read for all the lines it holds. Default: now, if stage timing is on.
  // The pool modes copy `line` and share `to`; inline uses them before returning.
  void dispatch(std::string_view line, const std::shared_ptr<ReplyTo>& to, TimePoint parsed = {});
  // The same for a caller with one function for replies (tests, benchmarks): never gone.
  void dispatch(std::string_view line, const Reply& reply, TimePoint parsed = {});
  Mode mode() const { return mode_; }
  bool stage_timing() const { return stages_ != nullptr; }

 private:
  // The business logic: the work. Its result, sent back, is the line itself.
  void handle_request() const;
  // Reactor thread: stamps `replied` and records, if stage timing is on.
  void record_stages(StageTimes& times) const;
  // One per mode; `times.parsed` is set when stage timing is on.
  void dispatch_inline(std::string_view line, ReplyTo& to, StageTimes& times) const;
  void dispatch_call_in_thread(std::string_view line, const std::shared_ptr<ReplyTo>& to,
                               StageTimes times);
  void dispatch_defer_to_thread(std::string_view line, const std::shared_ptr<ReplyTo>& to,
                                StageTimes times);

  Mode mode_;
  Reactor& reactor_;
  ThreadPool& pool_;
  const Work& work_;
  StageHistograms* stages_;
};

}  // namespace poolbench
