// Common Asio/Beast aliases for chirp-bench (also its precompiled header).
#pragma once

#include <spdlog/spdlog.h>

#include <boost/asio.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace chirp::bench {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace websocket = boost::beast::websocket;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using json = nlohmann::json;
using clock_type = std::chrono::steady_clock;
using time_point = clock_type::time_point;

inline constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

inline std::uint64_t micros_between(time_point from, time_point to) {
    const auto d = std::chrono::duration_cast<std::chrono::microseconds>(to - from).count();
    return d > 0 ? static_cast<std::uint64_t>(d) : 0;
}

inline double seconds_between(time_point from, time_point to) {
    return std::chrono::duration<double>(to - from).count();
}

// A wake-up signal for one waiting coroutine: wait() suspends until notify() (or returns at
// once if notified since the last wait). Single-threaded; the timer never fires on its own.
class signal {
public:
    explicit signal(asio::any_io_executor ex) : timer_(ex, time_point::max()) {}
    asio::awaitable<void> wait() {
        if (!pending_) {
            timer_.expires_at(time_point::max());
            co_await timer_.async_wait(use_tuple);
        }
        pending_ = false;
    }
    void notify() {
        pending_ = true;
        timer_.cancel();
    }

private:
    asio::steady_timer timer_;
    bool pending_ = false;
};

// Sleep helper.
inline asio::awaitable<void> sleep_for(std::chrono::steady_clock::duration d) {
    asio::steady_timer t(co_await asio::this_coro::executor, d);
    co_await t.async_wait(use_tuple);
}

}  // namespace chirp::bench
