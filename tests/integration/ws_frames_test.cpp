// Frames built once, on the wire: chirpd writes each event's prebuilt frame straight to the
// socket beside Beast's control frames (src/ws/frame_guard.hpp). A client that pings while a
// burst of events is delivered to it (and reads slowly, so that the server's writes block)
// gets well-formed frames only: every pong with its payload, in order, and every event once,
// in order. No extension is negotiated (a permessage-deflate offer is declined).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "support/api.hpp"
#include "support/raw_ws.hpp"
#include "support/server.hpp"
#include "support/ws_client.hpp"

namespace chirp::test {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

class WsFrames : public server_test<WsFrames> {
public:
    // The client stops reading for as long as the burst takes: a write may wait that long.
    static server_options options() { return {.args = {"--write-timeout-ms", "60000"}}; }
};

// A frame as a server must send it: final, no reserved bits, unmasked.
void expect_well_formed(const raw_frame& f) {
    EXPECT_TRUE(f.fin) << "op " << f.op;
    EXPECT_EQ(f.rsv, 0u) << "op " << f.op;
    EXPECT_FALSE(f.masked) << "op " << f.op;
    EXPECT_TRUE(f.op == opcode::text || f.op == opcode::pong || f.op == opcode::ping)
        << "op " << f.op;
}

TEST_F(WsFrames, PingsDuringABurstGetTheirPongsBetweenWholeEventFrames) {
    const auto author = register_user(api(), "fa");
    const auto reader = register_user(api(), "fr");
    follow(api(), reader, author);

    raw_ws c(server().port(), 4096);  // a small receive window: the server's writes block
    c.open(reader.token);
    c.send_frame(opcode::text,
                 json{{"type", "subscribe"}, {"channels", json::array({"timeline"})}}.dump());
    for (;;) {
        const auto f = c.next_data(5s);
        ASSERT_TRUE(f) << "no answer to subscribe";
        if (json::parse(f->payload).value("type", "") == "subscribed") break;
    }

    // The burst, with pings in between; the client reads nothing meanwhile.
    const int tweets = 150;
    const std::string text(270, 'x');
    std::vector<std::string> ids, pings;
    for (int i = 0; i < tweets; ++i) {
        ids.push_back(post_tweet(api(), author, std::to_string(i) + " " + text));
        if (i % 10 == 5) {
            pings.push_back("ping " + std::to_string(i));
            c.send_frame(opcode::ping, pings.back());
        }
    }

    std::vector<std::string> got_ids, pongs;
    long long last_seq = 0;
    while (got_ids.size() < ids.size() || pongs.size() < pings.size()) {
        const auto f = c.read_frame(10s);
        ASSERT_TRUE(f) << "after " << got_ids.size() << " events and " << pongs.size()
                       << " pongs: " << (c.timed_out() ? "nothing for 10 s" : "connection ended");
        expect_well_formed(*f);
        if (f->op == opcode::pong) pongs.push_back(f->payload);
        if (f->op != opcode::text) continue;
        const auto m = json::parse(f->payload);  // throws on a frame cut or mixed with another
        if (m.value("type", "") != "event" || m["event"].value("type", "") != "TweetCreated")
            continue;
        EXPECT_GT(seq_of(m), last_seq);
        last_seq = seq_of(m);
        got_ids.push_back(m["event"]["payload"]["tweet"]["id"].get<std::string>());
    }
    EXPECT_EQ(got_ids, ids);
    EXPECT_EQ(pongs, pings);
}

TEST_F(WsFrames, PermessageDeflateIsDeclined) {
    raw_ws c(server().port());
    const auto a = c.handshake(raw_ws::upgrade_request(
        server().port(), "",
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"));
    EXPECT_EQ(a.status, 101u) << a.head;
    EXPECT_FALSE(a.header("Sec-WebSocket-Extensions")) << a.head;
    // The server's frames carry no RSV1 (uncompressed), its answer to an unknown message too.
    c.send_frame(opcode::text, R"({"type":"nonsense"})");
    const auto f = c.next_data(5s);
    ASSERT_TRUE(f);
    expect_well_formed(*f);
}

}  // namespace
}  // namespace chirp::test
