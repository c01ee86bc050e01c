// `chirp-bench relay`: the machine's ceiling for WebSocket fan-out. A minimal one-thread server
// built from the same stack as chirpd (Asio + Beast) that does nothing but the unavoidable:
// it accepts WebSocket clients (answering auth and subscribe with canned replies, no JSON
// parsing) and, for every POST it receives, builds one text frame of the size of a real event
// (~1.4 KB) around the request body and writes it to F sockets (`?fanout=F`, default all).
// No Redis, no database, no JSON work: chirp-bench drives it with the same ladder as chirpd.
#pragma once

#include "options.hpp"

namespace chirp::bench {

int run_relay(const options& opts);

}  // namespace chirp::bench
