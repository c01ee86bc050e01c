// A raw WebSocket client for the RFC 6455 conformance tests: plain POSIX TCP, frames written
// byte by byte exactly as the test says (reserved bits, reserved opcodes, unmasked frames,
// oversized control frames, bad close codes), frames read back as they arrive. Beast's client
// (ws_client) refuses to send most of these, which is why this one exists. Every read has a
// deadline, so a server that does not answer fails the test instead of hanging it.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace chirp::test {

namespace opcode {
constexpr unsigned cont = 0x0, text = 0x1, binary = 0x2, close = 0x8, ping = 0x9, pong = 0xA;
}

struct raw_frame {
    bool fin = true;
    unsigned rsv = 0;  // the three reserved bits, RSV1 = 4, RSV2 = 2, RSV3 = 1
    unsigned op = 0;
    bool masked = false;
    std::string payload;

    // The close code of a close frame (0 when its payload is empty) and its reason.
    unsigned close_code() const;
    std::string close_reason() const;
};

// How a connection ended, seen from the client.
struct raw_close {
    bool close_frame = false;  // the server sent a close frame (else the TCP connection ended)
    unsigned code = 0;         // its code; 0 for an empty close payload
    std::string reason;
    std::string describe() const;
};

// The status line and raw headers of an HTTP answer to an upgrade request.
struct raw_http_answer {
    unsigned status = 0;
    std::string head;  // everything up to the blank line
    // The value of a header (case-insensitive name), or nullopt.
    std::optional<std::string> header(std::string_view name) const;
};

// A payload for a close frame: the code in network order, then the reason bytes.
std::string close_payload(unsigned code, std::string_view reason = "");

class raw_ws {
public:
    // Connects to 127.0.0.1:port; throws when it cannot. receive_buffer > 0: the socket's
    // SO_RCVBUF, set before connecting (a small one makes the server's writes block early).
    explicit raw_ws(std::uint16_t port, int receive_buffer = 0);
    ~raw_ws();
    raw_ws(const raw_ws&) = delete;
    raw_ws& operator=(const raw_ws&) = delete;

    // A valid upgrade request for /ws (a fresh random key, version 13), with extra header
    // lines ("Name: value\r\n" each) and, when given, a bearer token.
    static std::string upgrade_request(std::uint16_t port, const std::string& token = "",
                                       const std::string& extra_headers = "");

    // Sends the request and reads the answer's head. The connection stays open.
    raw_http_answer handshake(const std::string& request);
    // A valid handshake (with a bearer token when given); throws unless it answers 101.
    void open(const std::string& token = "");

    // One frame, masked with a random key unless mask is false.
    void send_frame(unsigned op, std::string_view payload, bool fin = true, unsigned rsv = 0,
                    bool mask = true);
    void send_raw(std::string_view bytes);

    // The next frame within the deadline; nullopt when the connection ended or the deadline
    // passed (timed_out() tells which).
    std::optional<raw_frame> read_frame(std::chrono::milliseconds timeout);
    bool timed_out() const { return timed_out_; }

    // Reads (and drops) frames until the server's close frame or the end of the connection,
    // within the deadline; nullopt when neither came. Does not answer the close.
    std::optional<raw_close> wait_close(
        std::chrono::milliseconds timeout = std::chrono::seconds(5));

    // The next data frame (text or binary) within the deadline, skipping control frames.
    std::optional<raw_frame> next_data(std::chrono::milliseconds timeout);

private:
    bool fill(std::chrono::steady_clock::time_point deadline);  // more bytes into in_
    int fd_ = -1;
    std::string in_;
    bool eof_ = false;
    bool timed_out_ = false;
};

}  // namespace chirp::test
