// The "business logic" a request costs: the stand-in for the seed article's blocking MySQL call.
//
// Spec grammar (the --work flag):
//   none                                   no work at all
//   KIND:DURATION[,DIST][,pPROB=DURATION]...
//     KIND      sleep (blocks without CPU: I/O) | spin (busy loop: CPU-bound)
//     DURATION  a decimal number and a unit: ns, us, ms, s          e.g. 10ms, 1.5ms, 200us, 1s
//     DIST      fixed (default) | exp (exponential with DURATION as its mean)
//     pPROB=D   with probability PROB the request costs D instead (heavy tails, bimodal);
//               several may be given, their probabilities add up to at most 1
//   Examples: sleep:1s (the seed's), sleep:10ms,exp, spin:200us, sleep:1ms,p0.01=100ms
#pragma once

#include <chrono>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace poolbench {

struct WorkSpec {
  enum class Kind { none, sleep, spin };
  enum class Distribution { fixed, exponential };
  struct Outlier {
    double probability;
    std::chrono::nanoseconds duration;
  };

  Kind kind = Kind::none;
  std::chrono::nanoseconds duration{0};  // the mean, for Distribution::exponential
  Distribution distribution = Distribution::fixed;
  std::vector<Outlier> outliers;

  // Throws std::invalid_argument with a message that quotes the bad part and the grammar.
  static WorkSpec parse(std::string_view text);
  std::string to_string() const;  // canonical spelling; parse(to_string()) is the same spec
  std::chrono::nanoseconds sample(std::mt19937_64& random) const;
  // The expected cost of one request (outliers included), in nanoseconds.
  double mean_nanoseconds() const;
};

// Durations of flags, in both programs: "10s", "250ms", "200us", "100ns", "1.5m", "2h"; a bare
// number is seconds. Throws std::invalid_argument naming the bad text.
std::chrono::nanoseconds parse_duration(std::string_view text);
// The shortest exact spelling: "10s", "250ms", "1500us", "0s".
std::string format_duration(std::chrono::nanoseconds duration);

// Thrown by Work::perform for the requests --fail-rate picks.
struct InjectedFailure : std::runtime_error {
  InjectedFailure() : std::runtime_error("injected failure") {}
};

// Thread-safe: each calling thread draws from its own random generator.
class Work {
 public:
  Work(WorkSpec spec, double fail_rate);
  void perform() const;  // sleeps or spins; throws InjectedFailure for a fail_rate fraction
  const WorkSpec& spec() const { return spec_; }
  double fail_rate() const { return fail_rate_; }

 private:
  WorkSpec spec_;
  double fail_rate_;
};

}  // namespace poolbench
