// The three ways to run a request's blocking work, as Twisted offers them (reference_server/
// README.md §3, §7), behind one interface:
//   inline           on the reactor thread: every connection waits while it runs (on purpose);
//   call-in-thread   reactor.callInThread(handle) on the pool; the worker hands the reply back
//                    with call_from_thread;
//   defer-to-thread  deferToThread(handle).addCallback(write).addErrback(write_error): the
//                    Deferred's chain runs on the reactor thread.
// Every request gets exactly one reply, "ack:<line>" or "err:<what>|<line>", in every mode.
// (Twisted sends nothing when the work raises in callInThread or deferToThread mode and drops
// the connection in inline mode: a client then waits forever, and a harness must count errors.)
#pragma once

#include <functional>
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
std::string error_reply(std::string_view what, std::string_view line);

class Dispatcher {
 public:
  // Called on the reactor thread, exactly once per request, with the reply (no "\r\n").
  using Reply = std::function<void(std::string)>;

  // `stages`, when given, receives every request's stage times (stage_timing.hpp); it is
  // touched on the reactor thread only. nullptr: no clock is read.
  Dispatcher(Mode mode, Reactor& reactor, ThreadPool& pool, const Work& work,
             StageHistograms* stages = nullptr)
      : mode_(mode), reactor_(reactor), pool_(pool), work_(work), stages_(stages) {}

  // Reactor thread only. In inline mode `reply` has been called when this returns.
  // `parsed`: when the line was read (the dispatch stage starts); the server reads the clock
  // once per socket read for all the lines it holds. Default: now, if stage timing is on.
  // The pool modes copy `line` and `reply`; inline uses them before returning.
  void dispatch(std::string_view line, const Reply& reply, TimePoint parsed = {});
  Mode mode() const { return mode_; }
  bool stage_timing() const { return stages_ != nullptr; }

 private:
  // The business logic: the work. Its result, sent back, is the line itself.
  void handle_request() const;
  // Reactor thread: stamps `replied` and records, if stage timing is on.
  void record_stages(StageTimes& times) const;
  // One per mode; `times.parsed` is set when stage timing is on.
  void dispatch_inline(std::string_view line, const Reply& reply, StageTimes& times) const;
  void dispatch_call_in_thread(std::string_view line, const Reply& reply, StageTimes times);
  void dispatch_defer_to_thread(std::string_view line, const Reply& reply, StageTimes times);

  Mode mode_;
  Reactor& reactor_;
  ThreadPool& pool_;
  const Work& work_;
  StageHistograms* stages_;
};

}  // namespace poolbench
