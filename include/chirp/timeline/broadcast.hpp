// The chirp:tweets broadcast that keeps every process's home-timeline cache coherent: ONE
// encoder and ONE decoder. A committed write is described as a list of changes; Redis
// numbers it (a Lua script: INCR of a versioned counter and PUBLISH in one atomic step,
// broadcast_script below) and every process applies the changes in version order.
//
//   payload  "<epoch> <ver> <changes>"
//   changes  each followed by ';'
//     c<tweet> <author> <replyTo> <retweetOf>          tweet created (0: none)
//     d<tweet> <author> <replyTo> <retweetOf>          tweet deleted (-1: parents unknown)
//     l<tweet> <actor> <1|0> <likes> <retweets> <replies>   liked / unliked, counts after
//     f<follower> <followee>                            follow or unfollow
//
// The decoder never throws and never reads out of bounds: nullopt for a malformed envelope
// or change; a change of an unknown kind is skipped (a newer writer).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace chirp::timeline {

inline constexpr std::string_view broadcast_channel = "chirp:tweets";
inline constexpr std::string_view version_key = "chirp:tweets:ver";  // hash {epoch, ver}

struct tweet_created {
    long long tweet = 0, author = 0, reply_to = 0, retweet_of = 0;
    bool operator==(const tweet_created&) const = default;
};
struct tweet_deleted {
    long long tweet = 0, author = 0, reply_to = -1, retweet_of = -1;
    bool operator==(const tweet_deleted&) const = default;
};
struct like_changed {
    long long tweet = 0, actor = 0;
    bool liked = false;
    long long likes = 0, retweets = 0, replies = 0;
    bool operator==(const like_changed&) const = default;
};
struct follow_changed {
    long long follower = 0, followee = 0;
    bool operator==(const follow_changed&) const = default;
};
using change = std::variant<tweet_created, tweet_deleted, like_changed, follow_changed>;

struct broadcast {
    std::string epoch;  // a counter's lifetime: a new one after Redis lost the counter
    long long ver = 0;  // gap-free within an epoch
    std::vector<change> changes;
    bool operator==(const broadcast&) const = default;
};

// The <changes> part, as the writer hands it to broadcast_script (ARGV[1]).
std::string encode_changes(const std::vector<change>& changes);
// The whole payload. In production broadcast_script builds it inside Redis with exactly this
// layout ("<epoch> <ver> " + ARGV[1]); this is its reference for tests.
std::string encode_broadcast(const broadcast& b);
std::optional<broadcast> decode_broadcast(std::string_view payload);

// EVAL broadcast_script 2 <version_key> <broadcast_channel> <changes> <epoch if new>:
// counts and publishes in one atomic step; returns the version.
extern const char* const broadcast_script;

}  // namespace chirp::timeline
