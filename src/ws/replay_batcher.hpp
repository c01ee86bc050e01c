// Replays of many sessions in one query per stream (chirp_replay_*_batch, migration 006), and
// the parser of that query's answer.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <memory>
#include <string>
#include <vector>

#include "chirp/domain/errc.hpp"
#include "internal.hpp"

namespace chirp::store {
class event_store;
}

namespace chirp::ws {

// What one replay request gets: the events above its `since`, in seq order (at most the limit
// given to the batcher); their frames are shared between the sessions that replay them.
struct replay_frames {
    errc code = errc::ok;
    std::vector<live_event> events;
};

// Parses the answer of a chirp_replay_*_batch query (see migration 006): frame lines, and
// "#<i> <seq> <seq>..." lines that give request i (1-based) its frames by seq. A frame line
// after a "#" line belongs to that request directly. Malformed lines are skipped; `out` holds
// one entry per request of the batch.
void parse_replay(const std::string& body, std::vector<replay_frames>& out);

class replay_batcher {
public:
    virtual ~replay_batcher() = default;
    virtual boost::asio::awaitable<replay_frames> replay(stream st, long long user,
                                                         long long since) = 0;
};

// Requests wait up to 2 ms for company, or until one of the (at most two) batches of their
// stream in flight is back; a batch takes up to 2,000 requests. `limit`: events per request.
std::shared_ptr<replay_batcher> create_replay_batcher(boost::asio::io_context& ioc,
                                                      store::event_store& st, std::size_t limit);

}  // namespace chirp::ws
