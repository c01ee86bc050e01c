// The one reader of the live-frame envelope (see frame.hpp).
#include "chirp/fanout/frame.hpp"

#include <chrono>
#include <cstring>

namespace chirp::fanout {

namespace {

long long top_level_seq(std::string_view f) noexcept {
    auto p = f.find("\"seq\"");
    if (p == std::string_view::npos) return 0;
    p += 5;
    while (p < f.size() && (f[p] == ':' || f[p] == ' ' || f[p] == '"')) ++p;
    long long v = 0;
    while (p < f.size() && f[p] >= '0' && f[p] <= '9') v = v * 10 + (f[p++] - '0');
    return v;
}

// [begin, end) of the "event" object; {0, 0} when there is none.
std::pair<std::size_t, std::size_t> event_object(std::string_view f) noexcept {
    auto p = f.find("\"event\"");
    if (p == std::string_view::npos) return {0, 0};
    p = f.find('{', p);
    if (p == std::string_view::npos) return {0, 0};
    // Brace counting outside strings; strings are skipped with memchr (they are most of the
    // bytes: tweet text), a quote preceded by an odd number of backslashes being escaped.
    const char* d = f.data();
    const std::size_t n = f.size();
    int depth = 0;
    for (std::size_t i = p; i < n;) {
        const char c = d[i];
        if (c == '"') {
            const std::size_t open = i + 1;
            for (std::size_t from = open;;) {
                const void* q = std::memchr(d + from, '"', n - from);
                if (q == nullptr) return {p, n};
                const auto k = static_cast<std::size_t>(static_cast<const char*>(q) - d);
                std::size_t b = k;
                while (b > open && d[b - 1] == '\\') --b;
                if (((k - b) & 1) == 0) {
                    i = k + 1;
                    break;
                }
                from = k + 1;
            }
            continue;
        }
        if (c == '{') {
            ++depth;
        } else if (c == '}' && --depth == 0) {
            return {p, i + 1};
        }
        ++i;
    }
    return {p, f.size()};
}

}  // namespace

frame_envelope read_envelope(std::string_view frame) noexcept {
    frame_envelope e;
    e.seq = top_level_seq(frame);
    const auto [b, end] = event_object(frame);
    e.event_at = static_cast<std::uint32_t>(b);
    e.event_len = static_cast<std::uint32_t>(end - b);
    return e;
}

void locate_event(live_event& ev) noexcept {
    if (!ev.frame) return;
    const auto [b, end] = event_object(*ev.frame);
    ev.event_at = static_cast<std::uint32_t>(b);
    ev.event_len = static_cast<std::uint32_t>(end - b);
    ev.ws_head = ws_text_header(ev.frame->size());
}

live_event event_from_frame(std::shared_ptr<const std::string> frame) {
    live_event ev;
    const auto e = read_envelope(*frame);
    ev.seq = e.seq;
    ev.event_at = e.event_at;
    ev.event_len = e.event_len;
    ev.ws_head = ws_text_header(frame->size());
    ev.frame = std::move(frame);
    return ev;
}

ws_header ws_text_header(std::uint64_t n) noexcept {
    ws_header h;
    auto& b = h.bytes;
    b[0] = 0x81;  // FIN, text; RSV bits 0 (no extension)
    if (n <= 125) {
        b[1] = static_cast<std::uint8_t>(n);  // no mask bit: a server's frame
        h.size = 2;
    } else if (n <= 0xFFFF) {
        b[1] = 126;
        b[2] = static_cast<std::uint8_t>(n >> 8);
        b[3] = static_cast<std::uint8_t>(n);
        h.size = 4;
    } else {
        b[1] = 127;
        for (int i = 0; i < 8; ++i) b[2 + i] = static_cast<std::uint8_t>(n >> (56 - 8 * i));
        h.size = 10;
    }
    return h;
}

}  // namespace chirp::fanout
