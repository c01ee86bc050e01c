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
// - guarded_socket also carries the session's data frames, built once per event
//   (fanout::live_event::ws_head and the shared frame) and written straight to the socket,
//   not through Beast's writer: write_now() (as much as the socket takes at once, no waiting)
//   and async_write_frame() (the rest). Beast still writes its control frames (pongs, its
//   keep-alive pings, the close) through async_write_some; the guard serializes the two at
//   frame boundaries: a data frame that has started holds Beast's write back until it is
//   complete, and a data frame waits while Beast is inside a frame (out_frames, the frames
//   Beast wrote, found by their headers). After a close frame left, data frames fail.
#pragma once

#include <array>
#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/associator.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/assert.hpp>
#include <boost/beast/core/buffers_suffix.hpp>
#include <boost/beast/core/role.hpp>
#include <boost/beast/websocket/error.hpp>
#include <boost/beast/websocket/teardown.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>

namespace chirp::ws {

bool valid_websocket_key(std::string_view key);

// The byte-level part of guarded_socket (no I/O, unit-tested on its own). Every idle
// WebSocket holds one: 24 bytes, no buffer until a close frame is held.
class close_frame_guard {
public:
    // Bytes just read from the client, corrected in place. Returns how many of them go on
    // now; the rest (from the first byte of a close frame on) are held.
    std::size_t on_read(char* p, std::size_t n);
    // Held bytes that may go on now, and taking them (up to max) into out.
    std::size_t ready() const { return holding_ || !held_ ? 0 : held_->size(); }
    std::size_t take(char* out, std::size_t max);
    // The server sent its close: the client's answer goes to Beast as it is (Beast then
    // waits for a close frame only; a malformed one ends the connection at once).
    void stop() {
        if (!holding_) passthrough_ = true;
    }

private:
    void check_held();
    void correct_close(char* frame, std::size_t payload_len) const;

    // A frame's header is read byte by byte: its first byte, and its payload length as the
    // extended length bytes come (payload_left_, then the payload still to skip).
    std::uint64_t payload_left_ = 0;
    std::uint8_t b0_ = 0;
    std::uint8_t hdr_len_ = 0;     // header bytes seen of the frame in progress
    std::uint8_t hdr_need_ = 2;    // its header's length (known from its second byte on)
    std::uint8_t len_end_ = 2;     // where its extended payload length ends
    std::uint8_t message_op_ = 0;  // 1 or 2 inside a fragmented text/binary message, else 0
    bool passthrough_ = false;
    bool holding_ = false;
    std::unique_ptr<std::string> held_;  // a close frame and what follows it, while held
};

// The frames the server writes, followed byte by byte (no I/O, unit-tested on its own): where
// each ends, and whether a close frame has started.
class out_frames {
public:
    void on_write(const unsigned char* p, std::size_t n);
    bool at_boundary() const { return hdr_len_ == 0 && payload_left_ == 0; }
    bool closed() const { return closed_; }

private:
    std::uint64_t payload_left_ = 0;  // in a header: its extended length so far
    std::uint8_t op_ = 0;
    std::uint8_t hdr_len_ = 0;
    std::uint8_t hdr_need_ = 2;
    std::uint8_t len_end_ = 2;
    bool closed_ = false;
};

class guarded_socket {
public:
    // A data frame: its header and its payload.
    using frame_buffers = std::array<boost::asio::const_buffer, 2>;
    using frame_handler = boost::asio::any_completion_handler<void(boost::system::error_code)>;

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

    // The handshake is done: what is written from now on is WebSocket frames (and the socket
    // is non-blocking for write_now).
    void frames_begin() {
        framing_ = true;
        boost::system::error_code ignored;
        sock_.non_blocking(true, ignored);
    }

    // Writes as much of a data frame as the socket takes now, without waiting: 0 while Beast is
    // inside a frame (or the socket is full). A frame written in part must be finished with
    // async_write_frame(b, n, ...) before anything else. An error: the connection is closed or
    // broken (no more data frames).
    std::size_t write_now(const frame_buffers& b, boost::system::error_code& ec) {
        ec = {};
        if (out_.closed() || broken_) {
            ec = boost::beast::websocket::error::closed;
            return 0;
        }
        if (beast_busy()) return 0;
        const auto n = sock_.write_some(b, ec);
        if (ec == boost::asio::error::would_block || ec == boost::asio::error::try_again) {
            ec = {};
            return 0;
        }
        if (ec) {
            broken_ = true;
            return 0;
        }
        if (n < boost::asio::buffer_size(b)) raw_active_ = true;  // Beast waits for the rest
        return n;
    }

    // Writes the data frame from byte `offset` on (what write_now did not), after Beast's
    // frame in progress if there is one. Beast's writes meanwhile wait for its end.
    template <class Handler>
    auto async_write_frame(const frame_buffers& b, std::size_t offset, Handler&& h) {
        return boost::asio::async_compose<Handler, void(boost::system::error_code)>(
            raw_write_op{this, b, offset}, h, sock_);
    }

    // A write failed: the connection is broken (no closing handshake to attempt).
    bool failed() const { return broken_; }
    // A write of Beast's is waiting for a data frame to end (for tests).
    bool beast_waiting() const { return beast_parked(); }

    // Beast's writes (the handshake's answer, then its control frames).
    template <class ConstBufferSequence, class WriteHandler>
    auto async_write_some(const ConstBufferSequence& b, WriteHandler&& h) {
        return boost::asio::async_compose<WriteHandler,
                                          void(boost::system::error_code, std::size_t)>(
            beast_write_op<ConstBufferSequence>{this, b}, h, sock_);
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

    // Beast has a frame on its way (a write pending, waiting, or a frame not complete yet).
    bool beast_busy() const { return beast_pending_ || beast_parked() || !out_.at_boundary(); }
    bool beast_parked() const { return parked_beast_ && parked_; }
    bool raw_parked() const { return !parked_beast_ && parked_; }

    // Parks a write until the other side's frame ends: Beast's while a data frame is half
    // written, a data frame while Beast is inside a frame, never both at once (a data frame
    // waits only when none is half written), so one slot holds either. Never
    // `parked_ = handler(...)`: Boost 1.81's move assignment of any_completion_handler copies
    // its argument as a new handler wrapping the old one, which recurses without end (stack
    // overflow); swap instead.
    template <class Self>
    void park(bool beast, Self&& self) {
        BOOST_ASSERT(!parked_);
        frame_handler h(std::forward<Self>(self));
        parked_.swap(h);
        parked_beast_ = beast;
    }

    // A waiting write of that side goes now (ec: fails with it).
    void resume(bool beast, boost::system::error_code ec = {}) {
        if (!parked_ || parked_beast_ != beast) return;
        frame_handler h(std::move(parked_));  // the move constructor is sound
        std::move(h)(ec);
    }

    template <class Buffers>
    void track(const Buffers& b, std::size_t n) {
        for (auto it = boost::asio::buffer_sequence_begin(b);
             n > 0 && it != boost::asio::buffer_sequence_end(b); ++it) {
            const boost::asio::const_buffer c(*it);
            const auto k = std::min(n, c.size());
            out_.on_write(static_cast<const unsigned char*>(c.data()), k);
            n -= k;
        }
    }

    // One write of Beast's: waits while a data frame is half written; once Beast's frame is
    // complete, a data frame that waited goes (before Beast's handler runs: a next frame of
    // Beast's then waits for it).
    template <class Buffers>
    struct beast_write_op {
        guarded_socket* s;
        Buffers b;
        enum { start, parked, writing } state = start;

        template <class Self>
        void operator()(Self& self, boost::system::error_code ec = {}, std::size_t n = 0) {
            switch (state) {
                case start:
                    if (s->raw_active_) {
                        state = parked;
                        s->park(true, std::move(self));
                        return;
                    }
                    [[fallthrough]];
                case parked:
                    if (ec) {
                        self.complete(ec, 0);
                        return;
                    }
                    state = writing;
                    s->beast_pending_ = true;
                    s->sock_.async_write_some(b, std::move(self));
                    return;
                case writing:
                    s->beast_pending_ = false;
                    if (s->framing_) s->track(b, n);
                    if (ec && s->framing_) s->broken_ = true;
                    if (ec || s->out_.at_boundary()) s->resume(false, ec);
                    self.complete(ec, n);
                    return;
            }
        }
    };

    // One data frame (from `offset` on), whole.
    struct raw_write_op {
        guarded_socket* s;
        frame_buffers b;
        std::size_t offset;
        enum { start, parked, failed, writing } state = start;

        template <class Self>
        void operator()(Self& self, boost::system::error_code ec = {}, std::size_t = 0) {
            switch (state) {
                case start:
                    // One data frame at a time; one begun by write_now goes on from `offset`.
                    BOOST_ASSERT(!s->raw_parked() && (offset > 0 || !s->raw_active_));
                    if (offset == 0 && s->beast_busy() && !s->out_.closed() && !s->broken_) {
                        state = parked;
                        s->park(false, std::move(self));
                        return;
                    }
                    if (s->out_.closed() || s->broken_) {
                        state = failed;  // never completed inside the initiating call
                        boost::asio::post(s->sock_.get_executor(), std::move(self));
                        return;
                    }
                    [[fallthrough]];
                case parked:
                    if (ec || s->out_.closed() || s->broken_) {
                        self.complete(ec ? ec : boost::beast::websocket::error::closed);
                        return;
                    }
                    state = writing;
                    s->raw_active_ = true;
                    {
                        boost::beast::buffers_suffix<frame_buffers> rest(b);
                        rest.consume(offset);
                        boost::asio::async_write(s->sock_, rest, std::move(self));
                    }
                    return;
                case failed:
                    self.complete(boost::beast::websocket::error::closed);
                    return;
                case writing:
                    s->raw_active_ = false;
                    if (ec) s->broken_ = true;
                    s->resume(true, ec);  // Beast's control frame goes next
                    self.complete(ec);
                    return;
            }
        }
    };

    // Every idle WebSocket holds this: the socket and 80 bytes.
    socket_type sock_;
    close_frame_guard guard_;
    out_frames out_;
    // Beast's write waiting for the data frame to end, or a data frame waiting for Beast's
    // frame to end (parked_beast_ says which).
    frame_handler parked_;
    bool parked_beast_ = false;
    bool framing_ = false;        // the handshake is done
    bool broken_ = false;         // a write failed (inside a frame, perhaps): no more frames
    bool raw_active_ = false;     // a data frame is half written
    bool beast_pending_ = false;  // a write of Beast's is on the socket
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
