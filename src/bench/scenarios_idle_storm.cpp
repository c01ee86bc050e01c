// chirp-bench's connection scenarios: idle connections (memory, subscribe time) and the
// reconnect storm (replay after a mass cut). See BENCHMARKS.md.
#include <algorithm>
#include <cmath>

#include "scenario_support.hpp"
#include "scenarios.hpp"

namespace chirp::bench {

using namespace std::chrono_literals;
using namespace support;

// ------------------------------------------------------------------ idle connections

asio::awaitable<json> scenario_idle(const options& opts) {
    common c(opts);
    auto ex = co_await asio::this_coro::executor;
    std::vector<std::size_t> sizes;
    for (double v : opts.numbers("connections", {1000}))
        sizes.push_back(static_cast<std::size_t>(v));
    const auto settle = seconds_opt(opts, "settle", 2);
    const auto channels = split(opts.str("channels", "timeline,notifications"));
    const std::size_t users = *std::max_element(sizes.begin(), sizes.end());
    json result = c.header("idle");
    json setup;
    auto pop = co_await setup_population(c.t, c.so, users, {}, setup);
    result["setup"] = setup;
    server_probe probe(c.pid);
    json steps = json::array();
    // RSS per connection is measured against the server's RSS before the first step: the
    // memory of a closed step's connections is mostly kept by the allocator and reused.
    co_await sleep_for(settle);
    const auto before = probe.now();
    for (auto n : sizes) {
        co_await sleep_for(settle);
        ws_fleet fleet(ex, c.t, channels, [](ws_conn&, std::string_view, time_point) {});
        fleet.set_source_ips(c.source_ips);
        for (std::size_t i = 0; i < n; ++i) fleet.add(pop.tokens[i]);
        probe.begin();
        auto report = co_await fleet.connect_all(c.connect_concurrency, c.connect_timeout);
        const auto server_busy = probe.end();
        co_await sleep_for(settle);
        const auto after = probe.now();
        const std::string label = "idle " + std::to_string(n);
        connect_failures(report, c.failures, label);
        json step = {{"connections", n}, {"connect", report.to_json()}, {"server", server_busy}};
        if (before && after && report.subscribed) {
            const double per =
                (static_cast<double>(after->rss_bytes) - static_cast<double>(before->rss_bytes)) /
                static_cast<double>(report.subscribed);
            step["rssBeforeMiB"] = std::round(10 * before->rss_bytes / 1048576.0) / 10;
            step["rssAfterMiB"] = std::round(10 * after->rss_bytes / 1048576.0) / 10;
            step["rssPerConnectionKiB"] = std::round(100 * per / 1024) / 100;
        }
        step["clientRssMiB"] = std::round(10 * self_rss_bytes() / 1048576.0) / 10;
        step["stillLive"] = fleet.live();
        if (fleet.live() < report.subscribed)
            c.failures.push_back(label + ": " + std::to_string(report.subscribed - fleet.live()) +
                                 " connections dropped while idle");
        step["ws"] = fleet.stats_json();
        spdlog::info("idle {}: subscribed {} in {:.2f} s", n, report.subscribed, report.seconds);
        co_await fleet.shutdown();
        steps.push_back(step);
    }
    result["steps"] = steps;
    co_return finish(result, c.failures);
}

// ------------------------------------------------------------------ reconnect storm

asio::awaitable<json> scenario_storm(const options& opts) {
    common c(opts);
    auto ex = co_await asio::this_coro::executor;
    const auto clients = static_cast<std::size_t>(opts.integer("clients", 10000));
    const double rate = opts.number("rate", 5);
    const auto before = seconds_opt(opts, "before", 3);
    const auto after = seconds_opt(opts, "after", 5);
    const auto jitter = seconds_opt(opts, "jitter", 2);
    const auto timeout = seconds_opt(opts, "timeout", 60);
    const auto quiet = seconds_opt(opts, "quiet", 3);
    json result = c.header("storm");
    result["clients"] = clients;
    result["rate"] = rate;
    result["jitterMs"] = jitter.count();
    json setup;
    const std::vector<follow_range> graph{{0, 1, 1, clients + 1}};
    auto pop = co_await setup_population(c.t, c.so, clients + 1, graph, setup);
    result["setup"] = setup;

    delivery_book book(c.run);
    book.add_group();
    std::uint64_t foreign = 0;
    ws_fleet fleet(ex, c.t, {"timeline"},
                   [&](ws_conn& conn, std::string_view frame, time_point now) {
                       if (!book.on_frame(conn, frame, now)) ++foreign;
                   });
    fleet.set_source_ips(c.source_ips);
    for (std::size_t i = 1; i <= clients; ++i) fleet.add(pop.tokens[i]);
    server_probe probe(c.pid);
    probe.start(ex);
    auto creport = co_await fleet.connect_all(c.connect_concurrency, c.connect_timeout);
    result["connect"] = creport.to_json();
    connect_failures(creport, c.failures, "connect");
    const auto online = static_cast<std::uint32_t>(fleet.live());

    open_loop_poster poster(ex, c.t, 16, [&](std::uint64_t n, unsigned status, time_point now) {
        book.on_response(n, status, now);
    });
    if (auto ec = co_await poster.connect(); ec)
        throw std::runtime_error("cannot open HTTP connections: " + ec.message());
    // Every follower that was online at the start must end up with every tweet exactly once,
    // whether it arrived live or in the replay after its reconnection.
    const auto start = clock_type::now() + 20ms;
    const auto count = static_cast<std::uint64_t>(
        std::llround(rate * std::chrono::duration<double>(before + after).count()));
    bool posting_done = false;
    asio::co_spawn(
        ex,
        [&]() -> asio::awaitable<void> {
            co_await paced(rate, count, start, [&](std::uint64_t i, time_point at) {
                (void)i;
                const auto n = book.add(at, online);
                const std::string body = json{{"content", book.content(n)}}.dump();
                poster.send(n, raw_request("POST", "/api/tweets", c.t, pop.tokens[0], body));
            });
            posting_done = true;
        },
        asio::detached);
    co_await sleep_for(before);
    probe.begin();
    const auto cut_at = clock_type::now();
    fleet.cut_and_reconnect(jitter, 7);
    auto caught_up = [&] {
        for (std::size_t i = 0; i < fleet.size(); ++i) {
            const auto& conn = fleet[i];
            if (conn.ph != ws_conn::phase::live || conn.connects < 2 || conn.replayed_at < cut_at)
                return false;
        }
        return true;
    };
    const bool all_current = co_await poll_until(caught_up, timeout, 25ms);
    const auto current_at = clock_type::now();
    double slowest = 0;
    std::size_t resubscribed = 0, replayed = 0, resyncs = 0;
    for (std::size_t i = 0; i < fleet.size(); ++i) {
        const auto& conn = fleet[i];
        if (conn.connects >= 2 && conn.subscribed_at >= cut_at) ++resubscribed;
        if (conn.replayed_at >= cut_at) {
            ++replayed;
            slowest = std::max(slowest, seconds_between(cut_at, conn.replayed_at));
        }
        resyncs += conn.resyncs;
    }
    co_await poll_until([&] { return posting_done; }, timeout);
    co_await drain([&] { return book.received_in(0); }, [&] { return book.expected_in(0); },
                   [&] { return poster.in_flight() == 0; }, quiet, timeout);
    result["server"] = probe.end();
    co_await poster.finish(5s);
    json totals = book.summary(0, c.failures, "storm");
    result["deliveries"] = totals;
    result["allCurrent"] = all_current;
    result["secondsUntilAllCurrent"] = all_current ? slowest : seconds_between(cut_at, current_at);
    result["resubscribed"] = resubscribed;
    result["replayed"] = replayed;
    result["resyncs"] = resyncs;
    result["missed"] = totals["lost"];
    result["duplicates"] = totals["duplicates"];
    result["foreignEvents"] = foreign;
    result["ws"] = fleet.stats_json();
    if (!all_current)
        c.failures.push_back("storm: only " + std::to_string(replayed) + " of " +
                             std::to_string(fleet.size()) + " clients replayed within the timeout");
    if (resyncs) c.failures.push_back("storm: " + std::to_string(resyncs) + " resync messages");
    spdlog::info("storm: {} of {} current after {:.2f} s, missed {}, duplicates {}", replayed,
                 fleet.size(), result["secondsUntilAllCurrent"].get<double>(),
                 totals["lost"].get<std::uint64_t>(), totals["duplicates"].get<std::uint64_t>());
    co_await fleet.shutdown();
    co_return finish(result, c.failures);
}

}  // namespace chirp::bench
