// The route table and the REST handlers. Each handler: check auth, parse and validate input
// with domain/, call the store (a command for the writer, or a named read), map the result.
#include <sodium.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/thread_pool.hpp>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <ctime>
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
#include "handler_support.hpp"

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

using namespace handler_support;
using awaitable_response = asio::awaitable<response>;

// --- accounts -------------------------------------------------------------------------------

// argon2 work is bounded: at most cfg.password_queue jobs queued or running, of which
// registrations may take three quarters, so logins always find room. Held while the job runs.
class password_slot {
public:
    password_slot(services& svc, bool registration) : svc_(svc) {
        const int cap = svc.cfg.password_queue;
        const int limit = registration ? cap - cap / 4 : cap;
        if (svc.password_jobs < limit) {
            ++svc.password_jobs;
            held_ = true;
        }
    }
    ~password_slot() {
        if (held_) --svc_.password_jobs;
    }
    password_slot(const password_slot&) = delete;
    password_slot& operator=(const password_slot&) = delete;
    bool held() const noexcept { return held_; }

private:
    services& svc_;
    bool held_ = false;
};

response too_busy() {
    auto resp = error_response(errc::unavailable, "too many password checks queued; retry soon");
    resp.headers.emplace_back("Retry-After", "1");
    return resp;
}

response too_many(const char* message, int wait) {
    auto resp = error_response(errc::rate_limited, message);
    resp.headers.emplace_back("Retry-After", std::to_string(wait));
    return resp;
}

auth::hash_cost hash_cost(const services& svc) {
    return svc.cfg.fast_password_hash ? auth::hash_cost::minimal : auth::hash_cost::interactive;
}

double steady_seconds() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

// "2026-12-02T02:13:06.123Z" -> seconds since the epoch (0 when unreadable).
std::int64_t iso_seconds(const std::string& iso) {
    std::tm tm{};
    if (std::sscanf(iso.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                    &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return static_cast<std::int64_t>(timegm(&tm));
}

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
    if (const int wait = svc.registrations.take(req.remote_ip, steady_seconds()); wait > 0)
        co_return too_many("too many registrations from this address; try again later", wait);
    password_slot slot(svc, true);
    if (!slot.held()) co_return too_busy();

    auto hash_job = [password, cost = hash_cost(svc)] {
        return auth::hash_password(password, cost);
    };
    auto hash = co_await util::offload(svc.cpu, std::move(hash_job));
    json args = {{"handle", handle}, {"displayName", name}, {"passwordHash", hash}};
    auto r = co_await submit(svc, req, "register", std::move(args));
    if (r.status != 201) co_return from_write(std::move(r));
    if (!r.replayed) co_return with_token(svc, 201, r.body);
    // A replay hands back the original answer's token (same claims, issued when the account
    // was created, so it expires when that one did), never a fresh one.
    const auto user = json::parse(r.body, nullptr, false);
    const auto created = user.is_object() ? iso_seconds(user.value("createdAt", std::string())) : 0;
    auto resp = with_token(svc, 201, r.body, created);
    resp.headers.emplace_back("Idempotent-Replayed", "true");
    co_return resp;
}

awaitable_response login(services& svc, request& req) {
    json body;
    if (auto e = parse_body(req, body)) co_return *e;
    std::string handle, password;
    if (auto e = get_string(body, "handle", handle)) co_return *e;
    if (auto e = get_string(body, "password", password)) co_return *e;
    // No account has an invalid handle: answered before the limiter keeps any state for it.
    if (!domain::valid_handle(handle) || password.size() > 128)
        co_return error_response(errc::unauthorized, "invalid handle or password");
    if (const int wait = svc.logins.retry_after(handle, req.remote_ip, auth::unix_now()); wait > 0)
        co_return too_many("too many failed logins; try again later", wait);
    password_slot slot(svc, false);
    if (!slot.held()) co_return too_busy();
    if (svc.dummy_hash.empty()) {
        auto dummy_job = [cost = hash_cost(svc)] {
            return auth::hash_password("chirp-no-such-account", cost);
        };
        auto dummy = co_await util::offload(svc.cpu, std::move(dummy_job));
        if (svc.dummy_hash.empty()) svc.dummy_hash = std::move(dummy);
    }
    auto r = co_await svc.store.credentials(handle);
    if (!r && r.error() != errc::not_found) co_return read_error(r.error(), "user");
    // An unknown handle costs the same argon2 verification as a wrong password (against a
    // hash of the same cost), so the answer's timing does not tell whether the handle exists.
    auto verify_job = [hash = r ? r->password_hash : svc.dummy_hash, password] {
        return auth::verify_password(hash, password);
    };
    const bool ok = co_await util::offload(svc.cpu, std::move(verify_job)) && r.has_value();
    if (!ok) {
        svc.logins.failed(handle, req.remote_ip, auth::unix_now());
        co_return error_response(errc::unauthorized, "invalid handle or password");
    }
    svc.logins.succeeded(handle, req.remote_ip);
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
    int limit = 0;
    std::string before;
    if (auto e = get_limit(req, limit)) co_return *e;
    if (auto e = get_cursor(req, "before", before)) co_return *e;
    co_return from_page(co_await svc.store.conversations(req.user->user_id, as_id(before), limit),
                        "conversation");
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
    gauge("chirp_redis_up", "1 while the fan-out's Redis connections are healthy.", "gauge",
          m.redis_up.load());
    gauge("chirp_redis_dropped_total",
          "Writes to Redis dropped (Redis down or its outbound queue full).", "counter",
          m.redis_dropped.load());
    gauge("chirp_redis_timeouts_total", "Redis commands whose deadline expired.", "counter",
          m.redis_timeouts.load());
    gauge("chirp_redis_health_failures_total",
          "Redis connections dropped by the health check (no answer to PING in time).", "counter",
          m.redis_health_failures.load());
    gauge("chirp_redis_connect_failures_total",
          "Failed Redis connection attempts (refused, timed out, AUTH or SELECT).", "counter",
          m.redis_connect_failures.load());
    gauge("chirp_redis_gap_hints_sent_total",
          "Replay hints published after events could not be published.", "counter",
          m.redis_gap_hints_sent.load());
    gauge("chirp_redis_gap_hints_received_total", "Replay hints received from any process.",
          "counter", m.redis_gap_hints_received.load());
    gauge("chirp_open_sockets", "Accepted client sockets open.", "gauge", m.open_sockets.load());
    gauge("chirp_accept_paused_total", "Times accept paused at the connection cap.", "counter",
          m.accept_paused.load());
    gauge("chirp_accept_errors_total", "Failed accepts (e.g. out of descriptors).", "counter",
          m.accept_errors.load());
    gauge("chirp_session_cap_refusals_total", "Sessions refused by the per-user cap.", "counter",
          m.session_cap_refusals.load());
    gauge("chirp_replays_rate_limited_total", "Replays answered resync by the rate limit.",
          "counter", m.replays_rate_limited.load());
    gauge("chirp_write_timeouts_total", "Connections dropped at a write or close deadline.",
          "counter", m.write_timeouts.load());
    response resp = json_response(200, std::move(out));
    resp.content_type = "text/plain; version=0.0.4";
    co_return resp;
}

std::vector<route> with_drafts(std::vector<route> table) {
    for (auto& r : draft_routes()) table.push_back(std::move(r));
    return table;
}

}  // namespace

const std::vector<route>& routes() {
    static const std::vector<route> table = with_drafts({
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
    });
    return table;
}

}  // namespace chirp::http
