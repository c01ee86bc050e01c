// The SSE client of the integration tests: see sse_client.hpp.
#include "support/sse_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <sstream>
#include <stdexcept>

namespace chirp::test {

sse_client::sse_client(std::uint16_t port, const std::string& target, const std::string& token,
                       const header_list& headers) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw std::runtime_error("socket: " + std::string(std::strerror(errno)));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
        throw std::runtime_error("SSE connect: " + std::string(std::strerror(errno)));
    std::string req = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                      "\r\nAccept: text/event-stream\r\n";
    if (!token.empty()) req += "Authorization: Bearer " + token + "\r\n";
    for (const auto& [k, v] : headers) req += k + ": " + v + "\r\n";
    req += "\r\n";
    for (std::size_t off = 0; off < req.size();) {
        const auto n = ::send(fd_, req.data() + off, req.size() - off, MSG_NOSIGNAL);
        if (n <= 0) throw std::runtime_error("SSE send: " + std::string(std::strerror(errno)));
        off += static_cast<std::size_t>(n);
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    std::size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos)
        if (!fill(deadline)) throw std::runtime_error("SSE: no response header; got: " + buf_);
    std::istringstream head(buf_.substr(0, end));
    std::string line;
    std::getline(head, line);
    if (line.size() < 12) throw std::runtime_error("SSE: bad status line: " + line);
    status_ = static_cast<unsigned>(std::atoi(line.c_str() + 9));
    while (std::getline(head, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        const auto colon = line.find(':');
        if (colon == std::string::npos) continue;
        auto v = line.substr(colon + 1);
        while (!v.empty() && v.front() == ' ') v.erase(0, 1);
        headers_.emplace_back(line.substr(0, colon), v);
    }
    buf_.erase(0, end + 4);
    if (status_ != 200) {
        while (fill(deadline)) {
        }
        error_body_ = buf_;
    }
}

sse_client::~sse_client() {
    if (fd_ >= 0) ::close(fd_);
}

std::string sse_client::header(const std::string& name) const {
    for (const auto& [k, v] : headers_)
        if (::strcasecmp(k.c_str(), name.c_str()) == 0) return v;
    return {};
}

bool sse_client::fill(std::chrono::steady_clock::time_point deadline) {
    if (eof_) return false;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    const int r = ::poll(&p, 1, static_cast<int>(left.count()));
    if (r <= 0) return false;
    char tmp[16384];
    const auto n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n <= 0) {
        eof_ = true;
        return false;
    }
    buf_.append(tmp, static_cast<std::size_t>(n));
    return true;
}

std::optional<sse_event> sse_client::next(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        const auto end = buf_.find("\n\n");
        if (end == std::string::npos) {
            if (!fill(deadline)) return std::nullopt;
            continue;
        }
        const auto block = buf_.substr(0, end);
        buf_.erase(0, end + 2);
        sse_event ev;
        bool any = false;
        std::istringstream in(block);
        std::string line;
        while (std::getline(in, line)) {
            if (line.empty() || line[0] == ':') continue;
            const auto colon = line.find(':');
            const auto field = line.substr(0, colon);
            std::string value = colon == std::string::npos ? "" : line.substr(colon + 1);
            if (!value.empty() && value[0] == ' ') value.erase(0, 1);
            if (field == "id")
                ev.id = value;
            else if (field == "event")
                ev.event = value;
            else if (field == "data")
                ev.data += ev.data.empty() ? value : "\n" + value;
            else
                continue;
            any = true;
        }
        if (any) return ev;
    }
}

std::vector<sse_event> sse_client::until_id(const std::string& id,
                                            std::chrono::milliseconds timeout) {
    std::vector<sse_event> out;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        auto ev = next(left.count() > 0 ? left : std::chrono::milliseconds(0));
        if (!ev) {
            std::string got;
            for (const auto& e : out) got += " " + e.id;
            throw std::runtime_error("SSE: no event with id " + id + " in time; got ids:" + got +
                                     (eof_ ? " (stream ended)" : ""));
        }
        out.push_back(std::move(*ev));
        if (out.back().id == id) return out;
    }
}

std::vector<sse_event> sse_client::drain(std::chrono::milliseconds quiet) {
    std::vector<sse_event> out;
    while (auto ev = next(quiet)) out.push_back(std::move(*ev));
    return out;
}

bool sse_client::wait_eof(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (fill(deadline)) buf_.clear();
    return eof_;
}

}  // namespace chirp::test
