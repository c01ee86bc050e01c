// What the live half of collaborative drafts needs from the event store, as an interface: the
// registry (registry.hpp) is written against it, unit tests use memory_log (an in-memory log),
// chirpd the PostgreSQL-backed one over the store's typed draft seam (store_log.hpp). Every call
// completes on the caller's executor and never blocks the event loop; a store that is down or
// past its deadline answers `unavailable`.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "chirp/collab/changeset.hpp"
#include "chirp/domain/wire.hpp"

namespace chirp::store {
class event_store;
}

namespace chirp::drafts {

enum class status { ok, not_found, forbidden, conflict, unavailable };

// A draft as loaded: its members (owner first, collaborators in the order added), its text and
// version. closed: published or discarded (the live part treats it as not found).
struct snapshot {
    long long id = 0;
    domain::user_ref owner;
    std::vector<domain::user_ref> collaborators;
    std::string text;  // UTF-8
    std::uint64_t version = 0;
    bool closed = false;

    bool member(long long user) const {
        if (owner.id == user) return true;
        for (const auto& c : collaborators)
            if (c.id == user) return true;
        return false;
    }
};

// One accepted update as logged (a DraftUpdated event).
struct logged_update {
    std::uint64_t version = 0;  // the version it produced
    std::string client_id;
    long long user_id = 0;
    collab::changeset changes;
    domain::user_ref user;  // who pushed it, when the log knows (user.id 0: only user_id)
};

struct load_result {
    status st = status::unavailable;
    snapshot snap;
};

// ok: version is the new version; conflict: version is the draft's current version.
struct append_result {
    status st = status::unavailable;
    std::uint64_t version = 0;
};

struct since_result {
    status st = status::unavailable;
    std::vector<logged_update> updates;  // versions v+1 .. in order, at most `limit`
};

class draft_log {
public:
    virtual ~draft_log() = default;
    virtual boost::asio::awaitable<load_result> load(long long draft) = 0;
    // Appends `updates` (versions expected+1 ..) by `user` iff the draft is at `expected`;
    // `text` is the resulting text (UTF-8). forbidden: `user` is no member; not_found: unknown
    // or closed.
    virtual boost::asio::awaitable<append_result> append(long long draft, std::uint64_t expected,
                                                         long long user,
                                                         std::vector<collab::update> updates,
                                                         std::string text) = 0;
    virtual boost::asio::awaitable<since_result> updates_since(long long draft,
                                                               std::uint64_t version,
                                                               int limit) = 0;
};

// The PostgreSQL-backed log over the event store's typed draft seam (store/drafts.hpp).
std::unique_ptr<draft_log> create_store_log(store::event_store& st);

// An in-memory log (unit tests and tools): drafts created with create(); answers at once.
class memory_log final : public draft_log {
public:
    long long create(domain::user_ref owner, std::string text = {},
                     std::vector<domain::user_ref> collaborators = {});
    snapshot* find(long long draft);
    // Every accepted update of a draft, in order (version i+1 at index i).
    const std::vector<logged_update>& history(long long draft);
    // The next append answers `unavailable` (a store outage) without appending.
    int fail_next_appends = 0;

    boost::asio::awaitable<load_result> load(long long draft) override;
    boost::asio::awaitable<append_result> append(long long draft, std::uint64_t expected,
                                                 long long user,
                                                 std::vector<collab::update> updates,
                                                 std::string text) override;
    boost::asio::awaitable<since_result> updates_since(long long draft, std::uint64_t version,
                                                       int limit) override;

private:
    struct entry {
        snapshot snap;
        std::vector<logged_update> log;
    };
    std::vector<entry> drafts_;  // id = index + 1
};

}  // namespace chirp::drafts
