// Command-line flags shared by `loadgen run` and `loadgen sweep`: one function registers the
// load flags on any CLI11 (sub)command, so a new subcommand reuses them in two lines:
//
//   poolbench::LoadSettings settings;
//   CLI::App* sweep = app.add_subcommand("sweep", "...");
//   poolbench::add_load_options(*sweep, settings);
//   ... after parsing: poolbench::finish_load_settings(*sweep, settings, argv);  // + validate
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

#include "reference_server/work.hpp"  // parse_duration, format_duration: one spelling of durations for both programs
#include "settings.hpp"

namespace poolbench {

// Registers --target, --connections, --depth, --threads, --rate, --arrival, --seed,
// --duration, --requests, --warmup, --timeout, --connect-timeout, --think-time, --interval,
// --protocol, --payload-size, --request, --expect, --expected-interval. Values land in
// `settings` (which must outlive parsing); invalid values fail with CLI11's message.
void add_load_options(CLI::App& app, LoadSettings& settings);

// After parsing `app`: applies defaults that depend on other flags (--requests without
// --duration runs until the requests are done), records argv, and validates. Throws
// CLI::ValidationError so CLI11 prints it like any other bad flag.
// --segment and --start-at: `loadgen run` only (a share of a load split over processes).
void add_share_options(CLI::App& app, LoadSettings& settings);

void finish_load_settings(const CLI::App& app, LoadSettings& settings,
                          const std::vector<std::string>& argv);

}  // namespace poolbench
