// What the WebSocket and SSE sessions take from the fan-out module (the hub<->session seam,
// chirp/fanout/hub.hpp), under the names the sessions use.
#pragma once

#include <string_view>

#include "chirp/fanout/frame.hpp"
#include "chirp/fanout/hub.hpp"

namespace chirp::ws {

using fanout::event_from_frame;
using fanout::frame_envelope;
using fanout::hub;
using fanout::live_event;
using fanout::locate_event;
using fanout::now_us;
using fanout::read_envelope;
using fanout::session_base;
using fanout::stream;
using fanout::stream_count;
using fanout::stream_name;

}  // namespace chirp::ws
