// RFC 6455 checks that Beast does not make, kept next to the WebSocket stream:
//
// - valid_websocket_key: Sec-WebSocket-Key must be the base64 of 16 bytes (RFC 6455 4.2.1);
//   Beast accepts any value of up to 24 characters.
// - guarded_socket: the TCP socket beneath the server's websocket::stream. It watches the
//   client's frames as they are read and holds a close frame back until it is complete, so
//   that it can be corrected before Beast sees it. Beast echoes close codes of 5000 and above
//   (the RFC leaves them undefined: the connection must fail with 1002) and fails a close
//   reason that is not UTF-8 with 1002 (an inconsistent-data error is 1007). The guard turns
//   the first into code 0 (which Beast fails with 1002) and the second into a text frame
//   with the same invalid bytes (which Beast fails with 1007). Everything else passes
//   through untouched; after any framing error (Beast fails the connection itself) or after
//   the close frame the guard stops looking. An idle session holds no buffer.
#pragma once

#include <boost/asio/async_result.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/role.hpp>
#include <boost/beast/websocket/teardown.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace chirp::ws {

bool valid_websocket_key(std::string_view key);

// The byte-level part of guarded_socket (no I/O, unit-tested on its own).
class close_frame_guard {
public:
    // Bytes just read from the client, corrected in place. Returns how many of them go on
    // now; the rest (from the first byte of a close frame on) are held.
    std::size_t on_read(char* p, std::size_t n);
    // Held bytes that may go on now, and taking them (up to max) into out.
    std::size_t ready() const { return ready_; }
    std::size_t take(char* out, std::size_t max);
    // The server sent its close: the client's answer goes to Beast as it is (Beast then
    // waits for a close frame only; a malformed one ends the connection at once).
    void stop() {
        if (!holding_) passthrough_ = true;
    }

private:
    void check_held();
    void correct_close(char* frame, std::size_t payload_len) const;

    unsigned char hdr_[14] = {};
    std::size_t hdr_len_ = 0;
    std::size_t hdr_need_ = 2;
    std::uint64_t payload_left_ = 0;
    unsigned message_op_ = 0;  // 1 or 2 inside a fragmented text/binary message, else 0
    bool passthrough_ = false;
    bool holding_ = false;
    std::string held_;
    std::size_t ready_ = 0;
};

class guarded_socket {
public:
    using socket_type = boost::asio::ip::tcp::socket;
    using executor_type = socket_type::executor_type;
    using next_layer_type = socket_type;

    explicit guarded_socket(socket_type s) : sock_(std::move(s)) {}

    executor_type get_executor() noexcept { return sock_.get_executor(); }
    socket_type& next_layer() noexcept { return sock_; }
    const socket_type& next_layer() const noexcept { return sock_; }
    // What ws_session uses of the socket.
    socket_type::native_handle_type native_handle() { return sock_.native_handle(); }
    // Before the server starts the closing handshake (close_frame_guard::stop).
    void server_closing() { guard_.stop(); }
    bool is_open() const { return sock_.is_open(); }
    void shutdown(socket_type::shutdown_type what, boost::system::error_code& ec) {
        sock_.shutdown(what, ec);
    }

    template <class ConstBufferSequence, class WriteHandler>
    auto async_write_some(const ConstBufferSequence& b, WriteHandler&& h) {
        return sock_.async_write_some(b, std::forward<WriteHandler>(h));
    }

    template <class MutableBufferSequence, class ReadHandler>
    auto async_read_some(const MutableBufferSequence& b, ReadHandler&& h) {
        return boost::asio::async_compose<ReadHandler,
                                          void(boost::system::error_code, std::size_t)>(
            read_op{this, first_buffer(b)}, h, sock_);
    }

private:
    template <class MutableBufferSequence>
    static boost::asio::mutable_buffer first_buffer(const MutableBufferSequence& b) {
        for (auto it = boost::asio::buffer_sequence_begin(b);
             it != boost::asio::buffer_sequence_end(b); ++it)
            if (boost::asio::mutable_buffer(*it).size() != 0) return *it;
        return {};
    }

    std::size_t take(boost::asio::mutable_buffer b) {
        return guard_.take(static_cast<char*>(b.data()), b.size());
    }

    // Held bytes that are ready go first (after a post: never completed inside the
    // initiating call); else a read from the socket, filtered, repeated while everything
    // read was held.
    struct read_op {
        guarded_socket* self_;
        boost::asio::mutable_buffer buf;
        enum { start, posted, reading } state = start;

        template <class Self>
        void operator()(Self& self, boost::system::error_code ec = {}, std::size_t n = 0) {
            switch (state) {
                case start:
                    if (self_->guard_.ready() > 0 || buf.size() == 0) {
                        state = posted;
                        boost::asio::post(self_->sock_.get_executor(), std::move(self));
                        return;
                    }
                    state = reading;
                    self_->sock_.async_read_some(buf, std::move(self));
                    return;
                case posted:
                    self.complete({}, self_->take(buf));
                    return;
                case reading:
                    if (ec) {
                        self.complete(ec, 0);
                        return;
                    }
                    n = self_->guard_.on_read(static_cast<char*>(buf.data()), n);
                    if (n == 0 && self_->guard_.ready() > 0) n = self_->take(buf);
                    if (n > 0) {
                        self.complete({}, n);
                        return;
                    }
                    self_->sock_.async_read_some(buf, std::move(self));
                    return;
            }
        }
    };

    socket_type sock_;
    close_frame_guard guard_;
};

// Beast's closing handshake ends the TCP connection through these (found by ADL).
void teardown(boost::beast::role_type role, guarded_socket& s, boost::system::error_code& ec);

template <class TeardownHandler>
void async_teardown(boost::beast::role_type role, guarded_socket& s, TeardownHandler&& h) {
    boost::beast::websocket::async_teardown(role, s.next_layer(), std::forward<TeardownHandler>(h));
}

}  // namespace chirp::ws
