#include "search_command.hpp"

#include <cstdio>
#include <iostream>

#include "cli.hpp"
#include "command_support.hpp"
#include "result.hpp"

namespace poolbench::cli {
namespace {

using json = nlohmann::json;

std::string format_rate(const json& value) {
  if (!value.is_number()) return "?";
  char text[32];
  std::snprintf(text, sizeof text, "%.1f", value.get<double>());
  return text;
}

std::string format_interval_ms(const json& interval) {
  if (!interval.is_array()) return "too few samples";
  return format_ms(interval[0].get<std::int64_t>()) + "-" +
         format_ms(interval[1].get<std::int64_t>());
}

void print_verdict(const json& document) {
  std::printf("search %s: %s\n", document["outcome"].get<std::string>().c_str(),
              document["message"].get<std::string>().c_str());
  std::printf("  %-10s %5s %10s %9s %9s %12s  %s\n", "rate", "trial", "achieved", "errors",
              "slo value", "ci95", "verdict");
  for (const json& probe : document["probes"]) {
    int index = 0;
    for (const json& trial : probe["trials"]) {
      std::printf("  %-10.1f %5d %9.3fx %8.3f%% %9s %12s  %s\n", probe["rate_rps"].get<double>(),
                  ++index, trial["achieved_ratio"].get<double>(),
                  100 * trial["error_rate"].get<double>(),
                  format_ms(trial["slo_value_us"].get<std::int64_t>()).c_str(),
                  format_interval_ms(trial["ci95_us"]).c_str(),
                  trial["pass"] ? "pass" : trial["reasons"].dump().c_str());
    }
    std::printf("  %-10s probe %s (%s)\n", "",
                probe["pass"].is_null() ? "unfinished"
                : probe["pass"]         ? "passes"
                                        : "fails",
                probe["decided_by"].get<std::string>().c_str());
  }
  const json& cost = document["cost"];
  std::printf("cost: %d probes, %d trials, %.1f s\n", cost["probes"].get<int>(),
              cost["trials"].get<int>(), cost["wall_s"].get<double>());
}

}  // namespace

void add_search_options(CLI::App& app, SearchOptions& options, bool required) {
  const std::string group = "Search";
  SearchSettings& s = options.settings;
  auto* slo = app.add_option("--slo", options.slo,
                             "The latency objective: pNN<=DURATION on response time, e.g. "
                             "p99<=50ms, p99.9<=200ms, p50<=5ms")
                  ->group(group);
  if (required) slo->required();
  app.add_option("--precision", s.precision,
                 "Stop when the capacity interval is at most this wide, relative to its low "
                 "end (0.02 = 2%)")
      ->capture_default_str()
      ->group(group);
  app.add_option("--trials", s.trials, "Runs per probed rate; every one must pass")
      ->capture_default_str()
      ->group(group);
  app.add_option("--max-trials", s.max_trials,
                 "Runs per rate when an interval straddles the limit (then judged pooled)")
      ->capture_default_str()
      ->group(group);
  app.add_option("--max-errors", options.max_errors,
                 "Highest (errors + timeouts) / scheduled a passing run may have (0.1% or 0.001)")
      ->capture_default_str()
      ->group(group);
  app.add_option("--start-rate", s.start_rate, "First rate probed, requests/s")
      ->capture_default_str()
      ->group(group);
  app.add_option("--min-rate", s.min_rate, "Lowest rate probed before giving up")
      ->capture_default_str()
      ->group(group);
  app.add_option("--max-rate", s.max_rate, "Highest rate probed")
      ->capture_default_str()
      ->group(group);
  app.add_option("--max-probes", s.max_probes, "Probes at most, bracketing and bisection")
      ->capture_default_str()
      ->group(group);
  app.add_option("--min-samples", s.min_samples,
                 "Each run lasts at least this many requests (longer than --duration at low "
                 "rates) so the percentile's confidence interval is narrow enough")
      ->capture_default_str()
      ->group(group);
}

void finish_search_options(SearchOptions& options) {
  try {
    if (!options.slo.empty()) options.settings.slo = parse_slo(options.slo);
    options.settings.max_error_rate = parse_fraction(options.max_errors);
    options.settings.validate();
  } catch (const std::invalid_argument& e) {
    throw CLI::ValidationError(e.what());
  }
}

SearchHooks search_progress_hooks(bool quiet, const char* prefix) {
  SearchHooks hooks;
  hooks.stop = stop_flag();
  if (quiet) return hooks;
  hooks.on_trial_start = [prefix](double rate, int probe, int trial) {
    std::fprintf(stderr, "%sprobe %d, trial %d: %.1f req/s ...\n", prefix, probe, trial, rate);
  };
  hooks.on_trial_done = [prefix](const json& trial, double, const json& capacity) {
    std::fprintf(
        stderr,
        "%s  achieved %.3fx, errors %.3f%%, slo value %s (ci95 %s): %s; "
        "capacity in [%s, %s]\n",
        prefix, trial["achieved_ratio"].get<double>(), 100 * trial["error_rate"].get<double>(),
        format_ms(trial["slo_value_us"].get<std::int64_t>()).c_str(),
        format_interval_ms(trial["ci95_us"]).c_str(),
        trial["pass"] ? "pass" : ("fail " + trial["reasons"].dump()).c_str(),
        format_rate(capacity["low_rps"]).c_str(), format_rate(capacity["high_rps"]).c_str());
  };
  return hooks;
}

void add_search_command(CLI::App& parent, SearchCommand& command) {
  command.app = parent.add_subcommand(
      "search", "Find the highest open-loop rate at which a target meets a latency objective");
  command.app->description(
      "Finds the highest open-loop rate at which a target meets a latency objective (--slo).\n"
      "Brackets the rate from --start-rate (doubling while probes pass, halving while\n"
      "they fail), then bisects until [highest pass, lowest fail] is within --precision.\n\n"
      "Each probe runs --trials runs at its rate (Poisson arrivals unless --arrival says\n"
      "otherwise), each a full 'loadgen run' (warm-up, window, drain) with its own seed. A\n"
      "probe passes only if every run passes: the upper end of the 95% confidence interval of\n"
      "the SLO's percentile (from the histogram's order statistics) meets the limit,\n"
      "achieved/offered >= 0.97, errors within --max-errors, and the run's own self-checks\n"
      "hold. When the only doubt is an interval that straddles the limit, up to --max-trials\n"
      "runs are made and judged on their pooled histogram.\n\n"
      "Every probe and its numbers, the capacity interval and the search's cost are written\n"
      "(--json, schema poolbench.search/1), also when the search ends early.");
  add_load_options(*command.app, command.load);
  add_search_options(*command.app, command.search, true);
  command.app->add_option("--json", command.json_path, "Write the search (poolbench.search/1) here")
      ->type_name("FILE")
      ->group("Output");
  command.app->add_flag("--quiet,-q", command.quiet, "No progress lines on stderr")
      ->group("Output");
  command.app->footer(
      "EXIT STATUS\n"
      "  0    found: the capacity lies in [highest pass, lowest fail] within --precision\n"
      "  1    the target failed mid-search (closed every connection), or --json could not be\n"
      "       written; the partial search is written\n"
      "  2    bad flags (an SLO that does not parse, absurd bounds), or nothing reachable at\n"
      "       --target\n"
      "  4    no rate meets the SLO: even --min-rate fails (the probes say why)\n"
      "  5    --max-rate still meets the SLO: the capacity is at least --max-rate\n"
      "  6    --max-probes ran out before the interval was within --precision\n"
      "  7    loadgen fell behind its own schedule in every trial of a probe (--max-trials):\n"
      "       the machine, not the target, set the result; the probes so far are written\n"
      "  130  interrupted by SIGINT (the probes so far are written)\n\n"
      "EXAMPLES\n"
      "  loadgen search --target 127.0.0.1:9090 --slo 'p99<=50ms' -c 64 -d 4 --json s.json\n"
      "  loadgen search --target 127.0.0.1:9090 --slo 'p99.9<=20ms' --start-rate 1000 \\\n"
      "      --precision 0.05 --trials 3 --duration 5s");
}

void finish_search_command(SearchCommand& command, const std::vector<std::string>& argv) {
  if (command.app->count("--rate") > 0) {
    throw CLI::ValidationError("--rate", "the search chooses the rate: use --start-rate");
  }
  if (command.app->count("--arrival") == 0) command.load.arrival = Arrival::kPoisson;
  command.load.rate = command.search.settings.start_rate;  // open loop, for validation
  finish_load_settings(*command.app, command.load, argv);
  finish_search_options(command.search);
  check_writable(command.json_path, "--json");
}

int search_command(SearchCommand& command) {
  install_stop_handlers();
  StatusLine status(command.quiet);
  SearchHooks hooks = search_progress_hooks(command.quiet, "");
  RunHooks run_hooks;
  run_hooks.stop = stop_flag();
  run_hooks.on_interval = [&status](const IntervalStats& s) { status.show(s); };
  hooks.on_trial_done = [&status, done = hooks.on_trial_done](const json& trial, double rate,
                                                              const json& capacity) {
    status.finish();
    if (done) done(trial, rate, capacity);
  };
  const TrialRunner run_trial = [&run_hooks](const LoadSettings& load) {
    TrialRun trial;
    trial.result = run_load(load, run_hooks);
    trial.document = to_json(trial.result);
    return trial;
  };
  SearchResult result;
  try {
    result = run_search(command.load, command.search.settings, run_trial, hooks);
  } catch (const std::invalid_argument& e) {
    std::cerr << "loadgen search: " << e.what() << "\n";
    return kExitUsage;
  }
  status.finish();
  int code = exit_code_for(result.outcome);
  const bool nothing_reached =
      result.outcome == SearchOutcome::kTargetFailed && result.document["cost"]["trials"] == 0;
  if (result.outcome == SearchOutcome::kTargetFailed) {
    std::cerr << "loadgen search: " << result.document["message"].get<std::string>() << "\n";
  }
  if (result.outcome == SearchOutcome::kInterrupted) code = stopped_exit_code();
  try {
    if (!command.json_path.empty()) write_json_atomically(command.json_path, result.document);
  } catch (const std::exception& e) {
    std::cerr << "loadgen search: " << e.what() << "\n";
    if (code == 0) code = 1;
  }
  print_verdict(result.document);
  return nothing_reached ? kExitUsage : code;
}

}  // namespace poolbench::cli
