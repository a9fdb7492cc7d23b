#include "modes.hpp"

#include <exception>
#include <memory>
#include <stdexcept>

#include "deferred.hpp"

namespace poolbench {

Mode parse_mode(std::string_view text) {
  if (text == "inline") return Mode::kInline;
  if (text == "call-in-thread" || text == "callInThread") return Mode::kCallInThread;
  if (text == "defer-to-thread" || text == "deferToThread") return Mode::kDeferToThread;
  throw std::invalid_argument("unknown mode '" + std::string(text) +
                              "': expected inline, call-in-thread (callInThread) or "
                              "defer-to-thread (deferToThread)");
}

std::string_view to_string(Mode mode) {
  switch (mode) {
    case Mode::kInline:
      return "inline";
    case Mode::kCallInThread:
      return "call-in-thread";
    case Mode::kDeferToThread:
      return "defer-to-thread";
  }
  return "?";
}

std::string ack_reply(std::string_view line) {
  std::string reply;
  reply.reserve(4 + line.size());
  return reply.append("ack:").append(line);
}

std::string error_reply(std::string_view what, std::string_view line) {
  std::string reply;
  reply.reserve(5 + what.size() + line.size());
  return reply.append("err:").append(what).append("|").append(line);
}

void Dispatcher::handle_request() const {
  work_.perform();
}

void Dispatcher::record_stages(StageTimes& times) const {
  if (stages_ == nullptr) return;
  times.replied = Clock::now();
  stages_->record(times);
}

void Dispatcher::dispatch(std::string_view line, const Reply& reply, TimePoint parsed) {
  // Clock reads per request (steady_clock costs ~25-65 ns here): inline 2 (start, done), pool
  // modes 4 (handed, started, done, replied), plus `parsed`, shared by a socket read's lines.
  StageTimes times;
  if (stages_ != nullptr) {
    times.parsed = parsed != TimePoint{} ? parsed : Clock::now();
  }
  switch (mode_) {
    case Mode::kInline:
      return dispatch_inline(line, reply, times);
    case Mode::kCallInThread:
      return dispatch_call_in_thread(line, reply, times);
    case Mode::kDeferToThread:
      return dispatch_defer_to_thread(line, reply, times);
  }
}

// Neither the line nor the reply callback is copied: both are done with when this returns.
void Dispatcher::dispatch_inline(std::string_view line, const Reply& reply,
                                 StageTimes& times) const {
  const bool timed = stages_ != nullptr;
  if (timed) times.handed = times.started = Clock::now();
  try {
    handle_request();
    if (timed) times.replied = times.done = Clock::now();
    if (timed) stages_->record(times);
    reply(ack_reply(line));
  } catch (...) {
    if (timed) times.replied = times.done = Clock::now();
    if (timed) stages_->record(times);
    reply(error_reply(describe_exception(std::current_exception()), line));
  }
}

void Dispatcher::dispatch_call_in_thread(std::string_view line, const Reply& reply,
                                         StageTimes times) {
  const bool timed = stages_ != nullptr;
  if (timed) times.handed = Clock::now();
  // The worker owns a copy of the line and of the callback, and moves both on to the reactor.
  auto on_worker = [this, line = std::string(line), reply, times, timed]() mutable {
    if (timed) times.started = Clock::now();
    std::string why;
    try {
      handle_request();
    } catch (...) {
      why = describe_exception(std::current_exception());
    }
    if (timed) times.done = Clock::now();
    reactor_.call_from_thread([this, reply = std::move(reply), line = std::move(line), times,
                               why = std::move(why)]() mutable {
      record_stages(times);
      reply(why.empty() ? ack_reply(line) : error_reply(why, line));
    });
  };
  // Refused (err:busy): the work never ran, so no stage is recorded.
  if (!pool_.submit(std::move(on_worker))) reply(error_reply(PoolBusyError().what(), line));
}

void Dispatcher::dispatch_defer_to_thread(std::string_view line, const Reply& reply,
                                          StageTimes times) {
  // The worker's timestamps reach the callbacks through one shared block (the Deferred
  // carries only the value or the exception); allocated only when timing is on.
  std::shared_ptr<StageTimes> shared;
  if (stages_ != nullptr) {
    times.handed = Clock::now();
    shared = std::make_shared<StageTimes>(times);
  }
  defer_to_thread(reactor_, pool_,
                  [this, line = std::string(line), shared]() mutable {
                    if (shared) shared->started = Clock::now();
                    try {
                      handle_request();
                      if (shared) shared->done = Clock::now();
                      return std::move(line);
                    } catch (...) {
                      if (shared) shared->done = Clock::now();
                      throw;
                    }
                  })
      .add_callback([this, reply, shared](std::string result) {
        if (shared) record_stages(*shared);
        reply(ack_reply(result));
        return result;
      })
      .add_errback([this, reply, line = std::string(line), shared](std::exception_ptr error) {
        // PoolBusyError: refused, the work never ran (started unset): nothing to record.
        if (shared && shared->started != TimePoint{}) record_stages(*shared);
        reply(error_reply(describe_exception(error), line));
        return std::string();
      });
}

}  // namespace poolbench
