// The fault tests' TCP proxy: see tcp_proxy.hpp.
#include "support/tcp_proxy.hpp"

#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <chrono>
#include <future>
#include <thread>
#include <vector>

namespace chirp::test {

namespace asio = boost::asio;
using asio::ip::tcp;
using socket_ptr = std::shared_ptr<tcp::socket>;
constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);

struct tcp_proxy::impl {
    asio::io_context ioc;
    tcp::acceptor acceptor{ioc};
    std::uint16_t target = 0, port = 0;
    std::atomic<bool> cut{false}, paused{false};
    std::vector<std::weak_ptr<tcp::socket>> sockets;  // on the proxy's thread only
    std::thread thread;

    asio::awaitable<void> hold() {
        asio::steady_timer t(ioc);
        while (paused) {
            t.expires_after(std::chrono::milliseconds(10));
            co_await t.async_wait(tuple_awaitable);
        }
    }

    asio::awaitable<void> pump(socket_ptr from, socket_ptr to) {
        std::array<char, 16384> buf;
        for (;;) {
            co_await hold();
            auto [ec, n] = co_await from->async_read_some(asio::buffer(buf), tuple_awaitable);
            if (ec) break;
            co_await hold();
            auto [wec, m] =
                co_await asio::async_write(*to, asio::buffer(buf.data(), n), tuple_awaitable);
            if (wec) break;
        }
        boost::system::error_code ig;
        from->close(ig);
        to->close(ig);
    }

    asio::awaitable<void> connect(socket_ptr client) {
        auto upstream = std::make_shared<tcp::socket>(ioc);
        auto [ec] = co_await upstream->async_connect(
            tcp::endpoint(asio::ip::address_v4::loopback(), target), tuple_awaitable);
        if (ec || cut) {
            boost::system::error_code ig;
            client->close(ig);
            co_return;
        }
        sockets.push_back(client);
        sockets.push_back(upstream);
        asio::co_spawn(ioc, pump(client, upstream), asio::detached);
        asio::co_spawn(ioc, pump(upstream, client), asio::detached);
    }

    asio::awaitable<void> accept_loop() {
        for (;;) {
            auto [ec, s] = co_await acceptor.async_accept(tuple_awaitable);
            if (ec) co_return;
            if (cut) continue;  // closed as it goes out of scope
            asio::co_spawn(ioc, connect(std::make_shared<tcp::socket>(std::move(s))),
                           asio::detached);
        }
    }

    // Runs f on the proxy's thread and waits for it.
    template <class F>
    void run(F f) {
        std::promise<void> done;
        asio::post(ioc, [&] {
            f();
            done.set_value();
        });
        done.get_future().wait();
    }
};

tcp_proxy::tcp_proxy(std::uint16_t target_port) : impl_(std::make_unique<impl>()) {
    impl_->target = target_port;
    tcp::endpoint ep(asio::ip::address_v4::loopback(), 0);
    impl_->acceptor.open(ep.protocol());
    impl_->acceptor.set_option(tcp::acceptor::reuse_address(true));
    impl_->acceptor.bind(ep);
    impl_->acceptor.listen();
    impl_->port = impl_->acceptor.local_endpoint().port();
    asio::co_spawn(impl_->ioc, impl_->accept_loop(), asio::detached);
    impl_->thread = std::thread([p = impl_.get()] { p->ioc.run(); });
}

tcp_proxy::~tcp_proxy() {
    impl_->ioc.stop();
    impl_->thread.join();
}

std::uint16_t tcp_proxy::port() const {
    return impl_->port;
}

void tcp_proxy::cut() {
    impl_->run([p = impl_.get()] {
        p->cut = true;
        for (auto& w : p->sockets)
            if (auto s = w.lock()) {
                boost::system::error_code ig;
                s->close(ig);
            }
        p->sockets.clear();
    });
}

void tcp_proxy::pause() {
    impl_->paused = true;
}

void tcp_proxy::restore() {
    impl_->cut = false;
    impl_->paused = false;
}

}  // namespace chirp::test
