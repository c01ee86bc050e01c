// redis://[[user]:password@]host[:port][/db] -> endpoint (see url.hpp).
#include "chirp/redis/url.hpp"

#include <charconv>

namespace chirp::redis {
namespace {

std::optional<std::string> percent_decode(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '%') {
            out.push_back(s[i]);
            continue;
        }
        if (i + 2 >= s.size()) return std::nullopt;
        int v = 0;
        const auto* b = s.data() + i + 1;
        auto [p, ec] = std::from_chars(b, b + 2, v, 16);
        if (ec != std::errc() || p != b + 2) return std::nullopt;
        out.push_back(static_cast<char>(v));
        i += 2;
    }
    return out;
}

bool parse_int(std::string_view s, int lo, int hi, int& out) {
    if (s.empty()) return false;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && p == s.data() + s.size() && out >= lo && out <= hi;
}

std::optional<endpoint> fail(std::string* error, const char* why) {
    if (error != nullptr) *error = why;
    return std::nullopt;
}

}  // namespace

std::optional<endpoint> parse_url(std::string_view url, std::string* error) {
    constexpr std::string_view scheme = "redis://";
    if (url.substr(0, scheme.size()) != scheme) return fail(error, "must start with redis://");
    std::string_view rest = url.substr(scheme.size());
    endpoint e;
    if (auto q = rest.find_first_of("?#"); q != std::string_view::npos)
        return fail(error, "query parameters are not supported");
    if (auto slash = rest.find('/'); slash != std::string_view::npos) {
        const auto db = rest.substr(slash + 1);
        rest = rest.substr(0, slash);
        if (!db.empty() && !parse_int(db, 0, 1000000, e.db))
            return fail(error, "the database (/N) must be a number");
    }
    if (auto at = rest.rfind('@'); at != std::string_view::npos) {
        const auto userinfo = rest.substr(0, at);
        rest = rest.substr(at + 1);
        const auto colon = userinfo.find(':');
        const auto user = percent_decode(userinfo.substr(0, colon));
        const auto pass = colon == std::string_view::npos
                              ? std::optional<std::string>(std::string())
                              : percent_decode(userinfo.substr(colon + 1));
        if (!user || !pass) return fail(error, "bad percent-escape in the user or password");
        if (colon == std::string_view::npos) {
            // redis://secret@host: the whole userinfo is the password (as redis-cli reads it).
            e.password = *user;
        } else {
            e.user = *user;
            e.password = *pass;
        }
    }
    std::string_view host = rest;
    if (!rest.empty() && rest.front() == '[') {  // [::1]:6379
        const auto close = rest.find(']');
        if (close == std::string_view::npos) return fail(error, "unclosed [ in the host");
        host = rest.substr(1, close - 1);
        rest = rest.substr(close + 1);
        if (!rest.empty() && rest.front() != ':') return fail(error, "junk after the host");
        if (!rest.empty() && !parse_int(rest.substr(1), 1, 65535, e.port))
            return fail(error, "the port must be 1..65535");
    } else if (auto colon = rest.rfind(':'); colon != std::string_view::npos) {
        host = rest.substr(0, colon);
        if (!parse_int(rest.substr(colon + 1), 1, 65535, e.port))
            return fail(error, "the port must be 1..65535");
    }
    if (!host.empty() && host != "localhost") e.host = std::string(host);
    return e;
}

std::vector<std::string> split_url_list(std::string_view list, std::string* error) {
    std::vector<std::string> out;
    std::vector<std::pair<std::string, int>> servers;
    std::size_t at = 0;
    while (true) {
        const auto comma = list.find(',', at);
        const auto one = list.substr(at, comma == std::string_view::npos ? list.npos : comma - at);
        std::string why;
        const auto ep = parse_url(one, &why);
        if (!ep) {
            if (error != nullptr)
                *error = one.empty() ? "an empty URL in the list" : std::string(one) + ": " + why;
            return {};
        }
        for (const auto& [host, port] : servers)
            if (host == ep->host && port == ep->port) {
                if (error != nullptr)
                    *error = ep->host + ":" + std::to_string(ep->port) + " is listed twice";
                return {};
            }
        servers.emplace_back(ep->host, ep->port);
        out.emplace_back(one);
        if (comma == std::string_view::npos) break;
        at = comma + 1;
    }
    return out;
}

}  // namespace chirp::redis
