// `chirpd bench-append`: measures the append path (submit -> group commit -> result) against
// the configured PostgreSQL, in process, through the same event writer the server uses.
// Phase 1: N TweetCreated commands queued as fast as possible (sustained events/s).
// Phase 2: an open-loop rate of R commands/s for S seconds (latency p50/p99 at that rate).
// Prints one JSON object. Setup (one author) is excluded from the measurement.
#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <iostream>
#include <nlohmann/json.hpp>

#include "chirp/app/app.hpp"
#include "chirp/metrics/metrics.hpp"
#include "chirp/store/migrations.hpp"
#include "chirp/store/store.hpp"

namespace asio = boost::asio;
using json = nlohmann::json;

namespace chirp::app {
namespace {

json tweet_command(const std::string& actor, long i) {
    json args = {{"content", "benchmark tweet number " + std::to_string(i) + " #bench"},
                 {"mentions", json::array()},
                 {"hashtags", json::array({"bench"})}};
    return {{"type", "tweet"}, {"actor", actor}, {"args", std::move(args)}};
}

asio::awaitable<void> one(store::event_store& st, json cmd, metrics::histogram& h, long& failed,
                          long& done) {
    const auto t0 = std::chrono::steady_clock::now();
    auto r = co_await st.submit(std::move(cmd));
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now() - t0);
    h.record(static_cast<std::uint64_t>(us.count()));
    if (r.status != 201) ++failed;
    ++done;
}

}  // namespace

int bench_append(const config& cfg, long events, int rate, int seconds) {
    store::apply_migrations(cfg.database_url);
    asio::io_context ioc(1);
    metrics::registry metrics;
    auto st = store::create_event_store(ioc, cfg, metrics);
    json out;
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> {
            const std::string handle =
                "bench" +
                std::to_string(std::chrono::steady_clock::now().time_since_epoch().count() %
                               1000000000);
            json args = {{"handle", handle}, {"displayName", "bench"}, {"passwordHash", "x"}};
            json reg = {{"type", "register"}, {"actor", nullptr}, {"args", std::move(args)}};
            auto r = co_await st->submit(std::move(reg));
            const auto actor = json::parse(r.body).value("id", std::string());
            if (actor.empty()) {
                out["error"] = "setup failed: " + r.body;
                ioc.stop();
                co_return;
            }
            // Phase 1: saturation.
            metrics::histogram sat;
            long failed = 0, done = 0;
            const auto t0 = std::chrono::steady_clock::now();
            for (long i = 0; i < events; ++i) {
                auto cmd = tweet_command(actor, i);
                asio::co_spawn(ioc, one(*st, std::move(cmd), sat, failed, done), asio::detached);
            }
            asio::steady_timer t(ioc);
            while (done < events) {
                t.expires_after(std::chrono::milliseconds(2));
                co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
            }
            const double secs =
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            out["saturation"] = {
                {"events", events},
                {"seconds", secs},
                {"eventsPerSecond", static_cast<double>(events) / secs},
                {"failed", failed},
                {"batches", metrics.append_batches.load()},
                {"latencyMs",
                 {{"p50", sat.quantile(0.5) / 1000.0}, {"p99", sat.quantile(0.99) / 1000.0}}}};
            // Phase 2: fixed rate, open loop.
            metrics::histogram fixed;
            long failed2 = 0, done2 = 0;
            const long total = static_cast<long>(rate) * seconds;
            const auto start = std::chrono::steady_clock::now();
            const auto interval = std::chrono::nanoseconds(1000000000LL / rate);
            for (long i = 0; i < total; ++i) {
                t.expires_at(start + i * interval);
                co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
                auto cmd = tweet_command(actor, events + i);
                asio::co_spawn(ioc, one(*st, std::move(cmd), fixed, failed2, done2),
                               asio::detached);
            }
            while (done2 < total) {
                t.expires_after(std::chrono::milliseconds(2));
                co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
            }
            out["fixedRate"] = {{"rate", rate},
                                {"events", total},
                                {"failed", failed2},
                                {"latencyMs",
                                 {{"p50", fixed.quantile(0.5) / 1000.0},
                                  {"p90", fixed.quantile(0.9) / 1000.0},
                                  {"p99", fixed.quantile(0.99) / 1000.0},
                                  {"max", fixed.max() / 1000.0}}}};
            ioc.stop();
        },
        asio::detached);
    ioc.run();
    st->stop();
    std::cout << out.dump(2) << std::endl;
    return out.contains("error") ? 1 : 0;
}

}  // namespace chirp::app
