// Wiring and lifecycle of chirpd: builds the modules, runs the loop, shuts down in order.
#pragma once

#include "chirp/config/config.hpp"

namespace chirp::app {

// Sets up spdlog (text or JSON lines, level) for the process.
void setup_logging(const config& cfg);

// `chirpd bench-append`: the append-path benchmark (see bench_append.cpp).
int bench_append(const config& cfg, long events, int rate, int seconds);

// Applies the migrations, retrying while the database is not reachable yet (~10 s); false
// (logged) when it stays unreachable or a migration fails.
bool migrate_with_retry(const std::string& database_url);

// Runs the command in cfg.command; returns the process exit code.
int run(const config& cfg);

}  // namespace chirp::app
