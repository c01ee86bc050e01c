// The origin policy of real-time connections (see origin.hpp).
#include "origin.hpp"

#include <algorithm>

#include "chirp/config/config.hpp"

namespace chirp::ws {

bool origin_allowed(const config& cfg, std::string_view origin, std::string_view host) {
    if (origin.empty()) return true;  // not a browser
    if (!cfg.allowed_origins.empty())
        return std::find(cfg.allowed_origins.begin(), cfg.allowed_origins.end(), origin) !=
               cfg.allowed_origins.end();
    auto strip = [](std::string_view o) {
        for (std::string_view p : {"http://", "https://"})
            if (o.substr(0, p.size()) == p) return o.substr(p.size());
        return std::string_view{};
    };
    const auto o = strip(origin);
    if (o.empty()) return false;
    if (o == host) return true;  // the server's own origin
    const auto hostname = o.substr(0, o.find(':'));
    return hostname == "localhost" || hostname == "127.0.0.1" || hostname == "[::1]";
}

}  // namespace chirp::ws
