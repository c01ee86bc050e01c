// Runs a blocking function on a thread pool and resumes the calling coroutine on its own
// executor with the result: the event loop never waits on CPU-heavy work.
// Call it with a named function object (auto job = [...]{...}; co_await offload(pool, job)).
#pragma once

#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <memory>
#include <type_traits>

namespace chirp::util {

template <class F, class R = std::invoke_result_t<F>>
boost::asio::awaitable<R> offload(boost::asio::thread_pool& pool, F fn) {
    // Not a coroutine itself: GCC 12 mishandles lambda parameters copied into coroutine frames.
    namespace asio = boost::asio;
    return asio::async_initiate<const asio::use_awaitable_t<>, void(R)>(
        [&pool, fn = std::move(fn)](auto handler) mutable {
            auto h = std::make_shared<decltype(handler)>(std::move(handler));
            asio::post(pool, [h, fn = std::move(fn)]() mutable {
                R result = fn();
                auto ex = asio::get_associated_executor(*h);
                asio::post(ex,
                           [h, result = std::move(result)]() mutable { (*h)(std::move(result)); });
            });
        },
        asio::use_awaitable);
}

}  // namespace chirp::util
