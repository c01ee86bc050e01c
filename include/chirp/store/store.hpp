// The event store seam: appends go to one writer thread (group commit: everything queued is
// written in one transaction), reads go to a small pool of reader threads. Both complete on
// the event loop; the loop never waits on PostgreSQL. libpqxx stays behind this interface.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "chirp/domain/errc.hpp"
#include "chirp/domain/wire.hpp"

namespace chirp {
struct config;
namespace metrics {
struct registry;
}
}  // namespace chirp

namespace chirp::store {

using channel_kind = domain::channel;

// One event to deliver live after its commit: the typed event and its frame, rendered once
// (domain::render_frame) and shared.
struct delivery {
    channel_kind channel = channel_kind::timeline;
    long long seq = 0;
    long long author = 0;          // timeline: whose followers receive it; follow: the followee
    long long actor = 0;           // who acted
    long long tweet_id = 0;        // TweetCreated: for the home-timeline cache
    long long conversation = 0;    // MessageSent
    bool follow_change = false;    // UserFollowed / UserUnfollowed (no frame)
    std::vector<long long> users;  // notifications / messages: the recipients
    std::shared_ptr<const std::string> frame;    // {"type":"event","channel",...}
    std::shared_ptr<const domain::event> event;  // what `frame` renders; null: follow
};

struct write_result {
    unsigned status = 503;
    std::string body;       // JSON text, rendered by domain/wire (the answer's bytes)
    long long seq = 0;      // of the (last) appended event; 0 when nothing was appended
    bool replayed = false;  // answered from an Idempotency-Key record
    std::vector<delivery> deliveries;
    std::chrono::steady_clock::time_point committed_at{};
    std::int64_t committed_unix_us = 0;  // system clock, comparable across processes
};

struct read_result {
    errc code = errc::ok;             // ok, unavailable
    std::optional<std::string> json;  // first column of the first row; nullopt for SQL NULL
};

class event_store {
public:
    virtual ~event_store() = default;

    // Queues a command ({"type", "actor", "args", "idem"?}) for the writer. Completes after
    // the commit (or with 503 when PostgreSQL is unavailable or the queue is full).
    virtual boost::asio::awaitable<write_result> submit(nlohmann::json command) = 0;

    // Runs a named read (see queries.cpp) with text parameters ("" is NULL).
    virtual boost::asio::awaitable<read_result> query(std::string_view name,
                                                      std::vector<std::string> params) = 0;

    // Called on the loop for every committed write that has deliveries, before its writer
    // gets the answer: the hook calls `resume` to let the answer go, at once or once the
    // events are published (so a client that saw the answer never sees a later event of
    // another process first: fan-out order follows causality).
    using commit_hook = std::function<void(const write_result&, std::function<void()> resume)>;
    virtual void on_committed(commit_hook fn) = 0;

    // True when PostgreSQL answers.
    virtual boost::asio::awaitable<bool> ping() = 0;

    // Flushes the writer queue and stops the threads (blocking; call at shutdown).
    virtual void stop() = 0;
};

std::unique_ptr<event_store> create_event_store(boost::asio::io_context& ioc, const config& cfg,
                                                metrics::registry& metrics);

// Blocking maintenance used by `chirpd rebuild-projections`: returns events replayed.
long long rebuild_projections(const std::string& database_url);

}  // namespace chirp::store
