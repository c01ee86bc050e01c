// The live half of collaborative drafts (docs/protocol.md, "Collaborative drafts"): a
// per-process registry of the drafts its sessions have joined. Each joined draft has a
// collab::authority (docs/collab.md) that rebases pushes; accepted updates are appended to the
// log (draft_log, expected version = the authority's), echoed to every joined editor of this
// process and published on the draft's bus channel to the other processes, which apply version
// == theirs + 1, ignore older ones and catch up from the log on a gap. Presence is forwarded,
// throttled (coalesced) and never stored.
//
// Everything runs on the event loop. Per draft, work (joins, pushes, remote updates, notices)
// runs one task at a time in a bounded queue; a session has at most one join or push in flight
// (it waits for `done`), so the queues are bounded by the editors. Drafts without editors are
// kept (LRU, bounded) without their bus subscription and caught up from the log when joined
// again.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "chirp/collab/authority.hpp"
#include "chirp/collab/changeset.hpp"
#include "chirp/domain/wire.hpp"
#include "chirp/drafts/log.hpp"

namespace chirp::drafts {

// A session as the registry sees it (ws/ implements it).
class editor {
public:
    virtual long long user_id() const = 0;
    // The session's UserRef JSON ({"id","handle","displayName"}).
    virtual const std::string& user_json() const = 0;
    // Queue a frame to the client (never suspends).
    virtual void send(const std::shared_ptr<const std::string>& frame) = 0;
    // The join or push the session waits for is answered: it may read its next message.
    virtual void done() = 0;

protected:
    ~editor() = default;
};

// The cross-process pub/sub (Redis in chirpd, an in-memory bus in unit tests).
class bus {
public:
    virtual ~bus() = default;
    virtual void publish(const std::string& channel, std::string payload) = 0;
    // Reference-counted; completes once the subscription is confirmed (bounded wait).
    virtual boost::asio::awaitable<void> subscribe(std::string channel) = 0;
    virtual void unsubscribe(const std::string& channel) = 0;
};

// From the REST half (S1's hook) after a committed change of a draft's membership or life.
struct draft_notice {
    enum class kind { collaborators, published, discarded };
    long long draft_id = 0;
    kind k = kind::collaborators;
    std::optional<long long> removed_user_id;
    std::optional<long long> tweet_id;
};

struct options {
    std::size_t window = 200;  // the authority's window (and the join catch-up window)
    std::size_t max_code_points = collab::max_draft_code_points;
    std::size_t max_updates_per_push = 200;
    std::size_t max_drafts_per_session = 8;
    std::size_t idle_drafts = 64;  // drafts kept without editors (LRU)
    int append_retries = 8;        // conflicts with other processes before draft_reset conflict
    std::size_t queue_max = 1024;  // tasks per draft (remote updates beyond: caught up later)
    std::chrono::milliseconds presence_interval{100};  // at most 10 presence frames/s
    std::chrono::milliseconds presence_expiry{15000};
};

struct join_request {
    long long draft = 0;
    std::optional<std::uint64_t> version;
    std::string client_id;  // optional: names the editor in others' "editors" lists
};

struct push_request {
    long long draft = 0;
    std::uint64_t version = 0;
    std::vector<collab::update> updates;
    std::optional<collab::collab_error> error;  // the changes did not parse: draft_reset
};

struct presence_request {
    long long draft = 0;
    std::string client_id;
    std::uint64_t version = 0;
    std::optional<std::pair<long long, long long>> selection;  // anchor, head
};

class registry {
public:
    virtual ~registry() = default;

    // A session that will send draft messages; its id names it in the calls below. The editor
    // must outlive disconnect(id).
    virtual std::uint64_t connect(editor& e) = 0;
    // The session ended: it leaves every draft (the others see its presence end).
    virtual void disconnect(std::uint64_t session) = 0;

    // Answer draft_state or an error, then editor::done().
    virtual void join(std::uint64_t session, join_request r) = 0;
    // Answer draft_update frames + draft_pushed, or draft_reset / error, then editor::done().
    virtual void push(std::uint64_t session, push_request r) = 0;
    // Answered at once (an error, or nothing); no done().
    virtual void presence(std::uint64_t session, presence_request r) = 0;
    virtual void leave(std::uint64_t session, long long draft) = 0;

    // From the REST half.
    virtual void notify(draft_notice n) = 0;
    // A bus message on a draft channel (bus_prefix + id).
    virtual void on_bus_message(std::string_view channel, std::string_view payload) = 0;
    // The bus came back after an outage: catch every joined draft up from the log.
    virtual void on_bus_reconnected() = 0;

    // For /api/stats and tests.
    virtual std::size_t drafts_loaded() const = 0;
    virtual std::size_t editors() const = 0;
};

inline constexpr std::string_view bus_prefix = "chirp:draft:";

std::unique_ptr<registry> create_registry(boost::asio::io_context& ioc, draft_log& log, bus& b,
                                          options opts = {});

}  // namespace chirp::drafts
