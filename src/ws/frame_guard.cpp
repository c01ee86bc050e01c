#include "frame_guard.hpp"

#include <algorithm>
#include <boost/beast/websocket/detail/frame.hpp>
#include <boost/beast/websocket/detail/utf8_checker.hpp>
#include <cstring>

namespace chirp::ws {

namespace {

int base64_value(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

constexpr unsigned op_close = 0x8;

// Steps over the payload bytes of the current frame that `available` bytes hold; returns how
// many, and counts them off `left` (both frame followers below walk frames this way).
std::size_t skip_payload(std::uint64_t& left, std::size_t available) {
    const auto skip = static_cast<std::size_t>(
        std::min<std::uint64_t>(left, static_cast<std::uint64_t>(available)));
    left -= skip;
    return skip;
}

}  // namespace

bool valid_websocket_key(std::string_view key) {
    // 16 bytes: 21 full characters, one holding the last 2 bits (the low 4 bits zero), "==".
    if (key.size() != 24 || key[22] != '=' || key[23] != '=') return false;
    for (std::size_t i = 0; i < 22; ++i)
        if (base64_value(key[i]) < 0) return false;
    return (base64_value(key[21]) & 0x0F) == 0;
}

void teardown(boost::beast::role_type role, guarded_socket& s, boost::system::error_code& ec) {
    boost::beast::websocket::teardown(role, s.next_layer(), ec);
}

// Idle memory per WebSocket (BENCHMARKS.md): keep these small.
static_assert(sizeof(close_frame_guard) <= 24);
static_assert(sizeof(out_frames) <= 16);

std::size_t close_frame_guard::take(char* out, std::size_t max) {
    const auto n = std::min(max, ready());
    if (n == 0) return 0;
    std::memcpy(out, held_->data(), n);
    held_->erase(0, n);
    if (held_->empty()) held_.reset();  // release the buffer
    return n;
}

std::size_t close_frame_guard::on_read(char* p, std::size_t n) {
    if (holding_) {
        held_->append(p, n);
        check_held();
        return 0;
    }
    std::size_t i = 0;
    while (i < n && !passthrough_) {
        if (hdr_len_ == 0 && payload_left_ > 0) {
            i += skip_payload(payload_left_, n - i);
            continue;
        }
        const auto byte = static_cast<unsigned char>(p[i]);
        if (hdr_len_ == 0 && (byte & 0x0F) == op_close) {
            // A close frame starts: hold it (and whatever follows) until it is complete.
            holding_ = true;
            held_ = std::make_unique<std::string>(p + i, n - i);
            check_held();
            return i;
        }
        ++i;
        ++hdr_len_;
        if (hdr_len_ == 1) {
            b0_ = byte;
            continue;
        }
        if (hdr_len_ == 2) {
            const bool fin = (b0_ & 0x80) != 0;
            const unsigned rsv = b0_ & 0x70;
            const unsigned op = b0_ & 0x0F;
            const bool masked = (byte & 0x80) != 0;
            const unsigned len7 = byte & 0x7F;
            const bool control = (op & 0x8) != 0;
            const bool known = op <= 2 || op == 0x9 || op == 0xA;
            if (rsv != 0 || !known || !masked || (control && (!fin || len7 > 125))) {
                passthrough_ = true;  // Beast fails the connection with 1002
                break;
            }
            len_end_ = static_cast<std::uint8_t>(2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0));
            hdr_need_ = static_cast<std::uint8_t>(len_end_ + 4);
            payload_left_ = len7 < 126 ? len7 : 0;
        } else if (hdr_len_ <= len_end_) {
            payload_left_ = (payload_left_ << 8) | byte;  // the extended length, big-endian
        }
        if (hdr_len_ == hdr_need_) {
            const bool fin = (b0_ & 0x80) != 0;
            const unsigned op = b0_ & 0x0F;
            if (op == 1 || op == 2) message_op_ = static_cast<std::uint8_t>(fin ? 0 : op);
            if (op == 0 && fin) message_op_ = 0;
            hdr_len_ = 0;
            hdr_need_ = 2;
        }
    }
    return n;
}

void out_frames::on_write(const unsigned char* p, std::size_t n) {
    std::size_t i = 0;
    while (i < n) {
        if (hdr_len_ == 0 && payload_left_ > 0) {
            i += skip_payload(payload_left_, n - i);
            continue;
        }
        const auto byte = p[i++];
        ++hdr_len_;
        if (hdr_len_ == 1) {
            op_ = byte & 0x0F;
            continue;
        }
        if (hdr_len_ == 2) {
            const unsigned len7 = byte & 0x7F;
            const bool masked = (byte & 0x80) != 0;
            len_end_ = static_cast<std::uint8_t>(2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0));
            hdr_need_ = static_cast<std::uint8_t>(len_end_ + (masked ? 4 : 0));
            payload_left_ = len7 < 126 ? len7 : 0;
            if (op_ == op_close) closed_ = true;
        } else if (hdr_len_ <= len_end_) {
            payload_left_ = (payload_left_ << 8) | byte;
        }
        if (hdr_len_ == hdr_need_) {
            hdr_len_ = 0;
            hdr_need_ = 2;
        }
    }
}

void close_frame_guard::check_held() {
    auto& held = *held_;
    if (held.size() < 2) return;
    const auto b0 = static_cast<unsigned char>(held[0]);
    const auto b1 = static_cast<unsigned char>(held[1]);
    const std::size_t len = b1 & 0x7F;
    const bool plain = (b0 & 0x80) != 0 && (b0 & 0x70) == 0 && (b1 & 0x80) != 0 && len <= 125;
    if (plain && held.size() < 6 + len) return;  // not complete yet
    if (plain) correct_close(held.data(), len);
    // Beast sees the frame now (a malformed one fails the connection there); after a close
    // frame nothing more is looked at.
    holding_ = false;
    passthrough_ = true;
}

void close_frame_guard::correct_close(char* frame, std::size_t payload_len) const {
    if (payload_len < 2) return;  // empty (valid), or 1 byte (Beast fails it with 1002)
    const auto* key = reinterpret_cast<const unsigned char*>(frame + 2);
    auto* payload = reinterpret_cast<unsigned char*>(frame + 6);
    const unsigned code = (static_cast<unsigned>(payload[0] ^ key[0]) << 8) | (payload[1] ^ key[1]);
    if (!boost::beast::websocket::detail::is_valid_close_code(static_cast<std::uint16_t>(code)))
        return;  // Beast fails it with 1002
    std::string reason(payload_len - 2, '\0');
    for (std::size_t k = 2; k < payload_len; ++k)
        reason[k - 2] = static_cast<char>(payload[k] ^ key[k % 4]);
    const bool bad_reason = !reason.empty() && !boost::beast::websocket::detail::check_utf8(
                                                   reason.data(), reason.size());
    if (code >= 5000 || (bad_reason && message_op_ == 2)) {
        // Code 0: Beast fails the connection with 1002.
        payload[0] = key[0];
        payload[1] = key[1];
    } else if (bad_reason) {
        // The same bytes as the (final) frame of a text message, behind two spaces instead of
        // the code (which could otherwise complete a UTF-8 sequence): Beast fails with 1007.
        frame[0] = static_cast<char>(0x80 | (message_op_ == 1 ? 0x0 : 0x1));
        payload[0] = static_cast<unsigned char>(' ' ^ key[0]);
        payload[1] = static_cast<unsigned char>(' ' ^ key[1]);
    }
}

}  // namespace chirp::ws
