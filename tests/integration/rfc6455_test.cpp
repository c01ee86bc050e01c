// RFC 6455 conformance of GET /ws, frame by frame: every protocol violation a client can send
// fails the connection with the code the RFC (section 7.4.1) gives it — 1002 for framing and
// close-code errors, 1007 for invalid UTF-8 (in a text message or a close reason), 1009 for a
// message over the limit — control frames are answered in the middle of a fragmented message,
// valid close codes are echoed, and the opening handshake refuses what is not one (version
// other than 13: 426 naming the version; a missing or malformed Sec-WebSocket-Key: 400;
// no Upgrade/Connection: no upgrade). Frames are written raw (support/raw_ws.hpp).
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "support/raw_ws.hpp"
#include "support/server.hpp"

namespace chirp::test {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;

class Rfc6455 : public server_test<Rfc6455> {
protected:
    // Opens an (unauthenticated) WebSocket, lets `send` write to it, and returns how the
    // server ended it within 5 s.
    static raw_close after(const std::function<void(raw_ws&)>& send) {
        raw_ws c(server().port());
        c.open();
        send(c);
        const auto r = c.wait_close(5s);
        if (!r) return raw_close{true, 0, "<still open after 5 s>"};
        return *r;
    }

    static void expect_code(const raw_close& r, unsigned code, const std::string& what) {
        EXPECT_TRUE(r.close_frame) << what << ": " << r.describe();
        EXPECT_EQ(r.code, code) << what << ": " << r.describe();
    }

    // The answer to an upgrade request built by hand.
    static raw_http_answer upgrade(const std::string& request) {
        raw_ws c(server().port());
        return c.handshake(request);
    }

    static std::string host() { return "Host: 127.0.0.1:" + std::to_string(server().port()); }
};

TEST_F(Rfc6455, ReservedBitsFailWith1002) {
    for (unsigned rsv = 1; rsv <= 7; ++rsv)
        expect_code(after([&](raw_ws& c) { c.send_frame(opcode::text, "{}", true, rsv); }), 1002,
                    "text with RSV " + std::to_string(rsv));
    // On a control frame, too.
    expect_code(after([](raw_ws& c) { c.send_frame(opcode::ping, "x", true, 4); }), 1002,
                "ping with RSV1");
}

TEST_F(Rfc6455, ReservedOpcodesFailWith1002) {
    for (unsigned op : {3u, 4u, 5u, 6u, 7u, 0xBu, 0xCu, 0xDu, 0xEu, 0xFu})
        expect_code(after([&](raw_ws& c) { c.send_frame(op, "abc"); }), 1002,
                    "opcode " + std::to_string(op));
}

TEST_F(Rfc6455, UnmaskedClientFramesFailWith1002) {
    expect_code(after([](raw_ws& c) { c.send_frame(opcode::text, "{}", true, 0, false); }), 1002,
                "unmasked text");
    expect_code(after([](raw_ws& c) { c.send_frame(opcode::ping, "p", true, 0, false); }), 1002,
                "unmasked ping");
    expect_code(
        after([](raw_ws& c) { c.send_frame(opcode::close, close_payload(1000), true, 0, false); }),
        1002, "unmasked close");
}

TEST_F(Rfc6455, ControlFramesOver125BytesOrFragmentedFailWith1002) {
    const std::string big(126, 'x');
    expect_code(after([&](raw_ws& c) { c.send_frame(opcode::ping, big); }), 1002, "ping of 126");
    expect_code(after([&](raw_ws& c) { c.send_frame(opcode::pong, big); }), 1002, "pong of 126");
    expect_code(after([&](raw_ws& c) { c.send_frame(opcode::close, close_payload(1000, big)); }),
                1002, "close of 128");
    expect_code(after([](raw_ws& c) { c.send_frame(opcode::ping, "a", false); }), 1002,
                "fragmented ping");
    expect_code(after([](raw_ws& c) { c.send_frame(opcode::pong, "a", false); }), 1002,
                "fragmented pong");
    expect_code(after([](raw_ws& c) { c.send_frame(opcode::close, close_payload(1000), false); }),
                1002, "fragmented close");
    // 125 bytes is allowed: the ping is answered with the same payload.
    raw_ws c(server().port());
    c.open();
    const std::string p125(125, 'p');
    c.send_frame(opcode::ping, p125);
    const auto pong = c.read_frame(5s);
    ASSERT_TRUE(pong) << "no answer to a 125-byte ping";
    EXPECT_EQ(pong->op, opcode::pong);
    EXPECT_EQ(pong->payload, p125);
    EXPECT_FALSE(pong->masked);
}

TEST_F(Rfc6455, ContinuationErrorsFailWith1002) {
    expect_code(after([](raw_ws& c) { c.send_frame(opcode::cont, "{}"); }), 1002,
                "continuation without a start");
    expect_code(after([](raw_ws& c) { c.send_frame(opcode::cont, "{", false); }), 1002,
                "unfinished continuation without a start");
    expect_code(after([](raw_ws& c) {
                    c.send_frame(opcode::text, "{\"ty", false);
                    c.send_frame(opcode::text, "pe\":1}");
                }),
                1002, "new text frame inside a fragmented message");
    expect_code(after([](raw_ws& c) {
                    c.send_frame(opcode::text, "{\"ty", false);
                    c.send_frame(opcode::binary, "x", false);
                }),
                1002, "new binary frame inside a fragmented message");
}

TEST_F(Rfc6455, InvalidCloseCodesFailWith1002) {
    for (unsigned code : {0u, 1u, 999u, 1004u, 1005u, 1006u, 1015u, 1016u, 1100u, 2000u, 2999u,
                          5000u, 5001u, 9999u, 65535u}) {
        expect_code(after([&](raw_ws& c) { c.send_frame(opcode::close, close_payload(code)); }),
                    1002, "close code " + std::to_string(code));
    }
    // With a reason, too.
    expect_code(after([](raw_ws& c) { c.send_frame(opcode::close, close_payload(5000, "bye")); }),
                1002, "close code 5000 with a reason");
}

TEST_F(Rfc6455, OneByteClosePayloadFailsWith1002) {
    expect_code(after([](raw_ws& c) { c.send_frame(opcode::close, std::string(1, '\x03')); }), 1002,
                "1-byte close payload");
}

TEST_F(Rfc6455, InvalidUtf8InTextFailsWith1007) {
    const std::vector<std::string> bad = {"\xFF",
                                          "\xC0\xAF",
                                          "\xED\xA0\x80",
                                          "{\"type\":\"\xE6\x97\"}",
                                          "ok \xF0\x9F\x98",
                                          "\xF4\x90\x80\x80"};
    for (std::size_t i = 0; i < bad.size(); ++i)
        expect_code(after([&](raw_ws& c) { c.send_frame(opcode::text, bad[i]); }), 1007,
                    "invalid text #" + std::to_string(i));
    // In the second fragment of a message.
    expect_code(after([](raw_ws& c) {
                    c.send_frame(opcode::text, "{\"type\":", false);
                    c.send_frame(opcode::cont, "\"\xFF\"}");
                }),
                1007, "invalid UTF-8 in a continuation");
    // A code point split across fragments is valid: the message is handled (an error answer
    // for an unknown type, not a close).
    raw_ws c(server().port());
    c.open();
    c.send_frame(opcode::text, "{\"type\":\"\xE6", false);
    c.send_frame(opcode::cont, "\x97\xA5\"}");
    const auto answer = c.next_data(5s);
    ASSERT_TRUE(answer) << "no answer to a message with a code point split across frames";
    EXPECT_EQ(answer->op, opcode::text);
}

TEST_F(Rfc6455, InvalidUtf8InCloseReasonFailsWith1007) {
    for (const std::string bad : {"\xFF\xFE", "\x80\x80", "ok \xED\xA0\x80", "\xE6\x97"})
        expect_code(
            after([&](raw_ws& c) { c.send_frame(opcode::close, close_payload(1000, bad)); }), 1007,
            "close reason of " + std::to_string(bad.size()) + " bytes");
    // Also when the close arrives in the middle of a fragmented text message.
    expect_code(after([](raw_ws& c) {
                    c.send_frame(opcode::text, "{\"ty", false);
                    c.send_frame(opcode::close, close_payload(1000, "\xFF"));
                }),
                1007, "bad close reason inside a fragmented message");
}

TEST_F(Rfc6455, OversizeMessagesFailWith1009) {
    const std::string big(64 * 1024 + 1, 'a');
    expect_code(after([&](raw_ws& c) { c.send_frame(opcode::text, big); }), 1009,
                "one frame over 64 KiB");
    const std::string half(40 * 1024, 'a');
    expect_code(after([&](raw_ws& c) {
                    c.send_frame(opcode::text, half, false);
                    c.send_frame(opcode::cont, half);
                }),
                1009, "two fragments over 64 KiB together");
}

TEST_F(Rfc6455, PingInsideAFragmentedMessageIsAnsweredAndTheMessageHandled) {
    const auto u = register_user(api(), "rf");
    raw_ws c(server().port());
    c.open();
    const std::string auth = json{{"type", "auth"}, {"token", u.token}}.dump();
    const auto cut = auth.size() / 2;
    c.send_frame(opcode::text, auth.substr(0, cut), false);
    c.send_frame(opcode::ping, "mid");
    c.send_frame(opcode::cont, auth.substr(cut, 5), false);
    c.send_frame(opcode::pong, "unsolicited");  // ignored
    c.send_frame(opcode::cont, auth.substr(cut + 5));
    const auto pong = c.read_frame(5s);
    ASSERT_TRUE(pong) << "no pong";
    EXPECT_EQ(pong->op, opcode::pong);
    EXPECT_EQ(pong->payload, "mid");
    const auto reply = c.next_data(5s);
    ASSERT_TRUE(reply) << "no answer to the fragmented auth message";
    EXPECT_EQ(json::parse(reply->payload).value("type", ""), "auth_ok") << reply->payload;
}

TEST_F(Rfc6455, ValidCloseCodesAreEchoed) {
    for (unsigned code : {1000u, 1001u, 1003u, 1011u, 3000u, 3999u, 4000u, 4999u}) {
        raw_ws c(server().port());
        c.open();
        c.send_frame(opcode::close, close_payload(code, "bye \xC3\xA9"));
        const auto r = c.wait_close(5s);
        ASSERT_TRUE(r) << "no answer to close " << code;
        expect_code(*r, code, "echo of " + std::to_string(code));
    }
    // An empty close payload is answered with a close frame, too.
    raw_ws c(server().port());
    c.open();
    c.send_frame(opcode::close, "");
    const auto r = c.wait_close(5s);
    ASSERT_TRUE(r) << "no answer to an empty close";
    EXPECT_TRUE(r->close_frame) << r->describe();
}

TEST_F(Rfc6455, TheAnswerToTheServersCloseEndsTheConnectionEvenWhenMalformed) {
    for (const std::string reason : {"", "\xFF"}) {
        raw_ws c(server().port());
        c.open();
        c.send_frame(opcode::binary, "x");  // the server closes with 1003
        const auto r = c.wait_close(5s);
        ASSERT_TRUE(r) << "no close after a binary frame";
        expect_code(*r, 1003, "binary frame");
        c.send_frame(opcode::close, close_payload(1003, reason));
        const auto end = c.wait_close(5s);
        ASSERT_TRUE(end) << "connection still open 5 s after the client's close";
        EXPECT_FALSE(end->close_frame) << end->describe();
    }
}

TEST_F(Rfc6455, HandshakeVersionOtherThan13Is426) {
    for (const std::string v : {"8", "12", "14", "abc"}) {
        auto req = raw_ws::upgrade_request(server().port());
        req.replace(req.find("Version: 13"), 11, "Version: " + v);
        const auto a = upgrade(req);
        EXPECT_EQ(a.status, 426u) << "version " << v << ": " << a.head;
        EXPECT_EQ(a.header("Sec-WebSocket-Version").value_or(""), "13") << a.head;
    }
}

TEST_F(Rfc6455, HandshakeWithAMissingOrMalformedKeyIs400) {
    const auto with_key = [&](const std::string& key_line) {
        return "GET /ws HTTP/1.1\r\n" + host() +
               "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" + key_line +
               "Sec-WebSocket-Version: 13\r\n\r\n";
    };
    EXPECT_EQ(upgrade(with_key("")).status, 400u) << "no key";
    for (const std::string key : {
             "",                              // empty
             "AAAAAAAAAAAAAA==",              // base64 of 10 bytes
             "AAAAAAAAAAAAAAAAAAAAAAA=",      // 17 bytes
             "AAAAAAAAAAAAAAAAAAAAAAAA",      // 18 bytes
             "!!!!!!!!!!!!!!!!!!!!!!==",      // not base64
             "AAAAAAAAAAAAAAAAAAAA AA==",     // a space inside
             "AAAAAAAAAAAAAAAAAAAAAB==",      // non-zero padding bits
             "AAAAAAAAAAAAAAAAAAAAAAAAAAAA",  // too long
         }) {
        const auto a = upgrade(with_key("Sec-WebSocket-Key: " + key + "\r\n"));
        EXPECT_EQ(a.status, 400u) << "key \"" << key << "\": " << a.head;
    }
    // A well-formed key (16 bytes) is accepted.
    const auto ok = upgrade(with_key("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"));
    EXPECT_EQ(ok.status, 101u) << ok.head;
    // The RFC's example answer.
    EXPECT_EQ(ok.header("Sec-WebSocket-Accept").value_or(""), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST_F(Rfc6455, HandshakeWithoutUpgradeOrConnectionIsNotUpgraded) {
    const std::string tail =
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    const auto no_upgrade =
        upgrade("GET /ws HTTP/1.1\r\n" + host() + "\r\nConnection: Upgrade\r\n" + tail);
    EXPECT_EQ(no_upgrade.status, 400u) << no_upgrade.head;
    const auto no_connection =
        upgrade("GET /ws HTTP/1.1\r\n" + host() + "\r\nUpgrade: websocket\r\n" + tail);
    EXPECT_EQ(no_connection.status, 400u) << no_connection.head;
    const auto wrong_upgrade = upgrade("GET /ws HTTP/1.1\r\n" + host() +
                                       "\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n" + tail);
    EXPECT_EQ(wrong_upgrade.status, 400u) << wrong_upgrade.head;
    const auto post = upgrade("POST /ws HTTP/1.1\r\n" + host() +
                              "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" + tail);
    EXPECT_NE(post.status, 101u) << post.head;
    EXPECT_EQ(api().get("/healthz").status, 200u);
}

}  // namespace
}  // namespace chirp::test
