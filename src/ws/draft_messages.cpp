// The parser of the collaborative drafts' client messages (docs/protocol.md, "Collaborative
// drafts"): draft_join, draft_push, draft_presence, draft_leave. A push's changes are parsed
// into change sets here; changes that do not parse make the registry answer draft_reset with
// the collab error's code.
#include <limits>
#include <nlohmann/json.hpp>

#include "chirp/domain/text.hpp"
#include "client_message.hpp"

using json = nlohmann::json;

namespace chirp::ws {

namespace {

constexpr auto k = message_kind::draft;
constexpr std::size_t client_id_max = 64;

message_error fail(std::string code, std::string message, long long draft = 0) {
    message_error e{k, 0, std::move(code), std::move(message)};
    e.draft = draft;
    return e;
}

std::optional<long long> draft_id(const json& j) {
    auto d = j.find("draft");
    if (d == j.end() || !d->is_string()) return std::nullopt;
    return domain::parse_id(d->get_ref<const std::string&>());
}

// A version: a non-negative integer (nullopt otherwise).
std::optional<std::uint64_t> version_of(const json& v) {
    if (v.is_number_unsigned()) return v.get<std::uint64_t>();
    if (v.is_number_integer() && v.get<long long>() >= 0)
        return static_cast<std::uint64_t>(v.get<long long>());
    return std::nullopt;
}

bool client_id_ok(const json& c) {
    return c.is_string() && !c.get_ref<const std::string&>().empty() &&
           c.get_ref<const std::string&>().size() <= client_id_max;
}

std::optional<long long> position(const json& sel, const char* name) {
    auto p = sel.find(name);
    if (p == sel.end() || !p->is_number_integer()) return std::nullopt;
    const auto v = p->get<long long>();
    if (v < 0 || v > std::numeric_limits<int>::max()) return std::nullopt;
    return v;
}

client_message parse_push(const json& j, long long draft) {
    draft_push_message m;
    m.r.draft = draft;
    auto v = j.find("version");
    if (v == j.end()) return fail("missing_field", "version is required", draft);
    auto version = version_of(*v);
    if (!version) return fail("bad_request", "version must be a non-negative integer", draft);
    m.r.version = *version;
    auto ups = j.find("updates");
    if (ups == j.end() || !ups->is_array())
        return fail("missing_field", "updates must be an array", draft);
    if (ups->size() > 200) {
        m.r.error = collab::collab_error{collab::collab_errc::too_many_updates,
                                         "a push carries at most 200 updates"};
        return m;
    }
    for (const auto& u : *ups) {
        if (!u.is_object() || !client_id_ok(u.value("clientID", json())) ||
            !u.contains("changes")) {
            m.r.error = collab::collab_error{
                collab::collab_errc::malformed,
                "each update is {\"clientID\": string (1..64), \"changes\": ChangeSet JSON}"};
            return m;
        }
        auto c = collab::changeset::from_json(u["changes"]);
        if (!c) {
            m.r.error = c.error();
            return m;
        }
        m.r.updates.push_back({u["clientID"].get<std::string>(), std::move(*c)});
    }
    return m;
}

}  // namespace

std::optional<client_message> parse_draft_message(std::string_view type, const json& j) {
    if (type != "draft_join" && type != "draft_push" && type != "draft_presence" &&
        type != "draft_leave")
        return std::nullopt;
    if (!j.contains("draft")) return fail("missing_field", "draft is required");
    auto draft = draft_id(j);
    if (!draft) return fail("bad_request", "draft must be an id string");
    if (type == "draft_leave") return draft_leave_message{*draft};
    if (type == "draft_push") return parse_push(j, *draft);
    if (type == "draft_join") {
        draft_join_message m;
        m.r.draft = *draft;
        if (auto v = j.find("version"); v != j.end() && !v->is_null()) {
            m.r.version = version_of(*v);
            if (!m.r.version)
                return fail("bad_request", "version must be a non-negative integer", *draft);
        }
        if (auto c = j.find("clientID"); c != j.end() && client_id_ok(*c))
            m.r.client_id = c->get<std::string>();
        return m;
    }
    draft_presence_message m;
    m.r.draft = *draft;
    auto c = j.find("clientID");
    if (c == j.end()) return fail("missing_field", "clientID is required", *draft);
    if (!client_id_ok(*c)) return fail("bad_request", "clientID is a string of 1..64", *draft);
    m.r.client_id = c->get<std::string>();
    auto v = j.find("version");
    if (v == j.end()) return fail("missing_field", "version is required", *draft);
    auto version = version_of(*v);
    if (!version) return fail("bad_request", "version must be a non-negative integer", *draft);
    m.r.version = *version;
    auto sel = j.find("selection");
    if (sel != j.end() && !sel->is_null()) {
        if (!sel->is_object())
            return fail("bad_request", "selection is {anchor, head} or null", *draft);
        auto a = position(*sel, "anchor");
        auto h = position(*sel, "head");
        if (!a || !h)
            return fail("bad_request", "anchor and head are non-negative integers", *draft);
        m.r.selection = std::make_pair(*a, *h);
    }
    return m;
}

std::optional<client_message> parse_draft_lone_surrogate(std::string_view text) {
    // Each "\uD800".."\uDFFF" escape that is not half of a pair becomes "\uFFFD".
    auto hex = [&](std::size_t at) -> int {
        if (at + 6 > text.size() || text[at] != '\\' || text[at + 1] != 'u') return -1;
        int v = 0;
        for (std::size_t i = at + 2; i < at + 6; ++i) {
            const char c = text[i];
            const int d = c >= '0' && c <= '9'   ? c - '0'
                          : c >= 'a' && c <= 'f' ? c - 'a' + 10
                          : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                                 : -1;
            if (d < 0) return -1;
            v = v * 16 + d;
        }
        return v;
    };
    std::string fixed;
    bool changed = false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '\\' && i + 1 < text.size() && text[i + 1] == '\\') {
            fixed += "\\\\";
            ++i;
            continue;
        }
        const int v = hex(i);
        if (v >= 0xD800 && v <= 0xDBFF) {
            const int low = hex(i + 6);
            if (low >= 0xDC00 && low <= 0xDFFF) {
                fixed.append(text.substr(i, 12));
                i += 11;
                continue;
            }
        }
        if (v >= 0xD800 && v <= 0xDFFF) {
            fixed += "\\uFFFD";
            changed = true;
            i += 5;
            continue;
        }
        fixed += text[i];
    }
    if (!changed) return std::nullopt;
    auto j = json::parse(fixed, nullptr, false);
    if (!j.is_object() || j.value("type", "") != "draft_push") return std::nullopt;
    auto m = parse_draft_message("draft_push", j);
    if (!m) return std::nullopt;
    if (auto* p = std::get_if<draft_push_message>(&*m)) {
        p->r.updates.clear();
        p->r.error = collab::collab_error{collab::collab_errc::lone_surrogate,
                                          "inserted text contains a lone surrogate"};
    }
    return m;
}

}  // namespace chirp::ws
