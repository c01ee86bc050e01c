// What a real-time client may send, as typed values: one parser turns a WebSocket text
// message into a client_message; bad input becomes a message_error with the answer it gets
// (an error frame, or a close code and reason).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

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
// A "type" nobody knows: answered with unknown_type (once authenticated).
struct unknown_message {
    std::string type;
};

// The message kind an error belongs to: the session answers some errors only in some states
// (a malformed subscribe before `auth` still gets not_authenticated).
enum class message_kind { none, ping, auth, subscribe, typing };

struct message_error {
    message_kind kind = message_kind::none;
    unsigned close_code = 0;  // 0: answer with an error frame and stay open
    std::string code;         // the error frame's "code" (empty when closing)
    std::string message;      // its "message", or the close reason
};

using client_message = std::variant<ping_message, auth_message, subscribe_message, typing_message,
                                    unknown_message, message_error>;

// `user`: the session's user (channels "<name>:<id>" must name it); 0 before authentication.
client_message parse_client_message(std::string_view text, long long user);

// Maps "timeline" or "timeline:<own id>" to a stream; sets `foreign` for another user's id
// and `stats` for "stats" (which is no stream).
std::optional<stream> parse_channel(std::string_view name, long long user, bool& foreign,
                                    bool& stats);

}  // namespace chirp::ws
