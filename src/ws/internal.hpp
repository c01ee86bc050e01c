// What the WebSocket and SSE sessions take from the fan-out module (the hub<->session seam,
// chirp/fanout/hub.hpp), under the names the sessions use, plus the frame scanners of ws/.
#pragma once

#include <string_view>

#include "chirp/fanout/hub.hpp"

namespace chirp::ws {

using fanout::hub;
using fanout::live_event;
using fanout::now_us;
using fanout::session_base;
using fanout::stream;
using fanout::stream_count;
using fanout::stream_name;

// The top-level "seq" of a frame ({"type":"event",...,"seq":"N",...}); 0 when absent.
long long frame_seq(std::string_view frame) noexcept;
// The "event" object of a frame, as text (for SSE data lines).
std::string_view frame_event(std::string_view frame) noexcept;

}  // namespace chirp::ws
