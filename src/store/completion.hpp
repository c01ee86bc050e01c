// How a store thread hands a result back to the event loop: a move-only completion handler
// wrapped so that std::function can hold it, posted to the handler's executor.
#pragma once

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/post.hpp>
#include <functional>
#include <memory>
#include <type_traits>

#include "chirp/store/store.hpp"

namespace chirp::store {

template <class T>
using completion = std::function<void(T)>;

// With a hook (the fan-out), the hook sees a committed write on the loop before the awaiting
// coroutine resumes, and decides when it resumes.
template <class T, class Handler>
completion<T> make_completion(Handler&& h, const event_store::commit_hook* hook = nullptr) {
    auto p = std::make_shared<std::decay_t<Handler>>(std::forward<Handler>(h));
    return [p, hook](T v) {
        auto ex = boost::asio::get_associated_executor(*p);
        boost::asio::post(ex, [p, hook, v = std::move(v)]() mutable {
            if constexpr (std::is_same_v<T, write_result>) {
                if (hook != nullptr && *hook && !v.deliveries.empty()) {
                    auto r = std::make_shared<write_result>(std::move(v));
                    (*hook)(*r, [p, r] { (*p)(std::move(*r)); });
                    return;
                }
            }
            (*p)(std::move(v));
        });
    };
}

// A write answered without reaching the database (queue full, connection lost, bad batch).
inline write_result failed_write(errc code, std::string_view message) {
    write_result r;
    r.status = http_status(code);
    r.body = error_body(code, message);
    return r;
}

}  // namespace chirp::store
