// The route table and the REST handlers. Each handler: check auth, parse and validate input
// with domain/, call the store (a command for the writer, or a named read), map the result.
#include <sodium.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/thread_pool.hpp>
#include <cctype>
#include <nlohmann/json.hpp>

#include "chirp/auth/password.hpp"
#include "chirp/config/config.hpp"
#include "chirp/domain/text.hpp"
#include "chirp/domain/wire.hpp"
#include "chirp/fanout/fanout.hpp"
#include "chirp/http/api.hpp"
#include "chirp/metrics/metrics.hpp"
#include "chirp/store/store.hpp"
#include "chirp/timeline/home_timeline.hpp"
#include "chirp/util/offload.hpp"
#include "chirp/util/strings.hpp"

// GCC 12 at -O1 (the sanitizer build) inlines Asio's coroutine-frame allocator into these
// handlers and then reports its aligned_alloc / operator delete pair as mismatched
// (-Wmismatched-new-delete, an error under CHIRP_WERROR). A false positive: silence it here.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace asio = boost::asio;
using json = nlohmann::json;

namespace chirp::http {
namespace {

using awaitable_response = asio::awaitable<response>;

std::string dump(const json& j) {
    return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::optional<response> require_user(const request& req) {
    if (req.user) return std::nullopt;
    return error_response(errc::unauthorized,
                          req.auth_error.empty() ? "authentication required" : req.auth_error);
}

// True when a string (or key) anywhere in j holds U+0000: PostgreSQL text and jsonb cannot
// store it, and one such command would fail the writer's whole group-commit batch.
// Iterative: a 64 KiB body can nest tens of thousands of levels.
bool contains_nul(const json& j) {
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
std::optional<response> parse_body(const request& req, json& out, bool allow_empty = false) {
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
std::optional<response> get_string(const json& body, const char* key, std::string& out,
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

std::optional<response> get_limit(const request& req, int& limit) {
    limit = 20;
    auto it = req.query.find("limit");
    if (it == req.query.end()) return std::nullopt;
    auto v = domain::parse_id(it->second);
    if (!v || *v > 100) return error_response(errc::bad_request, "limit must be 1 to 100");
    limit = static_cast<int>(*v);
    return std::nullopt;
}

std::optional<response> get_cursor(const request& req, const char* key, std::string& out) {
    auto it = req.query.find(key);
    if (it == req.query.end() || it->second.empty()) return std::nullopt;
    if (!domain::parse_id(it->second))
        return error_response(errc::bad_request, std::string(key) + " must be a positive id");
    out = it->second;
    return std::nullopt;
}

std::optional<response> get_id_param(const request& req, std::size_t i, std::string& out) {
    if (!domain::parse_id(req.params.at(i)))
        return error_response(errc::not_found, "no such resource: ids are positive integers");
    out = req.params.at(i);
    return std::nullopt;
}

// The authenticated caller's id, 0 for anonymous requests.
long long viewer(const request& req) {
    return req.user ? req.user->user_id : 0;
}

// A cursor or id parameter already validated by get_cursor / get_id_param (0: none).
long long as_id(const std::string& s) {
    return s.empty() ? 0 : *domain::parse_id(s);
}

std::string request_hash(const request& req) {
    unsigned char out[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    const std::string head = std::to_string(static_cast<int>(req.verb)) + " " + req.path + "\n";
    crypto_hash_sha256_update(&st, reinterpret_cast<const unsigned char*>(head.data()),
                              head.size());
    crypto_hash_sha256_update(&st, reinterpret_cast<const unsigned char*>(req.body.data()),
                              req.body.size());
    crypto_hash_sha256_final(&st, out);
    char hex[sizeof out * 2 + 1];
    sodium_bin2hex(hex, sizeof hex, out, sizeof out);
    return hex;
}

// Submits a command for the writer: {"type", "actor", "args", "idem"?}.
asio::awaitable<store::write_result> submit(services& svc, const request& req, std::string type,
                                            json args) {
    json cmd = {{"type", std::move(type)}, {"args", std::move(args)}};
    cmd["actor"] = req.user ? json(std::to_string(req.user->user_id)) : json(nullptr);
    if (!req.idempotency_key.empty())
        cmd["idem"] = {{"key", req.idempotency_key}, {"hash", request_hash(req)}};
    co_return co_await svc.store.submit(std::move(cmd));
}

response from_write(store::write_result&& r) {
    auto resp = json_response(r.status, std::move(r.body));
    if (r.replayed) resp.headers.emplace_back("Idempotent-Replayed", "true");
    return resp;
}

std::optional<response> check_idempotency_key(const request& req) {
    if (req.idempotency_key.size() > 200 ||
        std::any_of(req.idempotency_key.begin(), req.idempotency_key.end(),
                    [](unsigned char c) { return c < 0x21 || c > 0x7e; }))
        return error_response(errc::bad_request,
                              "Idempotency-Key must be 1 to 200 printable ASCII characters");
    return std::nullopt;
}

response read_error(errc e, std::string_view what) {
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
response from_read(const store::result<T>& r, std::string_view what) {
    if (!r) return read_error(r.error(), what);
    std::string body;
    domain::render(body, *r);
    return json_response(200, std::move(body));
}

template <class T>
response from_page(const store::result<store::page<T>>& r, std::string_view what,
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
response from_list(const store::result<std::vector<T>>& r, std::string_view what) {
    if (!r) return read_error(r.error(), what);
    std::string body;
    domain::render_page<T>(body, *r, {false, std::nullopt, std::nullopt});
    return json_response(200, std::move(body));
}

// Wraps {"user":U,"token":T} around a user object, keeping the user's bytes as rendered.
response with_token(services& svc, unsigned status, const std::string& user_json) {
    auto user = json::parse(user_json, nullptr, false);
    if (!user.is_object() || !user.contains("id"))
        return error_response(errc::internal, "unexpected user record");
    const auto id = std::stoll(user["id"].get<std::string>());
    const auto token = svc.jwt.sign(id, user["handle"].get<std::string>(),
                                    user.value("displayName", std::string()), auth::unix_now());
    std::string out = R"({"user":)";
    out += user_json;
    out += R"(,"token":)";
    domain::append_json_string(out, token);
    out += '}';
    return json_response(status, std::move(out));
}

// --- accounts -------------------------------------------------------------------------------

awaitable_response register_user(services& svc, request& req) {
    json body;
    if (auto e = parse_body(req, body)) co_return *e;
    if (auto e = check_idempotency_key(req)) co_return *e;
    std::string handle, password, display;
    if (auto e = get_string(body, "handle", handle)) co_return *e;
    if (auto e = get_string(body, "password", password)) co_return *e;
    if (auto e = get_string(body, "displayName", display, false)) co_return *e;
    if (!domain::valid_handle(handle))
        co_return error_response(errc::validation_failed,
                                 "handle must be 3 to 15 letters, digits or underscores");
    if (auto m = domain::check_password(password))
        co_return error_response(errc::validation_failed, *m);
    std::string name(domain::trim(display.empty() ? handle : display));
    if (auto m = domain::check_display_name(name))
        co_return error_response(errc::validation_failed, *m);

    const auto cost =
        svc.cfg.fast_password_hash ? auth::hash_cost::minimal : auth::hash_cost::interactive;
    auto hash_job = [password, cost] { return auth::hash_password(password, cost); };
    auto hash = co_await util::offload(svc.cpu, std::move(hash_job));
    json args = {{"handle", handle}, {"displayName", name}, {"passwordHash", hash}};
    auto r = co_await submit(svc, req, "register", std::move(args));
    if (r.status != 201) co_return from_write(std::move(r));
    auto resp = with_token(svc, 201, r.body);
    if (r.replayed) resp.headers.emplace_back("Idempotent-Replayed", "true");
    co_return resp;
}

awaitable_response login(services& svc, request& req) {
    json body;
    if (auto e = parse_body(req, body)) co_return *e;
    std::string handle, password;
    if (auto e = get_string(body, "handle", handle)) co_return *e;
    if (auto e = get_string(body, "password", password)) co_return *e;
    if (const int wait = svc.logins.retry_after(handle, req.remote_ip); wait > 0) {
        auto resp = error_response(errc::rate_limited, "too many failed logins; try again later");
        resp.headers.emplace_back("Retry-After", std::to_string(wait));
        co_return resp;
    }
    if (!domain::valid_handle(handle) || password.size() > 128) {
        svc.logins.failed(handle, req.remote_ip);
        co_return error_response(errc::unauthorized, "invalid handle or password");
    }
    auto r = co_await svc.store.credentials(handle);
    if (!r && r.error() != errc::not_found) co_return read_error(r.error(), "user");
    bool ok = false;
    if (r) {
        auto hash = r->password_hash;
        auto verify_job = [hash, password] { return auth::verify_password(hash, password); };
        ok = co_await util::offload(svc.cpu, std::move(verify_job));
    } else {
        // Spend comparable time for unknown handles so that timing does not reveal them.
        auto dummy_job = [] {
            auth::hash_password("not-a-real-password", auth::hash_cost::minimal);
            return true;
        };
        (void)co_await util::offload(svc.cpu, std::move(dummy_job));
    }
    if (!ok) {
        svc.logins.failed(handle, req.remote_ip);
        co_return error_response(errc::unauthorized, "invalid handle or password");
    }
    svc.logins.succeeded(handle);
    co_return with_token(svc, 200, domain::to_json(r->user));
}

awaitable_response me(services& svc, request& req) {
    if (auto e = require_user(req)) co_return *e;
    auto r = co_await svc.store.user_by_id(req.user->user_id);
    if (!r && r.error() == errc::not_found)
        co_return error_response(errc::unauthorized, "the account of this token does not exist");
    co_return from_read(r, "user");
}

// --- users and follows ----------------------------------------------------------------------

std::optional<response> check_handle_param(const request& req) {
    if (!domain::valid_handle(req.params.at(0)))
        return error_response(errc::not_found, "no such user");
    return std::nullopt;
}

awaitable_response search_users(services& svc, request& req) {
    int limit = 0;
    if (auto e = get_limit(req, limit)) co_return *e;
    auto q = req.query.count("q") ? req.query.at("q") : std::string();
    if (q.size() > 15 || !domain::valid_utf8(q))
        co_return error_response(errc::bad_request, "q must be a handle prefix");
    co_return from_list(co_await svc.store.search_users(q, limit, viewer(req)), "user");
}

awaitable_response get_user(services& svc, request& req) {
    if (auto e = check_handle_param(req)) co_return *e;
    co_return from_read(co_await svc.store.user_by_handle(req.params[0], viewer(req)), "user");
}

// followers, following, or the user's tweets (kind 0, 1, 2).
awaitable_response user_list(services& svc, request& req, int kind) {
    if (auto e = check_handle_param(req)) co_return *e;
    int limit = 0;
    std::string before;
    if (auto e = get_limit(req, limit)) co_return *e;
    if (auto e = get_cursor(req, "before", before)) co_return *e;
    if (kind == 2)
        co_return from_page(
            co_await svc.store.user_tweets(req.params[0], as_id(before), limit, viewer(req)),
            "user");
    co_return from_page(
        co_await svc.store.follow_page(kind == 0, req.params[0], as_id(before), limit, viewer(req)),
        "user");
}

awaitable_response followers(services& svc, request& req) {
    return user_list(svc, req, 0);
}
awaitable_response following(services& svc, request& req) {
    return user_list(svc, req, 1);
}
awaitable_response user_tweets(services& svc, request& req) {
    return user_list(svc, req, 2);
}

awaitable_response follow_cmd(services& svc, request& req, const char* type) {
    if (auto e = require_user(req)) co_return *e;
    if (auto e = check_idempotency_key(req)) co_return *e;
    if (auto e = check_handle_param(req)) co_return *e;
    json args = {{"handle", req.params[0]}};
    co_return from_write(co_await submit(svc, req, type, std::move(args)));
}
awaitable_response follow(services& svc, request& req) {
    return follow_cmd(svc, req, "follow");
}
awaitable_response unfollow(services& svc, request& req) {
    return follow_cmd(svc, req, "unfollow");
}

// --- tweets ---------------------------------------------------------------------------------

awaitable_response create_tweet(services& svc, request& req) {
    if (auto e = require_user(req)) co_return *e;
    json body;
    if (auto e = parse_body(req, body)) co_return *e;
    if (auto e = check_idempotency_key(req)) co_return *e;
    std::string content, reply_to;
    if (auto e = get_string(body, "content", content)) co_return *e;
    if (auto e = get_string(body, "replyTo", reply_to, false)) co_return *e;
    const auto trimmed = domain::trim(content);
    if (auto m = domain::check_tweet_content(trimmed))
        co_return error_response(errc::validation_failed, *m);
    json args = {{"content", std::string(trimmed)},
                 {"mentions", domain::extract_mentions(trimmed)},
                 {"hashtags", domain::extract_hashtags(trimmed)}};
    if (!reply_to.empty()) {
        if (!domain::parse_id(reply_to))
            co_return error_response(errc::validation_failed, "replyTo must be a tweet id");
        args["replyTo"] = reply_to;
    }
    if (svc.fanout != nullptr) svc.fanout->prepare_fanout(req.user->user_id);
    co_return from_write(co_await submit(svc, req, "tweet", std::move(args)));
}

awaitable_response get_tweet(services& svc, request& req) {
    std::string id;
    if (auto e = get_id_param(req, 0, id)) co_return *e;
    co_return from_read(co_await svc.store.tweet(as_id(id), viewer(req)), "tweet");
}

awaitable_response tweet_replies(services& svc, request& req) {
    std::string id, before;
    int limit = 0;
    if (auto e = get_id_param(req, 0, id)) co_return *e;
    if (auto e = get_limit(req, limit)) co_return *e;
    if (auto e = get_cursor(req, "before", before)) co_return *e;
    co_return from_page(co_await svc.store.replies(as_id(id), as_id(before), limit, viewer(req)),
                        "tweet");
}

awaitable_response tweet_cmd(services& svc, request& req, const char* type) {
    if (auto e = require_user(req)) co_return *e;
    if (auto e = check_idempotency_key(req)) co_return *e;
    std::string id;
    if (auto e = get_id_param(req, 0, id)) co_return *e;
    json args = {{"tweetId", id}};
    co_return from_write(co_await submit(svc, req, type, std::move(args)));
}
awaitable_response delete_tweet(services& svc, request& req) {
    return tweet_cmd(svc, req, "delete_tweet");
}
awaitable_response like(services& svc, request& req) {
    return tweet_cmd(svc, req, "like");
}
awaitable_response unlike(services& svc, request& req) {
    return tweet_cmd(svc, req, "unlike");
}
awaitable_response retweet(services& svc, request& req) {
    return tweet_cmd(svc, req, "retweet");
}

// --- timeline, notifications, audit trail ----------------------------------------------------

awaitable_response timeline(services& svc, request& req) {
    if (auto e = require_user(req)) co_return *e;
    int limit = 0;
    std::string before;
    if (auto e = get_limit(req, limit)) co_return *e;
    if (auto e = get_cursor(req, "before", before)) co_return *e;
    if (svc.home_timeline != nullptr) {
        auto cached = co_await svc.home_timeline->page(
            req.user->user_id, before.empty() ? 0 : std::stoll(before), limit);
        if (cached) co_return json_response(200, std::move(*cached));
    }
    co_return from_page(co_await svc.store.home_timeline(req.user->user_id, as_id(before), limit),
                        "timeline");
}

awaitable_response notifications(services& svc, request& req) {
    if (auto e = require_user(req)) co_return *e;
    int limit = 0;
    std::string before;
    if (auto e = get_limit(req, limit)) co_return *e;
    if (auto e = get_cursor(req, "before", before)) co_return *e;
    auto r = co_await svc.store.notifications(req.user->user_id, as_id(before), limit);
    if (!r) co_return read_error(r.error(), "notifications");
    co_return from_page(store::result<store::page<domain::notification>>(std::move(r->page)),
                        "notifications", r->unread);
}

awaitable_response read_notifications(services& svc, request& req) {
    if (auto e = require_user(req)) co_return *e;
    if (auto e = check_idempotency_key(req)) co_return *e;
    json body;
    if (auto e = parse_body(req, body, true)) co_return *e;
    std::string up_to;
    if (auto e = get_string(body, "upTo", up_to, false)) co_return *e;
    json args = json::object();
    if (!up_to.empty()) {
        if (!domain::parse_id(up_to))
            co_return error_response(errc::validation_failed, "upTo must be a seq");
        args["upTo"] = up_to;
    }
    co_return from_write(co_await submit(svc, req, "read_notifications", std::move(args)));
}

awaitable_response events(services& svc, request& req) {
    if (auto e = require_user(req)) co_return *e;
    int limit = 0;
    std::string after;
    if (auto e = get_limit(req, limit)) co_return *e;
    if (auto e = get_cursor(req, "after", after)) co_return *e;
    co_return from_page(co_await svc.store.events(req.user->user_id, as_id(after), limit),
                        "events");
}

// --- direct messages ------------------------------------------------------------------------

awaitable_response create_conversation(services& svc, request& req) {
    if (auto e = require_user(req)) co_return *e;
    json body;
    if (auto e = parse_body(req, body)) co_return *e;
    if (auto e = check_idempotency_key(req)) co_return *e;
    auto it = body.find("participants");
    if (it == body.end() || !it->is_array() || it->empty() || it->size() > 9)
        co_return error_response(errc::validation_failed, "participants must list 1 to 9 handles");
    std::vector<std::string> handles;
    for (const auto& h : *it) {
        if (!h.is_string() || !domain::valid_handle(h.get<std::string>()))
            co_return error_response(errc::validation_failed, "participants must be handles");
        handles.push_back(h.get<std::string>());
    }
    json args = {{"participants", handles}};
    co_return from_write(co_await submit(svc, req, "create_conversation", std::move(args)));
}

awaitable_response conversations(services& svc, request& req) {
    if (auto e = require_user(req)) co_return *e;
    co_return from_list(co_await svc.store.conversations(req.user->user_id), "conversation");
}

awaitable_response messages(services& svc, request& req) {
    if (auto e = require_user(req)) co_return *e;
    std::string id, before;
    int limit = 0;
    if (auto e = get_id_param(req, 0, id)) co_return *e;
    if (auto e = get_limit(req, limit)) co_return *e;
    if (auto e = get_cursor(req, "before", before)) co_return *e;
    co_return from_page(
        co_await svc.store.messages(as_id(id), req.user->user_id, as_id(before), limit),
        "conversation");
}

awaitable_response send_message(services& svc, request& req) {
    if (auto e = require_user(req)) co_return *e;
    std::string id, content;
    if (auto e = get_id_param(req, 0, id)) co_return *e;
    json body;
    if (auto e = parse_body(req, body)) co_return *e;
    if (auto e = check_idempotency_key(req)) co_return *e;
    if (auto e = get_string(body, "content", content)) co_return *e;
    const auto trimmed = domain::trim(content);
    if (auto m = domain::check_message_content(trimmed))
        co_return error_response(errc::validation_failed, *m);
    json args = {{"conversationId", id}, {"content", std::string(trimmed)}};
    co_return from_write(co_await submit(svc, req, "send_message", std::move(args)));
}

// --- operations -----------------------------------------------------------------------------

awaitable_response healthz(services&, request&) {
    co_return json_response(200, R"({"status":"ok"})");
}

awaitable_response readyz(services& svc, request&) {
    const bool pg = co_await svc.store.ping();
    const bool redis = svc.fanout == nullptr || svc.fanout->redis_ready();
    json j = {{"status", pg && redis ? "ready" : "unavailable"},
              {"postgres", pg ? "up" : "down"},
              {"redis", svc.fanout == nullptr ? "disabled" : (redis ? "up" : "down")}};
    co_return json_response(pg && redis ? 200 : 503, dump(j));
}

awaitable_response stats(services& svc, request&) {
    auto r = co_await svc.store.counts();
    std::string fields;
    if (svc.stats_fields) svc.stats_fields(fields);
    co_return json_response(200, metrics::stats_json(svc.metrics, r ? &*r : nullptr, fields));
}

awaitable_response prometheus(services& svc, request&) {
    auto r = co_await svc.store.counts();
    const auto counts = r ? *r : store::stats_counts{};
    auto& m = svc.metrics;
    std::string out;
    auto gauge = [&](const char* name, const char* help, const char* type, auto value) {
        out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" +
               name + " " + std::to_string(value) + "\n";
    };
    auto summary = [&](const char* name, const char* help, const metrics::histogram& h) {
        out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " summary\n";
        for (double q : {0.5, 0.9, 0.99})
            out += std::string(name) + "{quantile=\"" + std::to_string(q).substr(0, 4) + "\"} " +
                   std::to_string(static_cast<double>(h.quantile(q)) / 1e6) + "\n";
        out += std::string(name) + "_count " + std::to_string(h.count()) + "\n";
    };
    gauge("chirp_uptime_seconds", "Seconds since start.", "gauge",
          std::chrono::duration<double>(std::chrono::steady_clock::now() - m.started).count());
    gauge("chirp_events_stored", "Events in the log.", "gauge", counts.events);
    gauge("chirp_users", "Registered users.", "gauge", counts.users);
    gauge("chirp_tweets", "Tweets not deleted.", "gauge", counts.tweets);
    gauge("chirp_http_requests_total", "HTTP requests served.", "counter", m.requests.load());
    summary("chirp_http_request_seconds", "HTTP request latency.", m.request_latency);
    summary("chirp_append_seconds", "Event append latency, submit to commit.", m.append_latency);
    gauge("chirp_events_appended_total", "Events appended by this process.", "counter",
          m.events_appended.load());
    gauge("chirp_connections", "Open WebSocket and SSE connections.", "gauge",
          m.connections.load());
    gauge("chirp_connections_peak", "Peak open connections.", "gauge", m.peak_connections.load());
    gauge("chirp_sessions", "Authenticated real-time sessions.", "gauge", m.sessions.load());
    gauge("chirp_online_users", "Users online across all processes.", "gauge",
          m.online_users.load());
    gauge("chirp_delivered_total", "Events written to sockets.", "counter", m.delivered.load());
    summary("chirp_delivery_seconds", "Commit to socket write latency.", m.delivery_latency);
    gauge("chirp_slow_consumer_closes_total", "Sockets closed as slow consumers.", "counter",
          m.slow_consumer_closes.load());
    gauge("chirp_replays_total", "Replays served.", "counter", m.replays.load());
    gauge("chirp_resyncs_total", "Resyncs sent.", "counter", m.resyncs.load());
    gauge("chirp_redis_reconnects_total", "Redis reconnections.", "counter",
          m.redis_reconnects.load());
    response resp = json_response(200, std::move(out));
    resp.content_type = "text/plain; version=0.0.4";
    co_return resp;
}

}  // namespace

const std::vector<route>& routes() {
    static const std::vector<route> table = {
        {method::get, "/healthz", healthz},
        {method::get, "/readyz", readyz},
        {method::get, "/metrics", prometheus},
        {method::get, "/api/stats", stats},
        {method::post, "/api/auth/register", register_user},
        {method::post, "/api/auth/login", login},
        {method::get, "/api/me", me},
        {method::get, "/api/users", search_users},
        {method::get, "/api/users/{}", get_user},
        {method::get, "/api/users/{}/followers", followers},
        {method::get, "/api/users/{}/following", following},
        {method::get, "/api/users/{}/tweets", user_tweets},
        {method::post, "/api/users/{}/follow", follow},
        {method::del, "/api/users/{}/follow", unfollow},
        {method::post, "/api/tweets", create_tweet},
        {method::get, "/api/tweets/{}", get_tweet},
        {method::del, "/api/tweets/{}", delete_tweet},
        {method::get, "/api/tweets/{}/replies", tweet_replies},
        {method::post, "/api/tweets/{}/like", like},
        {method::del, "/api/tweets/{}/like", unlike},
        {method::post, "/api/tweets/{}/retweet", retweet},
        {method::get, "/api/timeline", timeline},
        {method::get, "/api/notifications", notifications},
        {method::post, "/api/notifications/read", read_notifications},
        {method::get, "/api/events", events},
        {method::post, "/api/conversations", create_conversation},
        {method::get, "/api/conversations", conversations},
        {method::get, "/api/conversations/{}/messages", messages},
        {method::post, "/api/conversations/{}/messages", send_message},
    };
    return table;
}

}  // namespace chirp::http
