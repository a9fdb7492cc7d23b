// run_server(): wires a reactor, a pool, a dispatcher, the server and the admin endpoint from a
// configuration and runs them on the calling thread (the reactor thread) until SIGINT/SIGTERM
// (server.hpp describes the drain). Kept apart from server.cpp so that the server and the admin
// endpoint, which reports on it, do not include each other.
#pragma once

#include "server.hpp"

namespace poolbench {

// Runs the reference server until a signal stops it. Returns the process exit code.
int run_server(const ServerConfig& config);

}  // namespace poolbench
