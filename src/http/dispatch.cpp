// Routing, authentication of requests, error mapping and the failed-login throttle.
#include <spdlog/spdlog.h>

#include <boost/asio/thread_pool.hpp>

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
    try {
        co_return co_await r->fn(svc, req);
    } catch (const std::exception& e) {
        spdlog::error("handler for {} failed: {}", req.path, e.what());
        co_return error_response(errc::internal, "internal error");
    }
}

namespace {
constexpr int max_per_handle = 5;
constexpr int max_per_ip = 20;
constexpr std::int64_t window_seconds = 60;
}  // namespace

int login_limiter::retry_after(const std::string& handle, const std::string& ip) {
    const auto now = auth::unix_now();
    int wait = 0;
    auto check = [&](auto& m, const std::string& key, int limit) {
        auto it = m.find(key);
        if (it == m.end()) return;
        if (now - it->second.start >= window_seconds) {
            m.erase(it);
            return;
        }
        if (it->second.failures >= limit)
            wait = std::max(wait, static_cast<int>(it->second.start + window_seconds - now));
    };
    check(by_handle_, handle, max_per_handle);
    check(by_ip_, ip, max_per_ip);
    // Keep the maps small: drop stale windows now and then.
    if (by_handle_.size() > 100000)
        std::erase_if(by_handle_,
                      [&](auto& kv) { return now - kv.second.start >= window_seconds; });
    if (by_ip_.size() > 100000)
        std::erase_if(by_ip_, [&](auto& kv) { return now - kv.second.start >= window_seconds; });
    return wait;
}

void login_limiter::failed(const std::string& handle, const std::string& ip) {
    const auto now = auth::unix_now();
    for (auto* entry : {&by_handle_[handle], &by_ip_[ip]}) {
        if (now - entry->start >= window_seconds) *entry = {now, 0};
        ++entry->failures;
    }
}

void login_limiter::succeeded(const std::string& handle) {
    by_handle_.erase(handle);
}

}  // namespace chirp::http
