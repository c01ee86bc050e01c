// The drafts' frames and bus payloads (frames.hpp).
#include "frames.hpp"

#include <charconv>
#include <nlohmann/json.hpp>

namespace chirp::drafts::frames {

namespace {

std::string id_string(long long id) {
    return "\"" + std::to_string(id) + "\"";
}

std::string head(std::string_view type, long long draft) {
    std::string out = R"({"type":")";
    out += type;
    out += R"(","draft":)";
    out += id_string(draft);
    return out;
}

std::string list(const std::vector<std::string>& items) {
    std::string out = "[";
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (i > 0) out += ',';
        out += items[i];
    }
    out += ']';
    return out;
}

}  // namespace

std::string json_string(std::string_view s) {
    return nlohmann::json(std::string(s))
        .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string user_json(const domain::user_ref& u) {
    std::string out;
    domain::render(out, u);
    return out;
}

std::string update_object(std::uint64_t version, std::string_view client_id,
                          const collab::changeset& changes, std::string_view user) {
    std::string out = R"({"version":)" + std::to_string(version);
    out += R"(,"clientID":)" + json_string(client_id);
    out += R"(,"changes":)" + changes.dump();
    out += R"(,"user":)";
    out += user;
    out += '}';
    return out;
}

std::string update_frame(long long draft, std::string_view object) {
    std::string out = head("draft_update", draft);
    out += ',';
    out += object.substr(1);
    return out;
}

std::string update_object_of(long long draft, std::string_view frame) {
    const auto prefix = head("draft_update", draft).size() + 1;
    if (frame.size() <= prefix) return {};
    return "{" + std::string(frame.substr(prefix));
}

std::string state(long long draft, std::string_view text, std::uint64_t version,
                  std::string_view owner, const std::vector<std::string>& collaborators,
                  const std::vector<editor_entry>& editors,
                  const std::optional<std::vector<std::string>>& updates) {
    std::string out = head("draft_state", draft);
    out += R"(,"text":)" + json_string(text);
    out += R"(,"version":)" + std::to_string(version);
    out += R"(,"owner":)";
    out += owner;
    out += R"(,"collaborators":)" + list(collaborators);
    out += R"(,"editors":[)";
    for (std::size_t i = 0; i < editors.size(); ++i) {
        if (i > 0) out += ',';
        out += R"({"user":)" + editors[i].user + R"(,"clientID":)" +
               json_string(editors[i].client_id) + "}";
    }
    out += ']';
    if (updates) out += R"(,"updates":)" + list(*updates);
    out += '}';
    return out;
}

std::string pushed(long long draft, std::uint64_t version, std::size_t accepted) {
    return head("draft_pushed", draft) + R"(,"version":)" + std::to_string(version) +
           R"(,"accepted":)" + std::to_string(accepted) + "}";
}

std::string reset(long long draft, std::string_view code, std::string_view message,
                  std::string_view text, std::uint64_t version) {
    return head("draft_reset", draft) + R"(,"code":)" + json_string(code) + R"(,"message":)" +
           json_string(message) + R"(,"text":)" + json_string(text) + R"(,"version":)" +
           std::to_string(version) + "}";
}

std::string error(std::string_view code, long long draft, std::string_view message) {
    std::string out = R"({"type":"error","code":)" + json_string(code);
    if (draft > 0) out += R"(,"draft":)" + id_string(draft);
    out += R"(,"message":)" + json_string(message) + "}";
    return out;
}

std::string left(long long draft) {
    return head("draft_left", draft) + "}";
}

std::string presence(long long draft, std::string_view user, std::string_view client_id,
                     std::uint64_t version,
                     const std::optional<std::pair<long long, long long>>& selection,
                     long long expires_ms) {
    std::string out = head("draft_presence", draft);
    out += R"(,"user":)";
    out += user;
    out += R"(,"clientID":)" + json_string(client_id);
    out += R"(,"version":)" + std::to_string(version);
    out += R"(,"selection":)";
    if (selection)
        out += R"({"anchor":)" + std::to_string(selection->first) + R"(,"head":)" +
               std::to_string(selection->second) + "}";
    else
        out += "null";
    out += R"(,"expiresInMs":)" + std::to_string(expires_ms) + "}";
    return out;
}

std::string collaborators(long long draft, std::string_view owner,
                          const std::vector<std::string>& collaborators) {
    std::string out = head("draft_collaborators", draft);
    out += R"(,"owner":)";
    out += owner;
    out += R"(,"collaborators":)" + list(collaborators) + "}";
    return out;
}

std::string closed(long long draft, std::string_view reason, std::optional<long long> tweet) {
    std::string out = head("draft_closed", draft) + R"(,"reason":)" + json_string(reason);
    if (tweet) out += R"(,"tweetId":)" + id_string(*tweet);
    out += '}';
    return out;
}

std::string bus_payload(std::string_view node, char kind, std::uint64_t number,
                        std::string_view frame) {
    std::string out;
    out.reserve(node.size() + frame.size() + 24);
    out += node;
    out += ' ';
    out += kind;
    out += ' ';
    out += std::to_string(number);
    out += ' ';
    out += frame;
    return out;
}

std::optional<bus_message> parse_bus(std::string_view p) {
    bus_message m;
    const auto a = p.find(' ');
    if (a == std::string_view::npos || a + 4 > p.size() || p[a + 2] != ' ') return std::nullopt;
    m.node = p.substr(0, a);
    m.kind = p[a + 1];
    const auto b = p.find(' ', a + 3);
    if (b == std::string_view::npos) return std::nullopt;
    const auto num = p.substr(a + 3, b - a - 3);
    auto [ptr, ec] = std::from_chars(num.data(), num.data() + num.size(), m.number);
    if (ec != std::errc{} || ptr != num.data() + num.size()) return std::nullopt;
    m.frame = p.substr(b + 1);
    return m;
}

}  // namespace chirp::drafts::frames
