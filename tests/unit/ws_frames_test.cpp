// Frames built once (fanout::ws_text_header, live_event::ws_head) and written beside Beast's
// (guarded_socket in src/ws/frame_guard.hpp): the prebuilt header is byte for byte what Beast
// writes for the same message; out_frames finds the end of every frame the server writes; and
// on a real loopback connection a control frame that Beast wants to send while a data frame is
// half written goes out after it, whole, then the data frames that follow.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/_experimental/test/stream.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "../../src/ws/frame_guard.hpp"
#include "chirp/fanout/frame.hpp"

namespace chirp::ws {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

std::string header_bytes(const fanout::ws_header& h) {
    return {reinterpret_cast<const char*>(h.bytes.data()), h.size};
}

const char* upgrade_request =
    "GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

// What a Beast server stream writes for one text message of `payload`.
std::string beast_writes(const std::string& payload, bool auto_fragment) {
    asio::io_context ioc;
    beast::test::stream client(ioc);
    websocket::stream<beast::test::stream, false> server(ioc);
    server.next_layer().connect(client);
    client.write_some(asio::buffer(std::string(upgrade_request)));
    server.accept();
    client.clear();  // the 101 answer
    server.auto_fragment(auto_fragment);
    server.text(true);
    server.write(asio::buffer(payload));
    return std::string(client.str());
}

TEST(WsFrames, PrebuiltHeaderIsWhatBeastWrites) {
    for (const std::size_t n : {0u, 1u, 125u, 126u, 127u, 4096u, 65535u, 65536u, 70000u}) {
        const std::string payload(n, 'x');
        const auto h = fanout::ws_text_header(n);
        EXPECT_EQ(header_bytes(h) + payload, beast_writes(payload, false)) << n << " bytes";
        // Beast's default (auto_fragment) splits messages over its 4096-byte write buffer into
        // several frames; ours is one frame, as valid (RFC 6455 5.4) and written at once.
        if (n <= 4096) {
            EXPECT_EQ(header_bytes(h) + payload, beast_writes(payload, true)) << n << " bytes";
        }
    }
}

TEST(WsFrames, PrebuiltHeaderLengths) {
    const auto bytes = [](std::uint64_t n) { return header_bytes(fanout::ws_text_header(n)); };
    EXPECT_EQ(bytes(0), std::string("\x81\x00", 2));
    EXPECT_EQ(bytes(125), "\x81\x7D");
    EXPECT_EQ(bytes(126), std::string("\x81\x7E\x00\x7E", 4));
    EXPECT_EQ(bytes(65535), "\x81\x7E\xFF\xFF");
    EXPECT_EQ(bytes(65536), std::string("\x81\x7F\x00\x00\x00\x00\x00\x01\x00\x00", 10));
}

TEST(WsFrames, EventsCarryTheirHeader) {
    const auto frame = std::make_shared<const std::string>(
        R"({"type":"event","channel":"timeline","seq":"7","event":{"seq":"7"}})" +
        std::string(200, ' '));
    const auto ev = fanout::event_from_frame(frame);
    EXPECT_EQ(header_bytes(ev.ws_head), header_bytes(fanout::ws_text_header(frame->size())));
    fanout::live_event located{7, 0, frame};
    fanout::locate_event(located);
    EXPECT_EQ(header_bytes(located.ws_head), header_bytes(ev.ws_head));
}

// A server frame: header (unmasked) and payload.
std::string server_frame(unsigned op, const std::string& payload) {
    std::string f;
    f += static_cast<char>(0x80 | op);
    const auto n = payload.size();
    if (n < 126) {
        f += static_cast<char>(n);
    } else if (n <= 0xFFFF) {
        f += '\x7E';
        f += static_cast<char>(n >> 8);
        f += static_cast<char>(n & 0xFF);
    } else {
        f += '\x7F';
        for (int s = 56; s >= 0; s -= 8) f += static_cast<char>((n >> s) & 0xFF);
    }
    return f + payload;
}

TEST(WsFrames, OutFramesFindsEveryBoundary) {
    const std::vector<std::string> frames = {
        server_frame(0x1, ""), server_frame(0xA, "pong"), server_frame(0x1, std::string(300, 'a')),
        server_frame(0x9, ""), server_frame(0x1, std::string(70000, 'b'))};
    std::string all;
    std::vector<std::size_t> ends;
    for (const auto& f : frames) ends.push_back((all += f).size());
    // Byte by byte: at a boundary exactly at each frame's end.
    out_frames one;
    std::vector<std::size_t> seen;
    for (std::size_t i = 0; i < all.size(); ++i) {
        one.on_write(reinterpret_cast<const unsigned char*>(all.data()) + i, 1);
        if (one.at_boundary()) seen.push_back(i + 1);
    }
    EXPECT_EQ(seen, ends);
    EXPECT_FALSE(one.closed());
    // In pieces: at a boundary exactly after each frame.
    for (const std::size_t step : {2u, 5u, 64u, 4096u}) {
        out_frames t;
        std::size_t at = 0;
        for (const auto& f : frames) {
            for (std::size_t i = 0; i < f.size(); i += step) {
                const auto n = std::min(step, f.size() - i);
                t.on_write(reinterpret_cast<const unsigned char*>(f.data()) + i, n);
                at += n;
                EXPECT_EQ(t.at_boundary(), i + n == f.size()) << "step " << step << " at " << at;
            }
        }
    }
}

TEST(WsFrames, OutFramesSeesTheClose) {
    out_frames t;
    const auto close = server_frame(0x8, std::string("\x03\xE8", 2));
    t.on_write(reinterpret_cast<const unsigned char*>(close.data()), 1);
    EXPECT_FALSE(t.closed());
    t.on_write(reinterpret_cast<const unsigned char*>(close.data()) + 1, close.size() - 1);
    EXPECT_TRUE(t.closed());
    EXPECT_TRUE(t.at_boundary());
}

// ------------------------------------------------------------- on a real loopback connection

class WsFramesSocket : public ::testing::Test {
protected:
    // Runs the loop until `done` (false after 10 s).
    bool run_until(const std::function<bool()>& done) {
        const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (!done()) {
            if (std::chrono::steady_clock::now() > until) return false;
            if (ioc.stopped()) ioc.restart();  // it stops whenever it runs out of work
            ioc.run_one_for(std::chrono::milliseconds(50));
        }
        return true;
    }

    // A connected pair: the server side as chirpd has it, the client a Beast client whose
    // receive buffer (and the server's send buffer) are small, so a big frame blocks.
    void connect() {
        tcp::acceptor acc(ioc, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
        tcp::socket c(ioc);
        c.open(tcp::v4());
        c.set_option(asio::socket_base::receive_buffer_size(8 * 1024));
        c.connect(acc.local_endpoint());
        tcp::socket s = acc.accept();
        s.set_option(asio::socket_base::send_buffer_size(8 * 1024));
        server = std::make_unique<websocket::stream<guarded_socket, false>>(std::move(s));
        client = std::make_unique<websocket::stream<tcp::socket>>(std::move(c));
        bool accepted = false, shook = false;
        server->async_accept([&](beast::error_code ec) { accepted = !ec; });
        client->async_handshake("localhost", "/", [&](beast::error_code ec) { shook = !ec; });
        ASSERT_TRUE(run_until([&] { return accepted && shook; }));
        server->next_layer().frames_begin();
    }

    // Data frames through the guard, one after the other, as ws_session writes them: each at
    // once, else its rest asynchronously; `written` counts them.
    void write_frame(std::string payload) {
        pending.push_back(std::move(payload));
        if (!writing) write_pending();
    }

    void write_pending() {
        writing = false;
        while (!pending.empty()) {
            auto payload = std::make_shared<const std::string>(std::move(pending.front()));
            pending.erase(pending.begin());
            auto head =
                std::make_shared<fanout::ws_header>(fanout::ws_text_header(payload->size()));
            const guarded_socket::frame_buffers b{asio::buffer(head->bytes.data(), head->size),
                                                  asio::buffer(*payload)};
            beast::error_code ec;
            const auto n = server->next_layer().write_now(b, ec);
            ASSERT_FALSE(ec) << ec.message();
            if (n == asio::buffer_size(b)) {
                ++written;
                continue;
            }
            writing = true;
            server->next_layer().async_write_frame(b, n,
                                                   [this, head, payload](beast::error_code e) {
                                                       EXPECT_FALSE(e) << e.message();
                                                       ++written;
                                                       write_pending();
                                                   });
            return;
        }
    }

    std::vector<std::string> pending;
    bool writing = false;
    int written = 0;

    asio::io_context ioc;
    std::unique_ptr<websocket::stream<guarded_socket, false>> server;
    std::unique_ptr<websocket::stream<tcp::socket>> client;
};

TEST_F(WsFramesSocket, APongWaitsForTheDataFrameInProgressThenGoesFirst) {
    connect();
    // The server reads (Beast answers pings while it reads).
    beast::flat_buffer server_in;
    server->async_read(server_in, [](beast::error_code, std::size_t) {});

    // A frame far bigger than both socket buffers: it is half written when the ping comes.
    const std::size_t big = 2 * 1024 * 1024;
    write_frame(std::string(big, 'B'));
    ASSERT_EQ(written, 0) << "the big frame was written at once: the test needs it to block";

    bool pinged = false;
    client->async_ping("p1", [&](beast::error_code ec) { pinged = !ec; });
    // Beast read the ping and wants to answer: its pong waits for the data frame.
    ASSERT_TRUE(run_until([&] { return pinged && server->next_layer().beast_waiting(); }));

    // Data frames queued behind it go after the pong.
    for (int i = 0; i < 3; ++i) write_frame("small " + std::to_string(i));

    // The client reads: the big message whole, then the pong, then the small ones in order.
    std::vector<std::string> seen;
    client->control_callback([&](websocket::frame_type kind, beast::string_view payload) {
        if (kind == websocket::frame_type::pong) seen.push_back("pong " + std::string(payload));
    });
    beast::flat_buffer in;
    bool failed = false;
    std::function<void()> read_next = [&] {
        client->async_read(in, [&](beast::error_code ec, std::size_t) {
            if (ec) {
                failed = true;
                return;
            }
            const auto text = beast::buffers_to_string(in.data());
            in.consume(in.size());
            seen.push_back(text.size() > 100 ? "big " + std::to_string(text.size()) : text);
            if (seen.size() < 5) read_next();
        });
    };
    read_next();
    ASSERT_TRUE(run_until([&] { return failed || seen.size() >= 5; }));
    ASSERT_FALSE(failed);
    EXPECT_EQ(seen, (std::vector<std::string>{"big " + std::to_string(big), "pong p1", "small 0",
                                              "small 1", "small 2"}));
    EXPECT_EQ(written, 4);
}

TEST_F(WsFramesSocket, DataFramesFailAfterTheClose) {
    connect();
    bool closed = false;
    server->async_close(websocket::close_code::normal, [&](beast::error_code) { closed = true; });
    bool client_done = false;
    beast::flat_buffer in;
    client->async_read(in, [&](beast::error_code, std::size_t) { client_done = true; });
    ASSERT_TRUE(run_until([&] { return closed && client_done; }));
    const auto payload = std::make_shared<const std::string>("late");
    const auto head = fanout::ws_text_header(payload->size());
    beast::error_code ec;
    const auto n = server->next_layer().write_now(
        {asio::buffer(head.bytes.data(), head.size), asio::buffer(*payload)}, ec);
    EXPECT_EQ(n, 0u);
    EXPECT_EQ(ec, websocket::error::closed);
}

}  // namespace
}  // namespace chirp::ws
