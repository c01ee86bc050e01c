// The chirp-bench scenarios. Each runs on one io_context thread, drives chirpd (or the relay)
// only through REST and /ws, stops by itself, and returns its results as JSON with a
// `"failures"` array: empty when nothing was lost, duplicated or refused.
#pragma once

#include "net.hpp"
#include "options.hpp"

namespace chirp::bench {

asio::awaitable<json> scenario_idle(const options& opts);
asio::awaitable<json> scenario_fanout(const options& opts, bool celebrity);
asio::awaitable<json> scenario_notify(const options& opts);
asio::awaitable<json> scenario_storm(const options& opts);
asio::awaitable<json> scenario_smoke(const options& opts);
asio::awaitable<json> scenario_drafts(const options& opts);

// Human-readable table of a scenario's JSON result.
std::string format_table(const json& result);

}  // namespace chirp::bench
