// What the REST handlers share: auth and input checks, cursor and limit parsing, idempotency
// hashing, and the mapping of store results to responses (one place, so every handler answers
// a bad input or a store error the same way). Included by the route files (api_routes.cpp,
// drafts_routes.cpp).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "chirp/auth/jwt.hpp"
#include "chirp/domain/text.hpp"
#include "chirp/domain/wire.hpp"
#include "chirp/http/api.hpp"
#include "chirp/store/store.hpp"

namespace chirp::http::handler_support {

namespace asio = boost::asio;
using json = nlohmann::json;

inline std::string dump(const json& j) {
    return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

inline std::optional<response> require_user(const request& req) {
    if (req.user) return std::nullopt;
    return error_response(errc::unauthorized,
                          req.auth_error.empty() ? "authentication required" : req.auth_error);
}

// True when a string (or key) anywhere in j holds U+0000: PostgreSQL text and jsonb cannot
// store it, and one such command would fail the writer's whole group-commit batch.
// Iterative: a 64 KiB body can nest tens of thousands of levels.
inline bool contains_nul(const json& j) {
    std::vector<const json*> pending{&j};
    while (!pending.empty()) {
        const json* v = pending.back();
        pending.pop_back();
        if (v->is_string()) {
            if (v->get_ref<const std::string&>().find('\0') != std::string::npos) return true;
        } else if (v->is_object()) {
            for (auto it = v->begin(); it != v->end(); ++it) {
                if (it.key().find('\0') != std::string::npos) return true;
                pending.push_back(&it.value());
            }
        } else if (v->is_array()) {
            for (const auto& x : *v) pending.push_back(&x);
        }
    }
    return false;
}

// Parses a JSON object body. Returns an error response when the body is unacceptable.
inline std::optional<response> parse_body(const request& req, json& out, bool allow_empty = false) {
    if (req.body.empty() && allow_empty) {
        out = json::object();
        return std::nullopt;
    }
    std::string ct = req.content_type;
    if (auto semi = ct.find(';'); semi != std::string::npos) ct.resize(semi);
    while (!ct.empty() && ct.back() == ' ') ct.pop_back();
    // Media types are case-insensitive (RFC 9110 8.3.1).
    std::transform(ct.begin(), ct.end(), ct.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (ct != "application/json")
        return error_response(errc::unsupported_media_type,
                              "Content-Type must be application/json");
    if (!domain::valid_utf8(req.body))
        return error_response(errc::malformed_json, "body is not valid UTF-8");
    out = json::parse(req.body, nullptr, false);
    if (out.is_discarded()) return error_response(errc::malformed_json, "body is not valid JSON");
    if (!out.is_object()) return error_response(errc::malformed_json, "body must be a JSON object");
    if (contains_nul(out))
        return error_response(errc::validation_failed, "text must not contain NUL characters");
    return std::nullopt;
}

// A required string field.
inline std::optional<response> get_string(const json& body, const char* key, std::string& out,
                                          bool required = true) {
    auto it = body.find(key);
    if (it == body.end() || it->is_null()) {
        if (!required) return std::nullopt;
        return error_response(errc::validation_failed, std::string(key) + " is required");
    }
    if (!it->is_string())
        return error_response(errc::validation_failed, std::string(key) + " must be a string");
    out = it->get<std::string>();
    return std::nullopt;
}

inline std::optional<response> get_limit(const request& req, int& limit) {
    limit = 20;
    auto it = req.query.find("limit");
    if (it == req.query.end()) return std::nullopt;
    auto v = domain::parse_id(it->second);
    if (!v || *v > 100) return error_response(errc::bad_request, "limit must be 1 to 100");
    limit = static_cast<int>(*v);
    return std::nullopt;
}

inline std::optional<response> get_cursor(const request& req, const char* key, std::string& out) {
    auto it = req.query.find(key);
    if (it == req.query.end() || it->second.empty()) return std::nullopt;
    if (!domain::parse_id(it->second))
        return error_response(errc::bad_request, std::string(key) + " must be a positive id");
    out = it->second;
    return std::nullopt;
}

inline std::optional<response> get_id_param(const request& req, std::size_t i, std::string& out) {
    if (!domain::parse_id(req.params.at(i)))
        return error_response(errc::not_found, "no such resource: ids are positive integers");
    out = req.params.at(i);
    return std::nullopt;
}

// The authenticated caller's id, 0 for anonymous requests.
inline long long viewer(const request& req) {
    return req.user ? req.user->user_id : 0;
}

// A cursor or id parameter already validated by get_cursor / get_id_param (0: none).
inline long long as_id(const std::string& s) {
    return s.empty() ? 0 : *domain::parse_id(s);
}

// The idempotency record's request hash: a keyed HMAC (key derived from the server secret) of
// the method, path and body. The body of a registration holds the plaintext password; an
// unkeyed hash of it, stored in the database, could be checked against a dictionary.
inline std::string request_hash(const services& svc, const request& req) {
    std::string data = std::to_string(static_cast<int>(req.verb)) + " " + req.path + "\n";
    data += req.body;
    return svc.jwt.keyed_digest("idempotency request", data);
}

// Submits a command for the writer: {"type", "actor", "args", "idem"?}.
inline asio::awaitable<store::write_result> submit(services& svc, const request& req,
                                                   std::string type, json args) {
    json cmd = {{"type", std::move(type)}, {"args", std::move(args)}};
    cmd["actor"] = req.user ? json(std::to_string(req.user->user_id)) : json(nullptr);
    if (!req.idempotency_key.empty())
        cmd["idem"] = {{"key", req.idempotency_key}, {"hash", request_hash(svc, req)}};
    co_return co_await svc.store.submit(std::move(cmd));
}

inline response from_write(store::write_result&& r) {
    auto resp = json_response(r.status, std::move(r.body));
    if (r.replayed) resp.headers.emplace_back("Idempotent-Replayed", "true");
    return resp;
}

inline std::optional<response> check_idempotency_key(const request& req) {
    if (req.idempotency_key.size() > 200 ||
        std::any_of(req.idempotency_key.begin(), req.idempotency_key.end(),
                    [](unsigned char c) { return c < 0x21 || c > 0x7e; }))
        return error_response(errc::bad_request,
                              "Idempotency-Key must be 1 to 200 printable ASCII characters");
    return std::nullopt;
}

inline response read_error(errc e, std::string_view what) {
    switch (e) {
        case errc::not_found:
            return error_response(e, std::string("no such ") + std::string(what));
        case errc::forbidden:
            return error_response(e, "you are not in this conversation");
        case errc::unavailable:
            return error_response(e, "the database is unavailable");
        default:
            return error_response(e, "bad request");
    }
}

// A read's answer rendered with the one renderer of its shape, or its error.
template <class T>
inline response from_read(const store::result<T>& r, std::string_view what) {
    if (!r) return read_error(r.error(), what);
    std::string body;
    domain::render(body, *r);
    return json_response(200, std::move(body));
}

template <class T>
inline response from_page(const store::result<store::page<T>>& r, std::string_view what,
                          std::optional<long long> unread = std::nullopt) {
    if (!r) return read_error(r.error(), what);
    std::string body;
    body.reserve(64 + r->items.size() * 512);
    domain::page_meta meta;
    if (r->next_cursor) meta.next_cursor = std::to_string(*r->next_cursor);
    meta.unread = unread;
    domain::render_page<T>(body, r->items, meta);
    return json_response(200, std::move(body));
}

// {"items": [...]} without a cursor (search, conversations).
template <class T>
inline response from_list(const store::result<std::vector<T>>& r, std::string_view what) {
    if (!r) return read_error(r.error(), what);
    std::string body;
    domain::render_page<T>(body, *r, {false, std::nullopt, std::nullopt});
    return json_response(200, std::move(body));
}

// Wraps {"user":U,"token":T} around a user object, keeping the user's bytes as rendered.
// issued_at: the token's iat (now for a new answer; a replay passes the original's).
inline response with_token(services& svc, unsigned status, const std::string& user_json,
                           std::int64_t issued_at = 0) {
    auto user = json::parse(user_json, nullptr, false);
    if (!user.is_object() || !user.contains("id"))
        return error_response(errc::internal, "unexpected user record");
    const auto id = std::stoll(user["id"].get<std::string>());
    const auto token = svc.jwt.sign(id, user["handle"].get<std::string>(),
                                    user.value("displayName", std::string()),
                                    issued_at > 0 ? issued_at : auth::unix_now());
    std::string out = R"({"user":)";
    out += user_json;
    out += R"(,"token":)";
    domain::append_json_string(out, token);
    out += '}';
    return json_response(status, std::move(out));
}

}  // namespace chirp::http::handler_support
