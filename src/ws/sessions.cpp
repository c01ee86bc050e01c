// Creates the WebSocket and SSE sessions (session.cpp) for the HTTP server's hooks and keeps
// weak references to them, so that shutdown can close them all with 1001.
#include "chirp/ws/sessions.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <vector>

#include "chirp/config/config.hpp"
#include "chirp/metrics/metrics.hpp"
#include "session.hpp"

namespace asio = boost::asio;

namespace chirp::ws {
namespace {

class sessions_impl final : public sessions {
public:
    sessions_impl(asio::io_context& ioc, const config& cfg, metrics::registry& m,
                  store::event_store& st, auth::jwt_codec& jwt, hub& h, drafts::registry* dr,
                  std::shared_ptr<util::limits_region> limits)
        : ioc_(ioc), metrics_(m), deps_{ioc, cfg, m, st, jwt, h, &all_, &stopping_} {
        deps_.drafts = dr;
        deps_.limits = std::move(limits);
        deps_.worker = cfg.worker_index > 0 ? static_cast<std::uint32_t>(cfg.worker_index) : 0;
    }

    http::server_hooks hooks() override {
        http::server_hooks h;
        h.websocket = [this](boost::beast::tcp_stream s, http::beast_request req, std::string ip) {
            prune();
            run_websocket(deps_, std::move(s), std::move(req), std::move(ip));
        };
        h.sse = [this](boost::beast::tcp_stream& s, const http::beast_request& breq,
                       http::request& req) {
            prune();
            return run_sse(deps_, s, breq, req);
        };
        return h;
    }

    asio::awaitable<void> shutdown() override {
        stopping_ = true;
        for (auto& w : all_)
            if (auto s = w.lock()) s->go_away();
        asio::steady_timer t(ioc_);
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(1500);
        // Closed sessions may still have a replay or a typing check waiting on the store:
        // those end too (their result is dropped), else they would hold their session past
        // the loop's end.
        while ((metrics_.connections.load() > 0 || *deps_.tasks_in_flight > 0) &&
               std::chrono::steady_clock::now() < deadline) {
            t.expires_after(std::chrono::milliseconds(20));
            co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
        }
        if (*deps_.tasks_in_flight > 0)
            spdlog::warn("shutdown: {} session tasks still wait on the store",
                         *deps_.tasks_in_flight);
    }

private:
    // Sessions register in all_ and leave expired entries behind: pruned when it doubled since
    // the last prune, so 10,000 connections cost O(n), not O(n^2).
    void prune() {
        if (all_.size() < 2 * pruned_size_ + 64) return;
        std::erase_if(all_, [](const std::weak_ptr<session_base>& w) { return w.expired(); });
        pruned_size_ = all_.size();
    }

    asio::io_context& ioc_;
    metrics::registry& metrics_;
    std::vector<std::weak_ptr<session_base>> all_;
    std::size_t pruned_size_ = 0;
    bool stopping_ = false;
    session_deps deps_;
};

}  // namespace

std::unique_ptr<sessions> create_sessions(asio::io_context& ioc, const config& cfg,
                                          metrics::registry& metrics, store::event_store& store,
                                          auth::jwt_codec& jwt, fanout::hub& hub,
                                          drafts::registry* drafts,
                                          std::shared_ptr<util::limits_region> limits) {
    return std::make_unique<sessions_impl>(ioc, cfg, metrics, store, jwt, hub, drafts,
                                           std::move(limits));
}

}  // namespace chirp::ws
