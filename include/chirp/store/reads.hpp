// What the store's readers answer: typed rows (the wire shapes of domain/wire.hpp and a few
// plain records), or a typed error. No JSON text crosses this seam: handlers and sessions
// render with the domain renderers.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "chirp/domain/errc.hpp"
#include "chirp/domain/wire.hpp"
#include "chirp/metrics/metrics.hpp"

namespace chirp::store {

// A value or an error: not_found (no such user, tweet, conversation), forbidden (not a
// participant), bad_request, unavailable (PostgreSQL down or the queue full).
template <class T>
class result {
public:
    result(T v) : v_(std::move(v)) {}  // NOLINT: implicit like std::expected
    result(errc e) : v_(e) {}          // NOLINT
    bool has_value() const noexcept { return v_.index() == 0; }
    explicit operator bool() const noexcept { return has_value(); }
    errc error() const noexcept { return has_value() ? errc::ok : std::get<1>(v_); }
    T& value() & { return std::get<0>(v_); }
    const T& value() const& { return std::get<0>(v_); }
    T&& value() && { return std::get<0>(std::move(v_)); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }

private:
    std::variant<T, errc> v_;
};

// One page of a list, newest first (or oldest first for the audit trail).
template <class T>
struct page {
    std::vector<T> items;
    std::optional<long long> next_cursor;  // nullopt on the last page
};

struct notifications_page {
    store::page<domain::notification> page;
    long long unread = 0;
};

// Login: the user and the stored password hash.
struct user_credentials {
    domain::user user;
    std::string password_hash;
};

using stats_counts = metrics::db_counts;

struct follower_ids {
    long long count = 0;
    std::vector<long long> ids;
};

// The home-timeline cache's list fill: the authors (followees and self) and the newest ids of
// their live tweets.
struct home_list {
    std::vector<long long> authors;
    std::vector<long long> ids;  // newest first
};

// A tweet record for the home-timeline cache: viewer-independent (flags false, no original
// attached; retweet_of_id names it).
struct tweet_record {
    domain::tweet tweet;
    long long retweet_of_id = 0;
    bool deleted = false;
};

// The cache's tweet fill: records of the asked tweets and their originals, and the viewer's
// flags for the asked flag ids and their originals.
struct home_fill {
    std::vector<tweet_record> tweets;
    std::vector<long long> flagged;    // every id whose flags were looked up
    std::vector<long long> liked;      // of those, liked by the viewer
    std::vector<long long> retweeted;  // of those, retweeted by the viewer
};

// One replay request (a session catching up on a stream) and what it gets: its frames above
// `since` in seq order, rendered once with the one envelope renderer and shared between the
// requests that replay the same event.
struct replay_request {
    long long user = 0;
    long long since = 0;
};
using frame_ptr = std::shared_ptr<const std::string>;
// A request with `limit` events or more above its `since` is only counted (the query selects
// at most `limit` seqs per request): `over` is set and none of its frames is rendered, so a
// replay that ends in "resync" costs an index range, not 1,001 rendered frames. `head` is the
// log's last seq when read: a `since` above it names events that do not exist.
struct replay_answer {
    std::vector<std::vector<frame_ptr>> frames;  // one list per request, in order
    std::vector<char> over;                      // per request: 1 when at the limit
    long long head = 0;
};

}  // namespace chirp::store
