// run_server(): wires a reactor, a pool, a dispatcher, the server and the admin endpoint from a
// configuration and runs them on the calling thread (the reactor thread) until SIGINT/SIGTERM
// (server.hpp describes the drain). Kept apart from server.cpp so that the server and the admin
// endpoint, which reports on it, do not include each other.
#pragma once

#include "server.hpp"

namespace poolbench {

// The exit status when the drain was cut (--drain-timeout passed, or a second signal) with
// requests unanswered or connections still open: 0 means every request read was answered.
inline constexpr int kExitDrainCut = 3;

// Runs the reference server until a signal stops it. Returns the process exit code: 0, or
// kExitDrainCut. When work is still running on pool workers after a cut drain, it does not
// return: it reports and ends the process at once (std::_Exit(kExitDrainCut)), since joining
// those workers would break --drain-timeout and destroying the pool under them is unsafe.
int run_server(const ServerConfig& config);

}  // namespace poolbench
