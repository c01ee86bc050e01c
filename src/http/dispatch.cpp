// Routing, authentication of requests, error mapping and the per-user write rate limit.
#include <spdlog/spdlog.h>

#include <boost/asio/thread_pool.hpp>
#include <chrono>

#include "chirp/http/api.hpp"

namespace chirp::http {

response json_response(unsigned status, std::string body) {
    response r;
    r.status = status;
    r.body = std::move(body);
    return r;
}

response error_response(errc code, std::string_view message) {
    return json_response(http_status(code), error_body(code, message));
}

namespace {

std::vector<std::string_view> split(std::string_view path) {
    std::vector<std::string_view> out;
    std::size_t i = 0;
    while (i < path.size()) {
        if (path[i] == '/') {
            ++i;
            continue;
        }
        auto j = path.find('/', i);
        if (j == std::string_view::npos) j = path.size();
        out.push_back(path.substr(i, j - i));
        i = j;
    }
    return out;
}

const char* verb_name(method m) {
    switch (m) {
        case method::get:
            return "GET";
        case method::post:
            return "POST";
        case method::put:
            return "PUT";
        case method::del:
            return "DELETE";
        case method::patch:
            return "PATCH";
        case method::head:
            return "HEAD";
        case method::options:
            return "OPTIONS";
        default:
            return "OTHER";
    }
}

// The route patterns, split once (the table is static).
const std::vector<std::vector<std::string_view>>& split_patterns() {
    static const auto pats = [] {
        std::vector<std::vector<std::string_view>> out;
        for (const auto& r : routes()) out.push_back(split(r.pattern));
        return out;
    }();
    return pats;
}

}  // namespace

const auth::claims* verified_tokens::find(std::string_view token) const {
    auto it = map_.find(token);
    return it == map_.end() ? nullptr : &it->second;
}

void verified_tokens::add(std::string_view token, const auth::claims& c) {
    if (map_.size() >= max_entries) map_.clear();
    map_.emplace(std::string(token), c);
}

const route* match(request& req, errc& err, std::string& allow) {
    const auto segs = split(req.path);
    bool path_matched = false;
    const auto& pats = split_patterns();
    const auto& table = routes();
    for (std::size_t ri = 0; ri < table.size(); ++ri) {
        const auto& r = table[ri];
        const auto& pat = pats[ri];
        if (pat.size() != segs.size()) continue;
        std::vector<std::string> params;
        bool ok = true;
        for (std::size_t i = 0; i < pat.size() && ok; ++i) {
            if (pat[i] == "{}")
                params.emplace_back(segs[i]);
            else
                ok = pat[i] == segs[i];
        }
        if (!ok) continue;
        path_matched = true;
        if (r.verb == req.verb || (req.verb == method::head && r.verb == method::get)) {
            req.params = std::move(params);
            return &r;
        }
        if (!allow.empty()) allow += ", ";
        allow += verb_name(r.verb);
    }
    err = path_matched ? errc::method_not_allowed : errc::not_found;
    return nullptr;
}

boost::asio::awaitable<response> dispatch(services& svc, request& req) {
    errc err = errc::ok;
    std::string allow;
    const route* r = match(req, err, allow);
    if (r == nullptr) {
        auto resp = error_response(
            err, err == errc::not_found ? "no such endpoint" : "method not allowed here");
        if (!allow.empty()) resp.headers.emplace_back("Allow", allow);
        co_return resp;
    }
    if (!req.authorization.empty()) {
        constexpr std::string_view bearer = "Bearer ";
        if (req.authorization.size() > bearer.size() &&
            std::string_view(req.authorization).substr(0, bearer.size()) == bearer) {
            const auto token = std::string_view(req.authorization).substr(bearer.size());
            const auto* known = svc.tokens.find(token);
            if (known != nullptr && known->expires_at > auth::unix_now()) {
                req.user = *known;
            } else {
                auth::claims c;
                if (auto e = svc.jwt.verify(token, c)) {
                    req.auth_error = auth::to_string(*e);
                } else {
                    svc.tokens.add(token, c);
                    req.user = std::move(c);
                }
            }
        } else {
            req.auth_error = "Authorization must be a Bearer token";
        }
    }
    // Writes of a signed-in user take a token from the user's bucket (429 when empty).
    if (req.user && (req.verb == method::post || req.verb == method::del) && svc.writes.enabled()) {
        const double now =
            std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
                .count();
        if (const int wait = svc.writes.take(std::to_string(req.user->user_id), now); wait > 0) {
            auto resp = error_response(errc::rate_limited, "too many writes; slow down");
            resp.headers.emplace_back("Retry-After", std::to_string(wait));
            co_return resp;
        }
    }
    try {
        co_return co_await r->fn(svc, req);
    } catch (const std::exception& e) {
        spdlog::error("handler for {} failed: {}", req.path, e.what());
        co_return error_response(errc::internal, "internal error");
    }
}

}  // namespace chirp::http
