#include "modes.hpp"

#include <exception>
#include <stdexcept>

#include "deferred.hpp"

namespace poolbench {

Mode parse_mode(std::string_view text) {
  if (text == "inline") return Mode::inline_work;
  if (text == "call-in-thread" || text == "callInThread") return Mode::call_in_thread;
  if (text == "defer-to-thread" || text == "deferToThread") return Mode::defer_to_thread;
  throw std::invalid_argument("unknown mode '" + std::string(text) +
                              "': expected inline, call-in-thread (callInThread) or "
                              "defer-to-thread (deferToThread)");
}

std::string_view to_string(Mode mode) {
  switch (mode) {
    case Mode::inline_work:
      return "inline";
    case Mode::call_in_thread:
      return "call-in-thread";
    case Mode::defer_to_thread:
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

std::string Dispatcher::handle_request(const std::string& line) const {
  work_.perform();
  return line;
}

void Dispatcher::dispatch(std::string line, Reply reply) {
  switch (mode_) {
    case Mode::inline_work:
      try {
        reply(ack_reply(handle_request(line)));
      } catch (...) {
        reply(error_reply(describe_exception(std::current_exception()), line));
      }
      return;

    case Mode::call_in_thread: {
      auto on_worker = [this, line, reply]() {
        try {
          reactor_.call_from_thread(
              [reply, result = handle_request(line)] { reply(ack_reply(result)); });
        } catch (...) {
          reactor_.call_from_thread(
              [reply, line, why = describe_exception(std::current_exception())] {
                reply(error_reply(why, line));
              });
        }
      };
      if (!pool_.submit(std::move(on_worker))) reply(error_reply(PoolBusyError().what(), line));
      return;
    }

    case Mode::defer_to_thread:
      defer_to_thread(reactor_, pool_, [this, line] { return handle_request(line); })
          .add_callback([reply](std::string result) {
            reply(ack_reply(result));
            return result;
          })
          .add_errback([reply, line](std::exception_ptr error) {
            reply(error_reply(describe_exception(error), line));
            return std::string();
          });
      return;
  }
}

}  // namespace poolbench
