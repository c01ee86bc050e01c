// `chirpd bench-append`: measures the append path (submit -> group commit -> result) against
// the configured PostgreSQL, in process, through the same event writer the server uses.
// --bench-type tweet (default): plain TweetCreated commands of one author.
// --bench-type like: TweetLiked commands (each appends the event, the like, the counter and a
// notification to the author) of fresh (liker, tweet) pairs over 100 tweets of one author,
// the shape of issue 5's notification scenario.
// Phase 1: N commands queued as fast as possible (sustained events/s).
// Phase 2: an open-loop rate of R commands/s for S seconds (latency p50/p99 at that rate).
// Prints one JSON object. Setup (the author, the likers, the tweets) is excluded from the
// measurement.
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

json like_command(const std::string& actor, const std::string& tweet) {
    json args = {{"tweetId", tweet}};
    return {{"type", "like"}, {"actor", actor}, {"args", std::move(args)}};
}

asio::awaitable<void> one(store::event_store& st, json cmd, unsigned ok_status,
                          metrics::histogram& h, long& failed, long& done) {
    const auto t0 = std::chrono::steady_clock::now();
    auto r = co_await st.submit(std::move(cmd));
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now() - t0);
    h.record(static_cast<std::uint64_t>(us.count()));
    if (r.status != ok_status || r.seq == 0) ++failed;
    ++done;
}

// Submits a setup command and stores the "id" of the answer in `id` ("" on failure).
asio::awaitable<void> setup_one(store::event_store& st, json cmd, std::string& id, long& done) {
    auto r = co_await st.submit(std::move(cmd));
    try {
        id = json::parse(r.body).value("id", std::string());
    } catch (const std::exception&) {
        id.clear();
    }
    ++done;
}

asio::awaitable<void> wait_for(asio::steady_timer& t, const long& done, long total) {
    while (done < total) {
        t.expires_after(std::chrono::milliseconds(2));
        co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
    }
}

constexpr long like_tweets = 100;  // likes spread over this many tweets of one author

}  // namespace

int bench_append(const config& cfg, long events, int rate, int seconds) {
    store::apply_migrations(cfg.database_url);
    asio::io_context ioc(1);
    metrics::registry metrics;
    // The saturation phase queues every command at once: no 503 for waiting in the queue.
    config bench_cfg = cfg;
    bench_cfg.db_queue_timeout = std::chrono::minutes(10);
    auto st = store::create_event_store(ioc, bench_cfg, metrics);
    json out;
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> {
            const std::string prefix =
                "bench" +
                std::to_string(std::chrono::steady_clock::now().time_since_epoch().count() %
                               1000000000);
            const bool likes = cfg.bench_type == "like";
            const unsigned ok_status = likes ? 200 : 201;
            const long total_fixed = static_cast<long>(rate) * seconds;
            asio::steady_timer t(ioc);
            // Setup: the author; for likes also the likers (one per like_tweets likes) and the
            // tweets they like.
            const long likers = likes ? (events + total_fixed + like_tweets - 1) / like_tweets : 0;
            std::vector<std::string> users(static_cast<std::size_t>(1 + likers));
            long setup_done = 0;
            for (std::size_t i = 0; i < users.size(); ++i) {
                const auto handle = prefix + "_" + std::to_string(i);
                json args = {{"handle", handle}, {"displayName", "bench"}, {"passwordHash", "x"}};
                json reg = {{"type", "register"}, {"actor", nullptr}, {"args", std::move(args)}};
                asio::co_spawn(ioc, setup_one(*st, std::move(reg), users[i], setup_done),
                               asio::detached);
            }
            const auto n_users = static_cast<long>(users.size());
            co_await wait_for(t, setup_done, n_users);
            const auto& actor = users[0];
            std::vector<std::string> tweets(static_cast<std::size_t>(likes ? like_tweets : 0));
            setup_done = 0;
            for (std::size_t i = 0; i < tweets.size(); ++i) {
                auto cmd = tweet_command(actor, -1 - static_cast<long>(i));
                asio::co_spawn(ioc, setup_one(*st, std::move(cmd), tweets[i], setup_done),
                               asio::detached);
            }
            const auto n_tweets = static_cast<long>(tweets.size());
            co_await wait_for(t, setup_done, n_tweets);
            for (const auto& id : users) {
                if (id.empty()) out["error"] = "setup failed: a user was not registered";
            }
            for (const auto& id : tweets) {
                if (id.empty()) out["error"] = "setup failed: a tweet was not created";
            }
            if (out.contains("error")) {
                ioc.stop();
                co_return;
            }
            // Command i: a tweet, or like i of tweet i % like_tweets by liker i / like_tweets.
            auto command = [&](long i) {
                if (!likes) return tweet_command(actor, i);
                return like_command(users[static_cast<std::size_t>(1 + i / like_tweets)],
                                    tweets[static_cast<std::size_t>(i % like_tweets)]);
            };
            // Phase 1: saturation.
            metrics::histogram sat;
            long failed = 0, done = 0;
            const auto batches_before = metrics.append_batches.load();
            const auto t0 = std::chrono::steady_clock::now();
            for (long i = 0; i < events; ++i) {
                auto cmd = command(i);
                asio::co_spawn(ioc, one(*st, std::move(cmd), ok_status, sat, failed, done),
                               asio::detached);
            }
            co_await wait_for(t, done, events);
            const double secs =
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            out["type"] = cfg.bench_type;
            out["saturation"] = {
                {"events", events},
                {"seconds", secs},
                {"eventsPerSecond", static_cast<double>(events) / secs},
                {"failed", failed},
                {"batches", metrics.append_batches.load() - batches_before},
                {"latencyMs",
                 {{"p50", sat.quantile(0.5) / 1000.0}, {"p99", sat.quantile(0.99) / 1000.0}}}};
            // Phase 2: fixed rate, open loop.
            metrics::histogram fixed;
            long failed2 = 0, done2 = 0;
            const auto start = std::chrono::steady_clock::now();
            const auto interval = std::chrono::nanoseconds(1000000000LL / rate);
            for (long i = 0; i < total_fixed; ++i) {
                t.expires_at(start + i * interval);
                co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
                auto cmd = command(events + i);
                asio::co_spawn(ioc, one(*st, std::move(cmd), ok_status, fixed, failed2, done2),
                               asio::detached);
            }
            co_await wait_for(t, done2, total_fixed);
            out["fixedRate"] = {{"rate", rate},
                                {"events", total_fixed},
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
