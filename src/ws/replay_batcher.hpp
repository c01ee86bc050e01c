// Replays of many sessions in one read per stream (event_store::replay, store/typed_reads.cpp):
// frames rendered once by the store and shared between the sessions that replay them.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <memory>
#include <optional>
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
    bool over = false;              // more events than the limit: counted, none rendered
    std::optional<long long> head;  // the log's last seq when read (unknown: not checked)
};

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
