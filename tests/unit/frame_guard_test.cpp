// close_frame_guard and valid_websocket_key (src/ws/frame_guard.hpp): byte-level checks; the
// behaviour on the wire is in tests/integration/rfc6455_test.cpp.
#include "../../src/ws/frame_guard.hpp"

#include <gtest/gtest.h>

#include <string>

namespace chirp::ws {
namespace {

const std::string key4 = "\x11\x22\x33\x44";

// A masked client frame.
std::string frame(unsigned op, const std::string& payload, bool fin = true) {
    std::string f;
    f += static_cast<char>((fin ? 0x80 : 0) | op);
    f += static_cast<char>(0x80 | payload.size());  // < 126 here
    f += key4;
    for (std::size_t i = 0; i < payload.size(); ++i)
        f += static_cast<char>(payload[i] ^ key4[i % 4]);
    return f;
}

std::string close(unsigned code, const std::string& reason = "") {
    std::string p;
    p += static_cast<char>(code >> 8);
    p += static_cast<char>(code & 0xFF);
    return frame(0x8, p + reason);
}

// Feeds the bytes in pieces of `step` and returns what the guard hands on, in order.
std::string pass(close_frame_guard& g, std::string bytes, std::size_t step) {
    std::string out;
    for (std::size_t i = 0; i < bytes.size(); i += step) {
        const auto n = std::min(step, bytes.size() - i);
        out.append(bytes.data() + i, g.on_read(bytes.data() + i, n));
        while (g.ready() > 0) {
            char buf[7];
            out.append(buf, g.take(buf, sizeof buf));
        }
    }
    return out;
}

unsigned code_of(const std::string& f) {
    return ((static_cast<unsigned char>(f[6]) ^ 0x11) << 8) |
           (static_cast<unsigned char>(f[7]) ^ 0x22);
}

TEST(FrameGuard, ValidKeysAreBase64Of16Bytes) {
    EXPECT_TRUE(valid_websocket_key("dGhlIHNhbXBsZSBub25jZQ=="));
    EXPECT_TRUE(valid_websocket_key("AAAAAAAAAAAAAAAAAAAAAA=="));
    EXPECT_TRUE(valid_websocket_key("/+9aZz0AAAAAAAAAAAAAAw=="));
    EXPECT_FALSE(valid_websocket_key(""));
    EXPECT_FALSE(valid_websocket_key("AAAAAAAAAAAAAA=="));          // 10 bytes
    EXPECT_FALSE(valid_websocket_key("AAAAAAAAAAAAAAAAAAAAAAA="));  // 17 bytes
    EXPECT_FALSE(valid_websocket_key("AAAAAAAAAAAAAAAAAAAAAB=="));  // padding bits set
    EXPECT_FALSE(valid_websocket_key("AAAAAAAAAAAAAAAAAAAA!A=="));
    EXPECT_FALSE(valid_websocket_key("AAAAAAAAAAAAAAAAAAAAAA==  "));
}

TEST(FrameGuard, DataAndValidClosePassUnchangedInAnyPieces) {
    const auto bytes = frame(0x1, "{\"type\":", false) + frame(0x9, "ping") + frame(0x0, "\"x\"}") +
                       frame(0x1, std::string(100, 'a')) + close(1000, "bye \xC3\xA9");
    for (std::size_t step : {1u, 2u, 3u, 7u, 64u, 4096u}) {
        close_frame_guard g;
        EXPECT_EQ(pass(g, bytes, step), bytes) << "pieces of " << step;
    }
}

TEST(FrameGuard, CloseCodesOver4999BecomeCode0) {
    for (unsigned code : {5000u, 5001u, 65535u}) {
        for (std::size_t step : {1u, 3u, 100u}) {
            close_frame_guard g;
            const auto out = pass(g, frame(0x1, "x") + close(code, "r"), step);
            const auto f = out.substr(7);
            ASSERT_EQ(f.size(), 9u);
            EXPECT_EQ(static_cast<unsigned char>(f[0]), 0x88u);
            EXPECT_EQ(code_of(f), 0u) << code;
        }
    }
    // Codes Beast refuses itself are left alone.
    close_frame_guard g;
    EXPECT_EQ(code_of(pass(g, close(1005), 1)), 1005u);
}

TEST(FrameGuard, ACloseReasonThatIsNotUtf8BecomesInvalidText) {
    close_frame_guard g;
    const auto out = pass(g, close(1000, "\x80\x80"), 2);
    EXPECT_EQ(static_cast<unsigned char>(out[0]), 0x81u);  // a final text frame
    EXPECT_EQ(code_of(out), (unsigned{' ' ^ 0x11 ^ 0x11} << 8) | (' ' ^ 0x22 ^ 0x22));
    // Inside a fragmented text message: its final continuation.
    close_frame_guard t;
    const auto first = frame(0x1, "ab", false);
    const auto out2 = pass(t, first + close(1000, "\xFF"), 5);
    EXPECT_EQ(static_cast<unsigned char>(out2[first.size()]), 0x80u);
    // Inside a binary message: code 0 (1002).
    close_frame_guard b;
    const auto bin = frame(0x2, "ab", false);
    const auto out3 = pass(b, bin + close(1000, "\xFF"), 5);
    EXPECT_EQ(static_cast<unsigned char>(out3[bin.size()]), 0x88u);
    EXPECT_EQ(code_of(out3.substr(bin.size())), 0u);
}

TEST(FrameGuard, AfterAFramingErrorEverythingPassesThrough) {
    close_frame_guard g;
    std::string bad = "\x81\x02zz";  // unmasked
    const auto bytes = bad + close(5000);
    EXPECT_EQ(pass(g, bytes, 3), bytes);
}

}  // namespace
}  // namespace chirp::ws
