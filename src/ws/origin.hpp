// Which browser origins may open a real-time connection (WebSocket upgrade).
#pragma once

#include <string_view>

namespace chirp {
struct config;
}

namespace chirp::ws {

// No Origin (not a browser): allowed. With allowed_origins configured: exactly those. Without:
// the server's own origin (`host`) and localhost.
bool origin_allowed(const config& cfg, std::string_view origin, std::string_view host);

}  // namespace chirp::ws
