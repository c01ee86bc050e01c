// The REST API's types: a plain request/response (no Beast here), the services handlers use,
// and the route table. Handlers are thin: parse and validate, call the store, map the result.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "chirp/auth/jwt.hpp"
#include "chirp/domain/errc.hpp"

namespace chirp {
struct config;
namespace metrics {
struct registry;
}
namespace store {
class event_store;
struct stats_counts;
}  // namespace store
}  // namespace chirp

namespace chirp::http {

enum class method { get, post, put, del, patch, head, options, other };

struct request {
    method verb = method::get;
    std::string path;  // decoded path without the query
    std::map<std::string, std::string> query;
    std::vector<std::string> params;  // path parameters, in order
    std::string body;
    std::string content_type;
    std::string authorization;
    std::string idempotency_key;
    std::string remote_ip;
    std::optional<auth::claims> user;  // set when a valid bearer token came with the request
    std::string auth_error;            // why the token (if any) was rejected
};

struct response {
    unsigned status = 200;
    std::string body;
    std::string content_type = "application/json";
    std::vector<std::pair<std::string, std::string>> headers;
};

response json_response(unsigned status, std::string body);
response error_response(errc code, std::string_view message);

// Implemented by the real-time module; the HTTP layer asks it for live numbers and for the
// timeline cache. Optional: null when real-time is not wired (tests of the REST layer).
class realtime_info {
public:
    virtual ~realtime_info() = default;
    virtual bool redis_ready() const = 0;
    // Adds the real-time part of /api/stats into `out` (a JSON object text without braces).
    virtual void stats_fields(std::string& out) const = 0;
    // Timeline through the Redis home cache; nullopt when the cache cannot answer.
    virtual boost::asio::awaitable<std::optional<std::string>> cached_timeline(long long user,
                                                                               long long before,
                                                                               int limit) = 0;
    // A tweet by `author` is about to be written: the fan-out may fetch what it will need
    // (the follower list) while the write commits, instead of after it.
    virtual void prepare_fanout(long long author) { (void)author; }
};

// Failed-login throttle: per handle and per address, within a one-minute window.
class login_limiter {
public:
    // Seconds to wait when over the limit, else 0.
    int retry_after(const std::string& handle, const std::string& ip);
    void failed(const std::string& handle, const std::string& ip);
    void succeeded(const std::string& handle);

private:
    struct window {
        std::int64_t start = 0;
        int failures = 0;
    };
    std::unordered_map<std::string, window> by_handle_, by_ip_;
};

// Verified tokens (exact bytes) and their claims, per server (so per secret): the signature of
// the same bytes under the same secret verifies again, so a hit skips base64, JSON and HMAC;
// the caller still checks the expiry on every request. Bounded; the loop's only (no lock).
class verified_tokens {
public:
    const auth::claims* find(std::string_view token) const;
    void add(std::string_view token, const auth::claims& c);

private:
    static constexpr std::size_t max_entries = 10000;
    struct hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept {
            return std::hash<std::string_view>{}(s);
        }
    };
    std::unordered_map<std::string, auth::claims, hash, std::equal_to<>> map_;
};

struct services {
    boost::asio::io_context& ioc;
    const config& cfg;
    metrics::registry& metrics;
    store::event_store& store;
    auth::jwt_codec& jwt;
    boost::asio::thread_pool& cpu;  // password hashing
    realtime_info* realtime = nullptr;
    login_limiter logins;
    verified_tokens tokens;
};

using handler = std::function<boost::asio::awaitable<response>(services&, request&)>;

struct route {
    method verb;
    std::string_view pattern;  // "/api/users/{}/follow": {} matches one segment
    handler fn;
};

// The one route table (api_routes.cpp).
const std::vector<route>& routes();

// Matches req.path/verb; fills req.params. On no match, the error is 404 or 405 (with Allow).
const route* match(request& req, errc& err, std::string& allow);

// The body of /api/stats (also pushed on the WebSocket `stats` channel). counts: the store's
// counts, nullptr when PostgreSQL is down.
std::string stats_json(const metrics::registry& m, const store::stats_counts* counts,
                       const realtime_info* rt);

// Runs a request through auth, routing and the handler; never throws.
boost::asio::awaitable<response> dispatch(services& svc, request& req);

}  // namespace chirp::http
