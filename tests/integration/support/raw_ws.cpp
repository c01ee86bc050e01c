// raw_ws: blocking POSIX socket I/O; reads wait in poll() until their deadline.
#include "support/raw_ws.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>
#include <stdexcept>

namespace chirp::test {

namespace {

std::mt19937& rng() {
    static thread_local std::mt19937 g{std::random_device{}()};
    return g;
}

std::string base64(std::string_view in) {
    static constexpr char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    std::size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
        const unsigned v = (static_cast<unsigned char>(in[i]) << 16) |
                           (static_cast<unsigned char>(in[i + 1]) << 8) |
                           static_cast<unsigned char>(in[i + 2]);
        for (int s = 18; s >= 0; s -= 6) out += alphabet[(v >> s) & 63];
    }
    if (i + 1 == in.size()) {
        const unsigned v = static_cast<unsigned char>(in[i]) << 16;
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
        out += "==";
    } else if (i + 2 == in.size()) {
        const unsigned v = (static_cast<unsigned char>(in[i]) << 16) |
                           (static_cast<unsigned char>(in[i + 1]) << 8);
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
        out += alphabet[(v >> 6) & 63];
        out += '=';
    }
    return out;
}

std::string random_bytes(std::size_t n) {
    std::string s(n, '\0');
    for (auto& c : s) c = static_cast<char>(rng()() & 0xFF);
    return s;
}

char lower(char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c;
}

}  // namespace

unsigned raw_frame::close_code() const {
    if (payload.size() < 2) return 0;
    return (static_cast<unsigned char>(payload[0]) << 8) | static_cast<unsigned char>(payload[1]);
}

std::string raw_frame::close_reason() const {
    return payload.size() > 2 ? payload.substr(2) : std::string();
}

std::string raw_close::describe() const {
    if (!close_frame) return "connection ended without a close frame";
    return "close frame " + std::to_string(code) + " \"" + reason + "\"";
}

std::optional<std::string> raw_http_answer::header(std::string_view name) const {
    std::size_t pos = head.find("\r\n");
    while (pos != std::string::npos && pos + 2 < head.size()) {
        const auto start = pos + 2;
        const auto end = head.find("\r\n", start);
        const auto line = head.substr(start, end == std::string::npos ? end : end - start);
        const auto colon = line.find(':');
        if (colon != std::string::npos && colon == name.size()) {
            bool same = true;
            for (std::size_t i = 0; i < colon; ++i)
                if (lower(line[i]) != lower(name[i])) same = false;
            if (same) {
                auto v = line.substr(colon + 1);
                while (!v.empty() && v.front() == ' ') v.erase(0, 1);
                while (!v.empty() && (v.back() == ' ' || v.back() == '\r')) v.pop_back();
                return v;
            }
        }
        pos = end;
    }
    return std::nullopt;
}

std::string close_payload(unsigned code, std::string_view reason) {
    std::string p;
    p += static_cast<char>((code >> 8) & 0xFF);
    p += static_cast<char>(code & 0xFF);
    p += reason;
    return p;
}

raw_ws::raw_ws(std::uint16_t port, int receive_buffer) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw std::runtime_error("socket: " + std::string(std::strerror(errno)));
    if (receive_buffer > 0)
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        const std::string err = std::strerror(errno);
        ::close(fd_);
        throw std::runtime_error("connect to port " + std::to_string(port) + ": " + err);
    }
    const int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

raw_ws::~raw_ws() {
    if (fd_ >= 0) ::close(fd_);
}

std::string raw_ws::upgrade_request(std::uint16_t port, const std::string& token,
                                    const std::string& extra_headers) {
    std::string r = "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                    "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Key: " +
                    base64(random_bytes(16)) + "\r\nSec-WebSocket-Version: 13\r\n";
    if (!token.empty()) r += "Authorization: Bearer " + token + "\r\n";
    return r + extra_headers + "\r\n";
}

void raw_ws::send_raw(std::string_view bytes) {
    while (!bytes.empty()) {
        const auto n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw std::runtime_error("send: " + std::string(std::strerror(errno)));
        }
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
}

bool raw_ws::fill(std::chrono::steady_clock::time_point deadline) {
    if (eof_) return false;
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            timed_out_ = true;
            return false;
        }
        pollfd p{fd_, POLLIN, 0};
        const int r = ::poll(&p, 1, static_cast<int>(left.count()));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) continue;  // the deadline check above ends the loop
        char buf[16 * 1024];
        const auto n = ::recv(fd_, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {  // orderly end, or a reset
            eof_ = true;
            return false;
        }
        in_.append(buf, static_cast<std::size_t>(n));
        return true;
    }
}

raw_http_answer raw_ws::handshake(const std::string& request) {
    send_raw(request);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    std::size_t end;
    while ((end = in_.find("\r\n\r\n")) == std::string::npos)
        if (!fill(deadline))
            throw std::runtime_error("no complete HTTP answer within 5 s; got: " + in_);
    raw_http_answer a;
    a.head = in_.substr(0, end);
    in_.erase(0, end + 4);
    // "HTTP/1.1 101 Switching Protocols"
    const auto sp = a.head.find(' ');
    if (sp != std::string::npos)
        a.status = static_cast<unsigned>(std::atoi(a.head.c_str() + sp + 1));
    return a;
}

void raw_ws::open(const std::string& token) {
    sockaddr_in addr{};
    socklen_t len = sizeof addr;
    ::getpeername(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    const auto a = handshake(upgrade_request(ntohs(addr.sin_port), token));
    if (a.status != 101) throw std::runtime_error("upgrade refused: " + a.head);
}

void raw_ws::send_frame(unsigned op, std::string_view payload, bool fin, unsigned rsv, bool mask) {
    std::string f;
    f += static_cast<char>((fin ? 0x80 : 0) | ((rsv & 7) << 4) | (op & 0x0F));
    const unsigned m = mask ? 0x80 : 0;
    const auto n = payload.size();
    if (n < 126) {
        f += static_cast<char>(m | n);
    } else if (n <= 0xFFFF) {
        f += static_cast<char>(m | 126);
        f += static_cast<char>((n >> 8) & 0xFF);
        f += static_cast<char>(n & 0xFF);
    } else {
        f += static_cast<char>(m | 127);
        for (int s = 56; s >= 0; s -= 8) f += static_cast<char>((n >> s) & 0xFF);
    }
    if (mask) {
        const auto key = random_bytes(4);
        f += key;
        for (std::size_t i = 0; i < n; ++i) f += static_cast<char>(payload[i] ^ key[i % 4]);
    } else {
        f += payload;
    }
    send_raw(f);
}

std::optional<raw_frame> raw_ws::read_frame(std::chrono::milliseconds timeout) {
    timed_out_ = false;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    const auto need = [&](std::size_t n) {
        while (in_.size() < n)
            if (!fill(deadline)) return false;
        return true;
    };
    if (!need(2)) return std::nullopt;
    const auto b0 = static_cast<unsigned char>(in_[0]);
    const auto b1 = static_cast<unsigned char>(in_[1]);
    raw_frame f;
    f.fin = (b0 & 0x80) != 0;
    f.rsv = (b0 >> 4) & 7;
    f.op = b0 & 0x0F;
    f.masked = (b1 & 0x80) != 0;
    std::size_t header = 2;
    std::uint64_t len = b1 & 0x7F;
    if (len == 126) {
        if (!need(4)) return std::nullopt;
        len = (static_cast<unsigned char>(in_[2]) << 8) | static_cast<unsigned char>(in_[3]);
        header = 4;
    } else if (len == 127) {
        if (!need(10)) return std::nullopt;
        len = 0;
        for (int i = 2; i < 10; ++i) len = (len << 8) | static_cast<unsigned char>(in_[i]);
        header = 10;
    }
    std::string key;
    if (f.masked) {
        if (!need(header + 4)) return std::nullopt;
        key = in_.substr(header, 4);
        header += 4;
    }
    if (len > (1u << 26)) throw std::runtime_error("absurd frame length from the server");
    if (!need(header + len)) return std::nullopt;
    f.payload = in_.substr(header, len);
    if (f.masked)
        for (std::size_t i = 0; i < f.payload.size(); ++i) f.payload[i] ^= key[i % 4];
    in_.erase(0, header + len);
    return f;
}

std::optional<raw_close> raw_ws::wait_close(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        auto f = read_frame(std::max(left, std::chrono::milliseconds(1)));
        if (!f) {
            if (timed_out_) return std::nullopt;
            return raw_close{};
        }
        if (f->op == opcode::close) {
            raw_close c;
            c.close_frame = true;
            c.code = f->close_code();
            c.reason = f->close_reason();
            return c;
        }
    }
}

std::optional<raw_frame> raw_ws::next_data(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        auto f = read_frame(std::max(left, std::chrono::milliseconds(1)));
        if (!f) return std::nullopt;
        if (f->op == opcode::text || f->op == opcode::binary || f->op == opcode::cont) return f;
        if (f->op == opcode::close) return std::nullopt;
    }
}

}  // namespace chirp::test
