// The Redis payloads of the fan-out, each with ONE encoder and ONE decoder. The hub uses
// nothing else to write or read them. Decoders never throw and never read out of bounds; they
// answer nullopt for anything that is not exactly what the encoder writes (numbers are plain
// decimal digits, an optional '-' where a value may be negative, and must fit their type).
// Views in decoded values point into the payload given to the decoder.
//
//   channel            payload
//   chirp:node:<id>    "<seq> <commit_us>\n<recipient>,<recipient>,...\n<frame>" (a timeline
//                      event, to the recipients process <id> holds on this shard)
//   notifications:U,   "<seq> <commit_us>\n<frame>"   (seq 0: ephemeral, e.g. typing)
//   messages:U,
//   author:A
//   chirp:follows      "<followee> <follower>"
//   chirp:presence     "+<user> <node>" (online on process <node>) or "-<user> <node>" (left
//                      it), on the user's shard; without " <node>": node 0 (unknown)
//   chirp:nodes        "<node id>" (a non-zero 64-bit number)
//   chirp:where        sorted set on each shard; members "<user>@<node>" (the user's sessions
//                      on process <node>), scores the expiry in unix seconds
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace chirp::fanout {

inline constexpr std::string_view node_channel_prefix = "chirp:node:";
inline constexpr std::string_view follows_channel = "chirp:follows";
inline constexpr std::string_view presence_channel = "chirp:presence";
inline constexpr std::string_view nodes_channel = "chirp:nodes";
inline constexpr std::string_view where_key = "chirp:where";

// --- channels of one user or author ------------------------------------------------------------

enum class channel_kind { notifications, messages, author };

struct user_channel {
    channel_kind kind = channel_kind::notifications;
    long long id = 0;
    bool operator==(const user_channel&) const = default;
};

std::string encode_channel(const user_channel& c);
// nullopt for every other channel (chirp:node:<id>, chirp:follows, ...).
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

// On chirp:node:<id>: one message per event, process and shard (routing.hpp); the process
// delivers it to the recipients' sessions.
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
    std::uint64_t node = 0;  // the process (0: not said)
    bool operator==(const presence_message&) const = default;
};

std::string encode_presence_message(const presence_message& m);
std::optional<presence_message> decode_presence_message(std::string_view payload);

// A member of chirp:where: "<user>@<node>".
std::string encode_presence_entry(long long user, std::uint64_t node);
std::optional<std::pair<long long, std::uint64_t>> decode_presence_entry(std::string_view member);

// The channel of one process (its timeline events): chirp:node:<id>.
std::string encode_node_channel(std::uint64_t node);

std::string encode_node_hello(std::uint64_t node);
// nullopt also for node 0 (no process has it).
std::optional<std::uint64_t> decode_node_hello(std::string_view payload);

// chirp:gaps (redis::gap_channel): "<node> <lowest seq it could not publish, 0: none>".
std::string encode_gap_hint(std::uint64_t node, long long from);
std::optional<std::pair<std::uint64_t, long long>> decode_gap_hint(std::string_view payload);

// A decimal user id kept in Redis.
std::string encode_user_id(long long user);
std::optional<long long> decode_user_id(std::string_view text);

// --- frames the hub renders itself ---------------------------------------------------------------

// The ephemeral typing frame (carried with seq 0 on messages:U). user_ref: JSON of a UserRef.
std::string typing_frame(long long conversation, std::string_view user_ref, int expires_in_ms);

}  // namespace chirp::fanout
