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
#include "chirp/config/config.hpp"
#include "chirp/domain/errc.hpp"
#include "chirp/http/drafts.hpp"
#include "chirp/http/limits.hpp"

namespace chirp {
struct config;
namespace metrics {
struct registry;
}
namespace store {
class event_store;
}
namespace fanout {
class service;
}
namespace timeline {
class home_timeline;
}
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
    // Wired by the app; null when real time is not (tests of the REST layer).
    fanout::service* fanout = nullptr;                   // prepare_fanout, Redis readiness
    timeline::home_timeline* home_timeline = nullptr;    // GET /api/timeline from memory
    std::function<void(std::string& out)> stats_fields;  // the modules' part of /api/stats
    draft_notice_hook on_draft_notice;  // drafts changed over REST (http/drafts.hpp); may be empty
    login_limiter logins;
    verified_tokens tokens;
    // Abuse limits (limits.hpp, docs/api.md "Limits"), configured from cfg.
    token_buckets registrations{cfg.register_rate_limit / 60.0,
                                static_cast<double>(cfg.register_rate_limit)};
    token_buckets writes{static_cast<double>(cfg.write_rate_limit), 2.0 * cfg.write_rate_limit};
    // Keeps the three limits above in `region` (util/limit_tables.hpp): the app passes the
    // region the workers of one chirpd share, so each limit holds for the whole server.
    void use_limits(const std::shared_ptr<util::limits_region>& region) {
        logins = login_limiter(region);
        registrations = token_buckets(registrations_rate(), cfg.register_rate_limit, region,
                                      util::limit_table::registrations);
        writes = token_buckets(cfg.write_rate_limit, 2.0 * cfg.write_rate_limit, region,
                               util::limit_table::writes);
    }
    double registrations_rate() const { return cfg.register_rate_limit / 60.0; }
    int password_jobs = 0;   // argon2 hashes and verifications queued or running
    std::string dummy_hash;  // verified for unknown handles (same cost as a real one)
};

using handler = std::function<boost::asio::awaitable<response>(services&, request&)>;

struct route {
    method verb;
    std::string_view pattern;  // "/api/users/{}/follow": {} matches one segment
    handler fn;
};

// The one route table (api_routes.cpp); it includes the drafts' routes (drafts_routes.cpp).
const std::vector<route>& routes();
std::vector<route> draft_routes();

// Matches req.path/verb; fills req.params. On no match, the error is 404 or 405 (with Allow).
const route* match(request& req, errc& err, std::string& allow);

// Runs a request through auth, routing and the handler; never throws.
boost::asio::awaitable<response> dispatch(services& svc, request& req);

}  // namespace chirp::http
