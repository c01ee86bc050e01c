// The `scale` scenario's table (scripts/bench.sh --only scale, issue 12): the fan-out ladder run
// once per chirpd worker count (scale-w<N>.json in the results directory), next to the relay's
// ladder of the same run (fanout-relay.json).
#pragma once

#include <string>

namespace chirp::bench {

// Capacity, % of the relay, server CPU and CPU per delivered frame per worker count; "" when
// the directory holds no scale results.
std::string scale_summary(const std::string& dir);

}  // namespace chirp::bench
