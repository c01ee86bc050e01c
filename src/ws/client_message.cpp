// The one parser of real-time client messages (see client_message.hpp).
#include "client_message.hpp"

#include <algorithm>
#include <limits>
#include <nlohmann/json.hpp>

#include "chirp/domain/text.hpp"

using json = nlohmann::json;

namespace chirp::ws {

namespace {

message_error reply(message_kind k, std::string code, std::string message) {
    return {k, 0, std::move(code), std::move(message)};
}

message_error close(message_kind k, unsigned close_code, std::string reason) {
    return {k, close_code, {}, std::move(reason)};
}

client_message parse_subscribe(const json& j, long long user) {
    constexpr auto k = message_kind::subscribe;
    auto chans = j.find("channels");
    if (chans == j.end() || !chans->is_array() || chans->empty())
        return reply(k, "missing_field", "channels must be a non-empty array");
    subscribe_message m;
    for (const auto& c : *chans) {
        if (!c.is_string()) return reply(k, "bad_channel", "channel names are strings");
        const auto& name = c.get_ref<const std::string&>();
        bool foreign = false, is_stats = false;
        auto st = parse_channel(name, user, foreign, is_stats);
        if (foreign) return close(k, 1008, "you can only subscribe to your own streams");
        if (!st && !is_stats)
            return reply(k, "bad_channel", "unknown channel '" + name.substr(0, 40) + "'");
        m.stats = m.stats || is_stats;
        if (st && std::find(m.streams.begin(), m.streams.end(), *st) == m.streams.end())
            m.streams.push_back(*st);
        m.names.push_back(st ? stream_name(*st) : "stats");
    }
    if (auto sn = j.find("since"); sn != j.end() && !sn->is_null()) {
        if (sn->is_string()) {
            const auto& s = sn->get_ref<const std::string&>();
            m.since = s == "0" ? std::optional<long long>(0) : domain::parse_id(s);
        } else if (sn->is_number_unsigned() &&
                   sn->get<unsigned long long>() <=
                       static_cast<unsigned long long>(std::numeric_limits<long long>::max())) {
            m.since = sn->get<long long>();
        }
        if (!m.since) return reply(k, "bad_since", "since must be a seq");
    }
    return m;
}

}  // namespace

client_message parse_client_message(std::string_view text, long long user) {
    auto j = json::parse(text, nullptr, false);
    if (j.is_discarded()) {
        // A lone surrogate escape ("\ud83d", what JSON.stringify writes for one) in a draft
        // push: the client is told to reset (draft_reset lone_surrogate), not bad_json.
        if (auto d = parse_draft_lone_surrogate(text)) return std::move(*d);
    }
    if (j.is_discarded() || !j.is_object())
        return reply(message_kind::none, "bad_json", "messages must be JSON objects");
    auto t = j.find("type");
    if (t == j.end() || !t->is_string())
        return reply(message_kind::none, "missing_field", "type is required");
    const auto& type = t->get_ref<const std::string&>();
    if (type == "ping") return ping_message{};
    if (type == "auth") {
        auto tok = j.find("token");
        if (tok == j.end() || !tok->is_string())
            return close(message_kind::auth, 4001, "token is required");
        return auth_message{tok->get<std::string>()};
    }
    if (type == "subscribe") return parse_subscribe(j, user);
    if (type == "typing") {
        auto c = j.find("conversation");
        std::optional<long long> conv;
        if (c != j.end() && c->is_string())
            conv = domain::parse_id(c->get_ref<const std::string&>());
        if (!conv) return reply(message_kind::typing, "missing_field", "conversation is required");
        return typing_message{*conv};
    }
    if (type.rfind("draft_", 0) == 0) {
        if (auto d = parse_draft_message(type, j)) return std::move(*d);
    }
    return unknown_message{type};
}

std::optional<stream> parse_channel(std::string_view name, long long user, bool& foreign,
                                    bool& stats) {
    const auto colon = name.find(':');
    const auto base = name.substr(0, colon);
    if (colon != std::string_view::npos) {
        auto id = domain::parse_id(name.substr(colon + 1));
        if (!id || *id != user) {
            foreign = true;
            return std::nullopt;
        }
    }
    if (base == "timeline") return stream::timeline;
    if (base == "notifications") return stream::notifications;
    if (base == "messages") return stream::messages;
    if (base == "stats" && colon == std::string_view::npos) stats = true;
    return std::nullopt;
}

}  // namespace chirp::ws
