// The human summary of a run document: the table loadgen prints after a run or a merge.
//
// Use: print_summary(std::cout, to_json(result)), or print_summary(std::cout, merged) for what
// merge_runs() returns.
#pragma once

#include <ostream>

#include <nlohmann/json.hpp>

namespace poolbench {

// The load, the request counts, a latency table and the checks of `run` (a run document,
// merged or not), for people; scripts read the JSON.
void print_summary(std::ostream& out, const nlohmann::json& run);

}  // namespace poolbench
