// The Redis payloads of the fan-out, each with ONE encoder and ONE decoder. The hub uses
// nothing else to write or read them. Decoders never throw and never read out of bounds; they
// answer nullopt for anything that is not exactly what the encoder writes (numbers are plain
// decimal digits, an optional '-' where a value may be negative, and must fit their type).
// Views in decoded values point into the payload given to the decoder.
//
//   channel            payload
//   chirp:timeline     "<seq> <commit_us>\n<recipient>,<recipient>,...\n<frame>"
//   notifications:U,   "<seq> <commit_us>\n<frame>"   (seq 0: ephemeral, e.g. typing)
//   messages:U,
//   author:A
//   chirp:follows      "<followee> <follower>"
//   chirp:presence     "+<user>" (online here) or "-<user>" (left here)
//   chirp:nodes        "<node id>" (a non-zero 64-bit number)
//   chirp:online       sorted set; members "<user>", scores the expiry in unix seconds
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace chirp::fanout {

inline constexpr std::string_view timeline_channel = "chirp:timeline";
inline constexpr std::string_view follows_channel = "chirp:follows";
inline constexpr std::string_view presence_channel = "chirp:presence";
inline constexpr std::string_view nodes_channel = "chirp:nodes";
inline constexpr std::string_view online_key = "chirp:online";

// --- channels of one user or author ------------------------------------------------------------

enum class channel_kind { notifications, messages, author };

struct user_channel {
    channel_kind kind = channel_kind::notifications;
    long long id = 0;
    bool operator==(const user_channel&) const = default;
};

std::string encode_channel(const user_channel& c);
// nullopt for every other channel (chirp:timeline, chirp:follows, ...).
std::optional<user_channel> decode_channel(std::string_view channel);

// --- events ------------------------------------------------------------------------------------

// On notifications:U, messages:U and author:A.
struct live_message {
    long long seq = 0;
    std::int64_t commit_us = 0;
    std::string_view frame;
    bool operator==(const live_message&) const = default;
};

std::string encode_live_message(const live_message& m);
std::optional<live_message> decode_live_message(std::string_view payload);

// On chirp:timeline: one message per event for every process; each delivers it to the
// recipients it holds sessions of.
struct timeline_message {
    long long seq = 0;
    std::int64_t commit_us = 0;
    std::vector<long long> recipients;
    std::string_view frame;
    bool operator==(const timeline_message&) const = default;
};

std::string encode_timeline_message(const timeline_message& m);
std::optional<timeline_message> decode_timeline_message(std::string_view payload);

// --- follower caches, presence, processes ------------------------------------------------------

struct follow_message {
    long long followee = 0;
    long long follower = 0;
    bool operator==(const follow_message&) const = default;
};

std::string encode_follow_message(const follow_message& m);
std::optional<follow_message> decode_follow_message(std::string_view payload);

struct presence_message {
    bool online = true;
    long long user = 0;
    bool operator==(const presence_message&) const = default;
};

std::string encode_presence_message(const presence_message& m);
std::optional<presence_message> decode_presence_message(std::string_view payload);

std::string encode_node_hello(std::uint64_t node);
// nullopt also for node 0 (no process has it).
std::optional<std::uint64_t> decode_node_hello(std::string_view payload);

// chirp:gaps (redis::gap_channel): "<node> <lowest seq it could not publish, 0: none>".
std::string encode_gap_hint(std::uint64_t node, long long from);
std::optional<std::pair<std::uint64_t, long long>> decode_gap_hint(std::string_view payload);

// A member of chirp:online (and any other decimal user id kept in Redis).
std::string encode_user_id(long long user);
std::optional<long long> decode_user_id(std::string_view text);

// --- frames the hub renders itself ---------------------------------------------------------------

// The ephemeral typing frame (carried with seq 0 on messages:U). user_ref: JSON of a UserRef.
std::string typing_frame(long long conversation, std::string_view user_ref, int expires_in_ms);

}  // namespace chirp::fanout
