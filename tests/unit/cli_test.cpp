// The shared load flags: durations, defaults that depend on other flags, validation messages.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cli.hpp"

namespace poolbench {
namespace {

using namespace std::chrono_literals;

TEST(Durations, ParseEveryUnitAndBareSeconds) {
  EXPECT_EQ(parse_duration("10s"), 10s);
  EXPECT_EQ(parse_duration("10"), 10s);
  EXPECT_EQ(parse_duration("1.5"), 1500ms);
  EXPECT_EQ(parse_duration("250ms"), 250ms);
  EXPECT_EQ(parse_duration("200us"), 200us);
  EXPECT_EQ(parse_duration("500ns"), 500ns);
  EXPECT_EQ(parse_duration("1.5m"), 90s);
  EXPECT_EQ(parse_duration("2h"), 7200s);
  EXPECT_EQ(parse_duration("0"), 0s);
  for (const char* bad : {"", "s", "-1s", "10x", "1e400", "ten"}) {
    EXPECT_THROW(parse_duration(bad), std::invalid_argument) << bad;
  }
}

TEST(Durations, FormatTheShortestExactSpelling) {
  EXPECT_EQ(format_duration(10s), "10s");
  EXPECT_EQ(format_duration(1500ms), "1500ms");
  EXPECT_EQ(format_duration(2min), "2m");
  EXPECT_EQ(format_duration(0s), "0s");
  EXPECT_EQ(format_duration(1001ns), "1001ns");
}

struct Parsed {
  CLI::App app;
  LoadSettings settings;
};

// Parses `args` as a subcommand's flags; throws CLI::ParseError like main would see.
void parse(Parsed& p, std::vector<std::string> args) {
  add_load_options(p.app, p.settings);
  std::vector<std::string> reversed(args.rbegin(), args.rend());
  p.app.parse(reversed);
  args.insert(args.begin(), "loadgen");
  finish_load_settings(p.app, p.settings, args);
}

TEST(LoadFlags, DefaultsAreTheIssuesDefaults) {
  Parsed p;
  parse(p, {});
  EXPECT_EQ(p.settings.target, "127.0.0.1:9090");
  EXPECT_EQ(p.settings.connections, 16);
  EXPECT_EQ(p.settings.depth, 1);
  EXPECT_EQ(p.settings.duration, 10s);
  EXPECT_EQ(p.settings.warmup, 1s);
  EXPECT_EQ(p.settings.timeout, 5s);
  EXPECT_EQ(p.settings.protocol, Protocol::kAck);
  EXPECT_EQ(p.settings.payload_size, 16);
  EXPECT_EQ(p.settings.model(), LoadModel::kClosed);
}

TEST(LoadFlags, TheIssuesSpellingsWork) {
  Parsed p;
  parse(p, {"--target",   "10.0.0.1:80", "--connections",  "32",    "--depth",   "4",
            "--threads",  "2",           "--rate",         "1000",  "--arrival", "poisson",
            "--duration", "3s",          "--warmup",       "500ms", "--timeout", "2s",
            "--protocol", "raw",         "--payload-size", "64",    "--request", "PING",
            "--expect",   "+PONG"});
  const LoadSettings& s = p.settings;
  EXPECT_EQ(s.target, "10.0.0.1:80");
  EXPECT_EQ(s.connections, 32);
  EXPECT_EQ(s.depth, 4);
  EXPECT_EQ(s.threads, 2);
  EXPECT_EQ(s.rate, 1000);
  EXPECT_EQ(s.arrival, Arrival::kPoisson);
  EXPECT_EQ(s.duration, 3s);
  EXPECT_EQ(s.warmup, 500ms);
  EXPECT_EQ(s.timeout, 2s);
  EXPECT_EQ(s.protocol, Protocol::kRaw);
  EXPECT_EQ(s.payload_size, 64);
  EXPECT_EQ(s.expect, "+PONG");
  EXPECT_EQ(s.model(), LoadModel::kOpen);
  EXPECT_EQ(s.argv.front(), "loadgen");
  EXPECT_EQ(s.argv.size(), 27u);
}

TEST(LoadFlags, RequestsWithoutDurationRunUntilTheRequestsAreDone) {
  Parsed p;
  parse(p, {"--requests", "5000"});
  EXPECT_EQ(p.settings.requests, 5000u);
  EXPECT_EQ(p.settings.duration, 0s);
  Parsed both;
  parse(both, {"--requests", "5000", "--duration", "2s"});  // whichever comes first
  EXPECT_EQ(both.settings.duration, 2s);
}

TEST(LoadFlags, BadValuesFailWithTheFlagNamed) {
  const std::vector<std::vector<std::string>> bad = {{"--connections", "0"},
                                                     {"--duration", "soon"},
                                                     {"--arrival", "bursty"},
                                                     {"--protocol", "http"},
                                                     {"--rate", "-5"},
                                                     {"--target", "nohost"},
                                                     {"--rate", "10", "--think-time", "1ms"},
                                                     {"--rate", "10", "--expected-interval", "1ms"},
                                                     {"--interval", "1ms"}};
  for (const auto& args : bad) {
    Parsed p;
    EXPECT_THROW(parse(p, args), CLI::ParseError) << args[0] << " " << args[1];
  }
}

TEST(Targets, HostAndPort) {
  EXPECT_EQ(parse_target("127.0.0.1:9090").port, 9090);
  EXPECT_EQ(parse_target("localhost:1").host, "localhost");
  EXPECT_EQ(parse_target("[::1]:80").host, "::1");
  for (const char* bad : {"9090", ":80", "host:", "host:0", "host:70000", "host:80x"}) {
    EXPECT_THROW(parse_target(bad), std::invalid_argument) << bad;
  }
}

}  // namespace
}  // namespace poolbench
