// Deferred<T>: Twisted's Deferred, for values of one type T (reference_server/README.md §3, §7). A
// chain of (callback, errback) steps; the result flows down the chain: a value goes to the next
// callback, an exception to the next errback. A callback that throws switches to the errback path;
// an errback that returns a value switches back (it recovered). Steps added after the Deferred
// fired run at once. Firing twice throws AlreadyCalledError. A chain that ends in an error nobody
// handled is reported on stderr when the last handle goes away ("Unhandled error in Deferred").
//
// Not provided (the server does not need them): callbacks returning a Deferred to chain,
// cancellation, and changing the result type along the chain.
//
// Threading: a Deferred belongs to the reactor thread. defer_to_thread() fires it there with
// call_from_thread, so every callback and errback runs on the reactor thread (as in Twisted).
// Handles may be copied to other threads only to be moved back (the state is not locked).
#pragma once

#include <cstdio>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "reactor.hpp"
#include "thread_pool.hpp"

namespace poolbench {

struct AlreadyCalledError : std::logic_error {
  AlreadyCalledError() : std::logic_error("Deferred fired twice") {}
};

// The exception a Deferred fails with when the pool refuses work (bounded backlog is full).
struct PoolBusyError : std::runtime_error {
  PoolBusyError() : std::runtime_error("busy") {}
};

std::string describe_exception(const std::exception_ptr& error);

template <class T>
class Deferred {
 public:
  using Result = std::variant<T, std::exception_ptr>;
  using Callback = std::function<T(T)>;
  using Errback = std::function<T(std::exception_ptr)>;  // recover with a value, or throw

  Deferred() : state_(std::make_shared<State>()) {}

  void callback(T value) {
    start_firing();
    state_->value.emplace(std::move(value));
    run_callbacks();
  }
  void errback(std::exception_ptr error) {
    start_firing();
    state_->error = std::move(error);
    run_callbacks();
  }

  // One step: `errback` does not see an exception thrown by `callback` (Twisted's addCallbacks).
  Deferred& add_callbacks(Callback on_value, Errback on_error) {
    state_->steps.push_back({std::move(on_value), std::move(on_error)});
    run_callbacks();
    return *this;
  }
  Deferred& add_callback(Callback on_value) { return add_callbacks(std::move(on_value), {}); }
  Deferred& add_errback(Errback on_error) { return add_callbacks({}, std::move(on_error)); }
  // The same function for both paths; it sees the value or the exception.
  template <class F>
  Deferred& add_both(F both) {
    auto shared = std::make_shared<F>(std::move(both));
    return add_callbacks([shared](T value) { return (*shared)(Result(std::move(value))); },
                         [shared](std::exception_ptr error) { return (*shared)(Result(error)); });
  }

  bool called() const { return state_->called; }

 private:
  struct Step {
    Callback on_value;  // empty: pass the value through
    Errback on_error;   // empty: pass the exception through
  };

  // The current result is `error` when it is set, else `value`.
  struct State {
    bool called = false;
    bool running = false;
    std::optional<T> value;
    std::exception_ptr error;
    // Steps run in order from next_step. A vector, not a deque: a deque allocates a 512-byte
    // block and its map for the first step, a Deferred per request in flight multiplies that.
    std::vector<Step> steps;
    std::size_t next_step = 0;

    ~State() {
      if (error) {
        std::fprintf(stderr, "Unhandled error in Deferred: %s\n",
                     describe_exception(error).c_str());
      }
    }
  };

  void start_firing() {
    if (state_->called) throw AlreadyCalledError();
    state_->called = true;
  }

  void run_callbacks() {
    State& state = *state_;
    if (!state.called || state.running) return;  // not fired yet, or re-entered from a step
    state.running = true;
    while (state.next_step < state.steps.size()) {
      Step step = std::move(state.steps[state.next_step++]);
      try {
        if (state.error) {
          if (step.on_error) {
            T recovered = step.on_error(state.error);
            state.error = nullptr;
            state.value.emplace(std::move(recovered));
          }
        } else if (step.on_value) {
          state.value.emplace(step.on_value(std::move(*state.value)));
        }
      } catch (...) {
        state.error = std::current_exception();
        state.value.reset();
      }
    }
    state.steps.clear();
    state.next_step = 0;
    state.running = false;
  }

  std::shared_ptr<State> state_;
};

// Twisted's deferToThread: runs `work` on the pool and returns a Deferred that fires on the
// reactor thread with its result or its exception. If the pool refuses the work (its backlog
// is full), the Deferred has already failed with PoolBusyError when it is returned. `owner`:
// whose work it is, for the pool's fair backlog (ThreadPool::submit).
template <class F>
auto defer_to_thread(Reactor& reactor, ThreadPool& pool, F work, ThreadPool::Owner owner = 0)
    -> Deferred<std::invoke_result_t<F&>> {
  using T = std::invoke_result_t<F&>;
  Deferred<T> deferred;
  const bool accepted = pool.submit(
      [&reactor, deferred, work = std::move(work)]() mutable {
        std::optional<T> value;
        std::exception_ptr error;
        try {
          value.emplace(work());
        } catch (...) {
          error = std::current_exception();
        }
        // Hand the only reference over: the exception is then released on the reactor thread.
        if (error) {
          reactor.call_from_thread([d = std::move(deferred), e = std::move(error)]() mutable {
            d.errback(std::move(e));
          });
        } else {
          reactor.call_from_thread([d = std::move(deferred), v = std::move(*value)]() mutable {
            d.callback(std::move(v));
          });
        }
      },
      owner);
  if (!accepted) deferred.errback(std::make_exception_ptr(PoolBusyError()));
  return deferred;
}

}  // namespace poolbench
