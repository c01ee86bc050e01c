// The drafts module's seam for the app: the live registry (registry.hpp) over a draft log,
// with its own Redis connection as the bus between processes (a per-draft channel
// chirp:draft:{id}, subscribed while the process has an editor on the draft). A process that
// hears of lost publishes (Redis came back, or chirp:gaps) catches its joined drafts up from
// the log.
#pragma once

#include <boost/asio/io_context.hpp>
#include <memory>
#include <string>

#include "chirp/drafts/registry.hpp"

namespace chirp {
struct config;
}

namespace chirp::drafts {

class service {
public:
    virtual ~service() = default;
    virtual registry& live() = 0;
    virtual void start() = 0;
    virtual void stop() = 0;
    // Its part of /api/stats: `,"key":value` fields appended to `out`.
    virtual void stats_fields(std::string& out) const = 0;
};

// `log` must outlive the service.
std::unique_ptr<service> create_service(boost::asio::io_context& ioc, const config& cfg,
                                        draft_log& log, options opts = {});

}  // namespace chirp::drafts
