// The WebSocket and SSE sessions of a server: the hooks the HTTP server hands /ws upgrades
// and /api/stream to, and the list of open sessions for shutdown. The sessions reach the
// fan-out module only through its hub interface.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <memory>

#include "chirp/http/server.hpp"

namespace chirp {
struct config;
namespace metrics {
struct registry;
}
namespace store {
class event_store;
}
namespace auth {
class jwt_codec;
}
namespace fanout {
class hub;
}
namespace drafts {
class registry;
}
namespace util {
class limits_region;  // util/limit_tables.hpp: the session cap and replay limit's state
}
}  // namespace chirp

namespace chirp::ws {

class sessions {
public:
    virtual ~sessions() = default;
    virtual http::server_hooks hooks() = 0;
    // Closes every session with 1001 (new ones too, from now on) and waits, at most 1.5 s,
    // until the connections are gone.
    virtual boost::asio::awaitable<void> shutdown() = 0;
};

std::unique_ptr<sessions> create_sessions(boost::asio::io_context& ioc, const config& cfg,
                                          metrics::registry& metrics, store::event_store& store,
                                          auth::jwt_codec& jwt, fanout::hub& hub,
                                          drafts::registry* drafts = nullptr,
                                          std::shared_ptr<util::limits_region> limits = nullptr);

}  // namespace chirp::ws
