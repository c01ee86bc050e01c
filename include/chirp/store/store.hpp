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
#include "chirp/store/drafts.hpp"
#include "chirp/store/reads.hpp"

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

class event_store {
public:
    virtual ~event_store() = default;

    // Queues a command ({"type", "actor", "args", "idem"?}) for the writer. Completes after
    // the commit (or with 503 when PostgreSQL is unavailable or the queue is full).
    virtual boost::asio::awaitable<write_result> submit(nlohmann::json command) = 0;

    // --- typed reads (reader threads; see typed_reads.cpp). A viewer or cursor of 0 is none.
    template <class T>
    using read = boost::asio::awaitable<result<T>>;

    // Login: not_found for an unknown handle.
    virtual read<user_credentials> credentials(std::string handle) = 0;
    virtual read<domain::user> user_by_id(long long id) = 0;
    virtual read<domain::user> user_by_handle(std::string handle, long long viewer) = 0;
    virtual read<std::vector<domain::user>> search_users(std::string prefix, int limit,
                                                         long long viewer) = 0;
    // The followers (or followees) of a user, newest follow first; not_found: no such user.
    virtual read<page<domain::user>> follow_page(bool followers, std::string handle,
                                                 long long before, int limit, long long viewer) = 0;
    virtual read<page<domain::tweet>> user_tweets(std::string handle, long long before, int limit,
                                                  long long viewer) = 0;
    virtual read<domain::tweet> tweet(long long id, long long viewer) = 0;
    virtual read<page<domain::tweet>> replies(long long id, long long before, int limit,
                                              long long viewer) = 0;
    virtual read<page<domain::tweet>> home_timeline(long long user, long long before,
                                                    int limit) = 0;
    virtual read<notifications_page> notifications(long long user, long long before, int limit) = 0;
    virtual read<page<domain::audit_event>> events(long long user, long long after, int limit) = 0;
    // The user's conversations, latest activity first; the cursor is a last-activity seq.
    virtual read<page<domain::conversation>> conversations(long long user, long long before,
                                                           int limit) = 0;
    // not_found: no such conversation; forbidden: the user is not a participant.
    virtual read<page<domain::message>> messages(long long conversation, long long user,
                                                 long long before, int limit) = 0;
    virtual read<std::vector<long long>> conversation_members(long long conversation) = 0;
    virtual read<std::vector<long long>> celebrity_followees(long long user,
                                                             long long threshold) = 0;
    // The follower count, and the ids only when there are at most max_ids of them (a
    // celebrity's list, fanned out on read, is never loaded).
    virtual read<follower_ids> followers_of(long long author, long long max_ids) = 0;
    // Deletes at most `limit` idempotency records older than max_age_seconds; returns how many.
    virtual read<long long> purge_idempotency(long long max_age_seconds, int limit) = 0;
    virtual read<stats_counts> counts() = 0;
    // The home-timeline cache's fills.
    virtual read<home_list> home_ids(long long user, int max) = 0;
    virtual read<home_fill> home_records(std::vector<long long> ids, long long viewer,
                                         std::vector<long long> flag_ids) = 0;
    // Replays of many sessions of one stream at once: frames rendered with the live renderer.
    virtual read<replay_answer> replay(domain::channel stream, std::vector<replay_request> requests,
                                       int limit) = 0;

    // --- collaborative drafts (chirp/store/drafts.hpp) ---
    // A draft, any state (closed = published or discarded); not_found: no such draft.
    virtual read<draft_snapshot> load_draft(long long id) = 0;
    // The open drafts a user owns or collaborates on, the latest changed first; the cursor is
    // the seq of the draft's last event.
    virtual read<page<domain::draft>> drafts_of(long long user, long long before, int limit) = 0;
    // The accepted updates after version `after` (at most `limit`), in version order.
    virtual read<std::vector<draft_update>> draft_updates_since(long long id, long long after,
                                                                int limit) = 0;
    // Appends `updates` (not empty) at version `expected` (the writer, one transaction, the
    // draft's row locked): one DraftUpdated each, versions expected+1.., and the projection
    // takes `text` (UTF-8: the text after the updates, as the authority computed it).
    // conflict (with the current version) when the draft is not at `expected`; not_found: no
    // such draft; forbidden: closed, or `user` is neither its owner nor a collaborator.
    virtual read<draft_appended> draft_append(long long id, long long expected, long long user,
                                              std::vector<collab::update> updates,
                                              std::string text) = 0;

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
