// What a real-time client may send, as typed values: one parser turns a WebSocket text
// message into a client_message; bad input becomes a message_error with the answer it gets
// (an error frame, or a close code and reason).
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "chirp/drafts/registry.hpp"
#include "internal.hpp"

namespace chirp::ws {

struct ping_message {};
struct auth_message {
    std::string token;
};
struct subscribe_message {
    std::vector<stream> streams;     // distinct, in the order given
    std::vector<const char*> names;  // one per channel given, for the "subscribed" answer
    bool stats = false;
    std::optional<long long> since;  // >= 0
};
struct typing_message {
    long long conversation = 0;
};
// Collaborative drafts (docs/protocol.md): the requests the drafts registry takes.
struct draft_join_message {
    drafts::join_request r;
};
struct draft_push_message {
    drafts::push_request r;
};
struct draft_presence_message {
    drafts::presence_request r;
};
struct draft_leave_message {
    long long draft = 0;
};
// A "type" nobody knows: answered with unknown_type (once authenticated).
struct unknown_message {
    std::string type;
};

// The message kind an error belongs to: the session answers some errors only in some states
// (a malformed subscribe before `auth` still gets not_authenticated).
enum class message_kind { none, ping, auth, subscribe, typing, draft };

struct message_error {
    message_kind kind = message_kind::none;
    unsigned close_code = 0;  // 0: answer with an error frame and stay open
    std::string code;         // the error frame's "code" (empty when closing)
    std::string message;      // its "message", or the close reason
    long long draft = 0;      // the error frame's "draft" (0: none)
};

using client_message =
    std::variant<ping_message, auth_message, subscribe_message, typing_message, unknown_message,
                 message_error, draft_join_message, draft_push_message, draft_presence_message,
                 draft_leave_message>;

// `user`: the session's user (channels "<name>:<id>" must name it); 0 before authentication.
client_message parse_client_message(std::string_view text, long long user);

// The draft_* messages (draft_messages.cpp); nullopt for another type.
std::optional<client_message> parse_draft_message(std::string_view type, const nlohmann::json& j);
// A draft_push that is no JSON only because of lone surrogate escapes: the push with error
// lone_surrogate; nullopt otherwise.
std::optional<client_message> parse_draft_lone_surrogate(std::string_view text);

// Maps "timeline" or "timeline:<own id>" to a stream; sets `foreign` for another user's id
// and `stats` for "stats" (which is no stream).
std::optional<stream> parse_channel(std::string_view name, long long user, bool& foreign,
                                    bool& stats);

}  // namespace chirp::ws
