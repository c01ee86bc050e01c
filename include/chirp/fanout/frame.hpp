// Reading the envelope of a live frame ({"type":"event","channel":...,"seq":"N","event":{...}})
// once, where a live_event is built (the hub, from a Redis message; the replay parser, from a
// replayed line), so that sessions get the seq and the event object's place typed and never
// scan a frame.
#pragma once

#include <cstdint>
#include <string_view>

#include "chirp/fanout/hub.hpp"

namespace chirp::fanout {

struct frame_envelope {
    long long seq = 0;            // the top-level "seq"; 0 when absent
    std::uint32_t event_at = 0;   // where the "event" object starts in the frame
    std::uint32_t event_len = 0;  // its length; 0 when the frame has none (then: all of it)
};

// Keys in any order (ours put "event" last, jsonb sorts by length), any spacing.
frame_envelope read_envelope(std::string_view frame) noexcept;

// Fills ev.event_at / ev.event_len from ev.frame (the seq comes from elsewhere), and
// ev.ws_head.
void locate_event(live_event& ev) noexcept;

// A live_event for a frame: seq and event place read from it, its WebSocket header built.
live_event event_from_frame(std::shared_ptr<const std::string> frame);

// The header of an unfragmented, unmasked text frame of `payload_len` bytes, as a server sends
// it: 0x81, then the length in 7 bits, or 126 and 16 bits, or 127 and 64 bits (network order).
// No extension is negotiated (ws/ws_session.cpp), so the header depends on the length alone and
// is the same for every recipient.
ws_header ws_text_header(std::uint64_t payload_len) noexcept;

}  // namespace chirp::fanout
