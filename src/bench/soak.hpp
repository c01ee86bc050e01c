// chirp-bench soak: a long run with connection churn (scripts/soak.sh), not part of the
// benchmark suite. N followers connect, stay a random while, disconnect (half with a close
// frame, half with a TCP reset), come back after a random pause and resume with `since`,
// while a few authors tweet at a steady rate. Reports chirpd's RSS and descriptors and
// Redis's pub/sub subscriptions at the start, the end and after every client has gone, and
// the tweets each follower got: delivered, missed, duplicated.
#pragma once

#include "net.hpp"
#include "options.hpp"

namespace chirp::bench {

asio::awaitable<json> scenario_soak(const options& opts);

}  // namespace chirp::bench
