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

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/associator.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/role.hpp>
#include <boost/beast/websocket/teardown.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

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

    // Held bytes that are ready go first (after a post: never completed inside the
    // initiating call); else a read from the socket, filtered, repeated while everything
    // read was held. The handler that waits on the socket is Beast's own wrapped in
    // read_handler (24 bytes more; its executor, allocator and cancellation slot are the
    // wrapped handler's): a composed operation would add two executor work guards and its
    // state to the pending read of every idle connection.
    template <class MutableBufferSequence, class ReadHandler>
    auto async_read_some(const MutableBufferSequence& b, ReadHandler&& h) {
        return boost::asio::async_initiate<ReadHandler,
                                           void(boost::system::error_code, std::size_t)>(
            [this](auto handler, boost::asio::mutable_buffer buf) {
                using handler_type = std::decay_t<decltype(handler)>;
                if (guard_.ready() > 0 || buf.size() == 0) {
                    auto ex = boost::asio::get_associated_executor(handler, sock_.get_executor());
                    boost::asio::post(ex, [this, buf, handler = std::move(handler)]() mutable {
                        const std::size_t n = take(buf);
                        std::move(handler)(boost::system::error_code{}, n);
                    });
                    return;
                }
                sock_.async_read_some(buf,
                                      read_handler<handler_type>{this, buf, std::move(handler)});
            },
            h, first_buffer(b));
    }

    template <class Handler>
    struct read_handler {
        guarded_socket* self_;
        boost::asio::mutable_buffer buf;
        Handler inner;

        void operator()(boost::system::error_code ec, std::size_t n) {
            if (ec) return std::move(inner)(ec, std::size_t{0});
            n = self_->guard_.on_read(static_cast<char*>(buf.data()), n);
            if (n == 0 && self_->guard_.ready() > 0) n = self_->take(buf);
            if (n > 0) return std::move(inner)(ec, n);
            auto& sock = self_->sock_;
            const auto b = buf;
            sock.async_read_some(b, std::move(*this));
        }
    };

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

// guarded_socket's read handler runs where, and allocates as, the handler it wraps.
template <template <typename, typename> class Associator, class Handler, class Default>
struct boost::asio::associator<Associator, chirp::ws::guarded_socket::read_handler<Handler>,
                               Default> {
    using type = typename Associator<Handler, Default>::type;
    static type get(const chirp::ws::guarded_socket::read_handler<Handler>& h) noexcept {
        return Associator<Handler, Default>::get(h.inner);
    }
    static auto get(const chirp::ws::guarded_socket::read_handler<Handler>& h,
                    const Default& d) noexcept
        -> decltype(Associator<Handler, Default>::get(h.inner, d)) {
        return Associator<Handler, Default>::get(h.inner, d);
    }
};
