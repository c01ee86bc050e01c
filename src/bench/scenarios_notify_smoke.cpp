// chirp-bench's notification scenario (likes at fixed rates) and the end-to-end smoke run
// that scripts/test.sh uses. See BENCHMARKS.md.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "scan.hpp"
#include "scenario_support.hpp"
#include "scenarios.hpp"

namespace chirp::bench {

using namespace std::chrono_literals;
using namespace support;

// ------------------------------------------------------------------ notifications (likes)

asio::awaitable<json> scenario_notify(const options& opts) {
    common c(opts);
    auto ex = co_await asio::this_coro::executor;
    const auto authors = static_cast<std::size_t>(opts.integer("authors", 10));
    const auto tweets_per_author = static_cast<std::size_t>(opts.integer("tweets-per-author", 10));
    const auto rates = opts.numbers("rates", {1000, 5000});
    const double duration = opts.number("duration", 20);
    const auto http_conns = static_cast<std::size_t>(opts.integer("http-conns", 128));
    const auto quiet = seconds_opt(opts, "quiet", 3);
    const auto drain_timeout = seconds_opt(opts, "drain-timeout", 30);
    const std::size_t tweet_count = authors * tweets_per_author;
    double likes_needed = 0;
    for (double r : rates) likes_needed += std::ceil(r * duration);
    const auto likers = static_cast<std::size_t>(
        opts.integer("likers", static_cast<long long>(std::ceil(likes_needed / tweet_count))));
    if (likers * tweet_count < likes_needed)
        throw std::invalid_argument("--likers x tweets is smaller than the likes to send");

    json result = c.header("notify");
    result["authors"] = authors;
    result["tweets"] = tweet_count;
    result["likers"] = likers;
    result["durationSeconds"] = duration;
    json setup;
    auto pop = co_await setup_population(c.t, c.so, authors + likers, {}, setup);
    result["setup"] = setup;

    // The tweets to like: fresh ones per run, so every (liker, tweet) pair is a new like.
    std::vector<std::string> tweet_ids(tweet_count);
    std::map<std::string, std::size_t> tweet_index;
    {
        std::string failure;
        co_await run_parallel(
            c.t, tweet_count, 8, [&](http_conn& conn, std::size_t k) -> asio::awaitable<void> {
                const json body = {{"content", "bench " + c.run + " t" + std::to_string(k)}};
                auto r = co_await conn.request(http::verb::post, "/api/tweets", body.dump(),
                                               pop.tokens[k % authors]);
                if (r.status != 201) {
                    if (failure.empty())
                        failure =
                            "POST /api/tweets: HTTP " + std::to_string(r.status) + " " + r.body;
                    co_return;
                }
                tweet_ids[k] = json::parse(r.body).at("id").get<std::string>();
                tweet_index[tweet_ids[k]] = k;
            });
        if (!failure.empty()) throw std::runtime_error(failure);
    }

    // Like m is liker m / tweet_count on tweet m % tweet_count; its notification goes to the
    // tweet's author and is matched back by (actor handle, tweet id).
    std::vector<time_point> sent_at;
    std::vector<std::uint8_t> status;
    std::vector<std::uint16_t> group_of;
    std::vector<std::uint64_t> seen;
    struct group {
        latency_histogram latency;
        answer_tally answers;
        std::uint64_t received = 0, duplicates = 0;
    };
    std::vector<std::unique_ptr<group>> groups;
    std::uint64_t foreign = 0;
    ws_fleet fleet(
        ex, c.t, {"notifications"}, [&](ws_conn&, std::string_view frame, time_point now) {
            if (channel_of(frame) != "notifications") {
                ++foreign;
                return;
            }
            auto j = json::parse(frame, nullptr, false);
            const json* note = nullptr;
            if (!j.is_discarded() && j.contains("event") && j["event"].contains("payload") &&
                j["event"]["payload"].contains("notification"))
                note = &j["event"]["payload"]["notification"];
            if (!note || note->value("type", "") != "like" || !note->contains("actor") ||
                !note->contains("tweet") || !(*note)["tweet"].is_object()) {
                ++foreign;
                return;
            }
            auto liker = pop.index_of((*note)["actor"].value("handle", ""));
            auto tw = tweet_index.find((*note)["tweet"].value("id", ""));
            if (!liker || *liker < authors || tw == tweet_index.end()) {
                ++foreign;
                return;
            }
            const std::uint64_t m = (*liker - authors) * tweet_count + tw->second;
            if (m >= sent_at.size()) {
                ++foreign;
                return;
            }
            auto& g = *groups[group_of[m]];
            if (test_and_set(seen, m)) {
                ++g.duplicates;
                return;
            }
            ++g.received;
            g.latency.record(micros_between(sent_at[m], now));
        });
    fleet.set_source_ips(c.source_ips);
    for (std::size_t i = 0; i < authors; ++i) fleet.add(pop.tokens[i]);
    auto creport = co_await fleet.connect_all(c.connect_concurrency, c.connect_timeout);
    result["connect"] = creport.to_json();
    connect_failures(creport, c.failures, "connect");

    open_loop_poster poster(ex, c.t, http_conns, [&](std::uint64_t m, unsigned st, time_point now) {
        status[m] = groups[group_of[m]]->answers.record(st, sent_at[m], now);
    });
    if (auto ec = co_await poster.connect(); ec)
        throw std::runtime_error("cannot open HTTP connections: " + ec.message());
    server_probe probe(c.pid);
    server_probe self(static_cast<int>(::getpid()));
    probe.start(ex);
    json steps = json::array();
    for (double rate : rates) {
        groups.push_back(std::make_unique<group>());
        const auto gi = static_cast<std::uint16_t>(groups.size() - 1);
        auto& g = *groups.back();
        const auto count = static_cast<std::uint64_t>(std::llround(rate * duration));
        const auto first = sent_at.size();
        const auto start = clock_type::now() + 20ms;
        probe.begin();
        self.begin();
        const double max_lag =
            co_await paced(rate, count, start, [&](std::uint64_t, time_point at) {
                const auto m = sent_at.size();
                sent_at.push_back(at);
                status.push_back(0);
                group_of.push_back(gi);
                const auto liker = authors + m / tweet_count;
                poster.send(
                    m, raw_request("POST", "/api/tweets/" + tweet_ids[m % tweet_count] + "/like",
                                   c.t, pop.tokens[liker], "{}"));
            });
        const double send_seconds = seconds_between(start, clock_type::now());
        auto ok_count = [&] {
            std::uint64_t ok = 0;
            for (auto m = first; m < sent_at.size(); ++m) ok += status[m] == 1;
            return ok;
        };
        co_await drain([&] { return g.received; }, ok_count,
                       [&] { return poster.in_flight() == 0; }, quiet, drain_timeout);
        const auto ok = ok_count();
        const std::uint64_t failed = count - ok;
        const std::uint64_t lost = ok > g.received ? ok - g.received : 0;
        std::vector<std::string> step_failures;
        const std::string label = "likes " + std::to_string(static_cast<int>(rate)) + "/s";
        if (failed)
            step_failures.push_back(label + ": " + std::to_string(failed) + " likes failed");
        if (lost)
            step_failures.push_back(label + ": " + std::to_string(lost) + " notifications lost");
        if (g.duplicates)
            step_failures.push_back(label + ": " + std::to_string(g.duplicates) + " duplicates");
        json step = {{"rate", rate},
                     {"requests", count},
                     {"ok", ok},
                     {"httpErrors", failed},
                     {"httpStatuses", g.answers.statuses_json()},
                     {"expected", ok},
                     {"received", g.received},
                     {"lost", lost},
                     {"duplicates", g.duplicates},
                     {"sendSeconds", send_seconds},
                     {"maxSendLagMs", std::round(max_lag * 10) / 10},
                     {"deliveriesPerSecond", std::round(g.received / send_seconds)},
                     {"latencyMs", latency_json(g.latency)},
                     {"httpLatencyMs", latency_json(g.answers.http)},
                     {"server", probe.end()},
                     {"client", self.end()},
                     {"failures", step_failures}};
        spdlog::info("{}: p50 {} ms, p99 {} ms, lost {}", label,
                     step["latencyMs"]["p50"].get<double>(), step["latencyMs"]["p99"].get<double>(),
                     lost);
        for (auto& f : step_failures) c.failures.push_back(f);
        steps.push_back(step);
        co_await sleep_for(2s);
    }
    co_await poster.finish(5s);
    result["steps"] = steps;
    result["foreignEvents"] = foreign;
    result["ws"] = fleet.stats_json();
    if (fleet.unexpected_closes)
        c.failures.push_back(std::to_string(fleet.unexpected_closes) + " WebSocket closes");
    co_await fleet.shutdown();
    co_return finish(result, c.failures);
}

// ------------------------------------------------------------------ smoke (scripts/test.sh)

asio::awaitable<json> scenario_smoke(const options& opts) {
    common c(opts);
    auto ex = co_await asio::this_coro::executor;
    const auto users = static_cast<std::size_t>(opts.integer("users", 50));
    const auto tweets = static_cast<std::size_t>(opts.integer("tweets", 5));
    if (users < 4) throw std::invalid_argument("--users must be at least 4");
    const std::size_t authors = 2, followers = users - authors;
    json result = c.header("smoke");
    json setup;
    const std::vector<follow_range> graph{{0, authors, authors, users}};
    auto pop = co_await setup_population(c.t, c.so, users, graph, setup);
    result["setup"] = setup;

    delivery_book book(c.run);
    book.add_group();  // 0: tweets while everyone is online; 1: while some are away
    std::uint64_t notifications = 0, foreign = 0;
    ws_fleet fleet(ex, c.t, {"timeline", "notifications"},
                   [&](ws_conn& conn, std::string_view frame, time_point now) {
                       const auto channel = channel_of(frame);
                       if (channel == "notifications") {
                           if (conn.index == 0 && frame.find("\"like\"") != std::string_view::npos)
                               ++notifications;
                           return;
                       }
                       if (conn.index < authors) return;  // an author's own tweets: not counted
                       if (!book.on_frame(conn, frame, now)) ++foreign;
                   });
    fleet.set_source_ips(c.source_ips);
    for (std::size_t i = 0; i < users; ++i) fleet.add(pop.tokens[i]);
    auto creport = co_await fleet.connect_all(64, c.connect_timeout);
    result["connect"] = creport.to_json();
    connect_failures(creport, c.failures, "connect");

    // 1. Tweets, posted one after the other, reach every follower once.
    http_conn conn(ex, c.t);
    std::vector<std::string> tweet_ids;
    auto post_tweets = [&](std::size_t per_author) -> asio::awaitable<void> {
        for (std::size_t k = 0; k < per_author * authors; ++k) {
            const auto n = book.add(clock_type::now(), static_cast<std::uint32_t>(followers));
            const json body = {{"content", book.content(n)}};
            auto r = co_await conn.request(http::verb::post, "/api/tweets", body.dump(),
                                           pop.tokens[k % authors]);
            book.on_response(n, r.status, clock_type::now());
            if (r.status == 201) {
                auto j = json::parse(r.body, nullptr, false);
                if (!j.is_discarded() && j.contains("id"))
                    tweet_ids.push_back(j["id"].get<std::string>());
            }
        }
    };
    co_await post_tweets(tweets);
    co_await drain([&] { return book.received_in(0); }, [&] { return book.expected_in(0); },
                   [] { return true; }, 3s, 15s);
    result["tweets"] = book.summary(0, c.failures, "tweets");

    // 2. Likes notify the author (user 0) once each.
    std::size_t likes = 0;
    if (!tweet_ids.empty()) {
        for (std::size_t i = authors; i < std::min(users, authors + tweets); ++i, ++likes) {
            auto r = co_await conn.request(
                http::verb::post, "/api/tweets/" + tweet_ids[0] + "/like", "{}", pop.tokens[i]);
            if (!r.ok()) c.failures.push_back("like: HTTP " + std::to_string(r.status));
        }
    }
    co_await poll_until([&] { return notifications >= likes; }, 10s);
    co_await sleep_for(300ms);  // a duplicate would arrive now
    result["likes"] = {{"sent", likes}, {"notifications", notifications}};
    if (notifications != likes)
        c.failures.push_back("likes: " + std::to_string(likes) + " sent, " +
                             std::to_string(notifications) + " notifications received");

    // 3. A few followers drop, tweets are posted meanwhile, and they resume with `since`.
    const std::size_t cut = std::min<std::size_t>(10, followers);
    std::size_t cut_count = 0;
    for (std::size_t i = authors; i < authors + cut; ++i) {
        auto& fc = fleet[i];
        if (!fc.ws) continue;
        fc.reconnect = true;
        fc.resume = true;
        fc.reconnect_delay = 1500ms;
        auto& sock = beast::get_lowest_layer(*fc.ws).socket();
        error_code ignored;
        sock.set_option(asio::socket_base::linger(true, 0), ignored);
        sock.close(ignored);
        ++cut_count;
    }
    const auto cut_at = clock_type::now();
    co_await sleep_for(200ms);
    book.add_group();
    co_await post_tweets(1);
    const bool back = co_await poll_until(
        [&] {
            for (std::size_t i = authors; i < authors + cut; ++i)
                if (fleet[i].ph != ws_conn::phase::live || fleet[i].subscribed_at < cut_at)
                    return false;
            return true;
        },
        15s);
    if (!back) c.failures.push_back("resume: not every cut follower resubscribed");
    const auto last = book.groups() - 1;
    co_await drain([&] { return book.received_in(last); }, [&] { return book.expected_in(last); },
                   [] { return true; }, 3s, 15s);
    result["resume"] = book.summary(last, c.failures, "resume");
    result["resume"]["cut"] = cut_count;

    // 4. REST reads answer.
    for (const char* path : {"/api/timeline", "/api/notifications"}) {
        auto r = co_await conn.request(http::verb::get, path, {},
                                       pop.tokens[path[5] == 't' ? authors : 0]);
        if (r.status != 200)
            c.failures.push_back(std::string("GET ") + path + ": HTTP " + std::to_string(r.status));
    }
    result["foreignEvents"] = foreign;
    result["ws"] = fleet.stats_json();
    if (fleet.unexpected_closes)
        c.failures.push_back(std::to_string(fleet.unexpected_closes) +
                             " unexpected WebSocket closes");
    co_await fleet.shutdown();
    co_return finish(result, c.failures);
}

}  // namespace chirp::bench
