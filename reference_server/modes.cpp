#include "modes.hpp"

#include <exception>
#include <memory>
#include <stdexcept>
#include <utility>

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
  reply.append("err:");
  for (const char c : what)
    reply.push_back(c == '|' || c == '\r' || c == '\n' ? '/' : c);
  return reply.append("|").append(line);
}

namespace {

// The line with each LF written as the two characters "\n", so the reply stays one line.
std::string escape_lf(std::string_view line) {
  std::string escaped;
  escaped.reserve(line.size() + 8);
  for (const char c : line) {
    if (c == '\n') {
      escaped.append("\\n");
    } else {
      escaped.push_back(c);
    }
  }
  return escaped;
}

// The reply end of a caller that answers with one function and never leaves. Every such caller
// counts as the same client for the pool's turns: its requests keep one FIFO order.
class ReplyFunction final : public ReplyTo {
 public:
  explicit ReplyFunction(Dispatcher::Reply reply) : reply_(std::move(reply)) {}
  void reply(std::string reply) override { reply_(std::move(reply)); }
  ThreadPool::Owner owner() const override { return 0; }  // all such callers are one client

 private:
  Dispatcher::Reply reply_;
};

// Thrown on a worker instead of the work when the request's client has left.
struct ClientGoneError : std::runtime_error {
  ClientGoneError() : std::runtime_error("client gone") {}
};

// What defer-to-thread's steps share: one block per request instead of a copy per step.
struct DeferredRequest {
  std::string line;
  std::shared_ptr<ReplyTo> to;
  StageTimes times;
};

}  // namespace

void Dispatcher::handle_request() const {
  work_.perform();
}

void Dispatcher::record_stages(StageTimes& times) const {
  if (stages_ == nullptr) return;
  times.replied = Clock::now();
  stages_->record(times);
}

void Dispatcher::dispatch(std::string_view line, const Reply& reply, TimePoint parsed) {
  dispatch(line, std::make_shared<ReplyFunction>(reply), parsed);
}

void Dispatcher::dispatch(std::string_view line, const std::shared_ptr<ReplyTo>& to,
                          TimePoint parsed) {
  // In \r\n framing a line can hold a bare LF; its echo would read as two lines to a client
  // that splits at LF. Answered at once, its work not run (no stages recorded).
  if (line.find('\n') != std::string_view::npos) {
    return to->reply(error_reply("bare LF in line", escape_lf(line)));
  }
  // Clock reads per request (steady_clock costs ~25-65 ns here): inline 2 (start, done), pool
  // modes 4 (handed, started, done, replied), plus `parsed`, shared by a socket read's lines.
  StageTimes times;
  if (stages_ != nullptr) {
    times.parsed = parsed != TimePoint{} ? parsed : Clock::now();
  }
  switch (mode_) {
    case Mode::kInline:
      return dispatch_inline(line, *to, times);
    case Mode::kCallInThread:
      return dispatch_call_in_thread(line, to, times);
    case Mode::kDeferToThread:
      return dispatch_defer_to_thread(line, to, times);
  }
}

// The line is not copied: it is done with when this returns.
void Dispatcher::dispatch_inline(std::string_view line, ReplyTo& to, StageTimes& times) const {
  const bool timed = stages_ != nullptr;
  if (timed) times.handed = times.started = Clock::now();
  try {
    handle_request();
    if (timed) times.replied = times.done = Clock::now();
    if (timed) stages_->record(times);
    to.reply(ack_reply(line));
  } catch (...) {
    if (timed) times.replied = times.done = Clock::now();
    if (timed) stages_->record(times);
    to.reply(error_reply(describe_exception(std::current_exception()), line));
  }
}

void Dispatcher::dispatch_call_in_thread(std::string_view line, const std::shared_ptr<ReplyTo>& to,
                                         StageTimes times) {
  const bool timed = stages_ != nullptr;
  if (timed) times.handed = Clock::now();
  // The worker owns a copy of the line and a share of `to`, and moves both on to the reactor
  // (so `to` is released there). Per request: this closure, the line if longer than the
  // string's inline buffer, and the backlog's slot.
  auto on_worker = [this, line = std::string(line), to, times, timed]() mutable {
    if (to->gone()) {
      reactor_.call_from_thread([to = std::move(to)] { to->skipped(); });
      return;
    }
    if (timed) times.started = Clock::now();
    std::string why;
    try {
      handle_request();
    } catch (...) {
      why = describe_exception(std::current_exception());
    }
    if (timed) times.done = Clock::now();
    reactor_.call_from_thread(
        [this, to = std::move(to), line = std::move(line), times, why = std::move(why)]() mutable {
          record_stages(times);
          to->reply(why.empty() ? ack_reply(line) : error_reply(why, line));
        });
  };
  // Refused (err:busy): the work never ran, so no stage is recorded.
  const ThreadPool::Owner owner = to->owner();
  if (!pool_.submit(std::move(on_worker), owner))
    to->reply(error_reply(PoolBusyError().what(), line));
}

void Dispatcher::dispatch_defer_to_thread(std::string_view line, const std::shared_ptr<ReplyTo>& to,
                                          StageTimes times) {
  const bool timed = stages_ != nullptr;
  if (timed) times.handed = Clock::now();
  auto request = std::make_shared<DeferredRequest>(DeferredRequest{std::string(line), to, times});
  defer_to_thread(
      reactor_, pool_,
      [this, request, timed] {
        if (request->to->gone()) throw ClientGoneError();
        if (timed) request->times.started = Clock::now();
        try {
          handle_request();
        } catch (...) {
          if (timed) request->times.done = Clock::now();
          throw;
        }
        if (timed) request->times.done = Clock::now();
        return std::move(request->line);
      },
      to->owner())
      .add_callbacks(
          [this, request](std::string line) {
            record_stages(request->times);
            request->to->reply(ack_reply(line));
            return std::string();
          },
          [this, request](std::exception_ptr error) {
            try {
              std::rethrow_exception(error);
            } catch (const ClientGoneError&) {
              request->to->skipped();
              return std::string();
            } catch (...) {
            }
            // PoolBusyError: refused, the work never ran (started unset): nothing to record.
            if (request->times.started != TimePoint{}) record_stages(request->times);
            request->to->reply(error_reply(describe_exception(error), request->line));
            return std::string();
          });
}

}  // namespace poolbench
