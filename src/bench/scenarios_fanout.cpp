// chirp-bench's fan-out ladder and its celebrity variant: see BENCHMARKS.md.
#include <unistd.h>

#include <algorithm>
#include <cmath>

#include "scenario_support.hpp"
#include "scenarios.hpp"

namespace chirp::bench {

using namespace std::chrono_literals;
using namespace support;

asio::awaitable<json> scenario_fanout(const options& opts, bool celebrity) {
    common c(opts);
    auto ex = co_await asio::this_coro::executor;
    const auto authors = static_cast<std::size_t>(opts.integer("authors", celebrity ? 1 : 10));
    const auto followers =
        static_cast<std::size_t>(opts.integer("followers", celebrity ? 10000 : 1000));
    const auto rates =
        opts.numbers("rates", celebrity ? std::vector<double>{5, 10}
                                        : std::vector<double>{10, 50, 100, 200, 500});
    const double duration = opts.number("duration", 20);
    const double p99_limit = opts.number("max-p99-ms", 100);
    const auto stop_after = opts.integer("stop-after-failures", 2);
    const auto http_conns = static_cast<std::size_t>(opts.integer("http-conns", 64));
    const auto pause = seconds_opt(opts, "pause", 2);
    const auto quiet = seconds_opt(opts, "quiet", 3);
    const auto drain_timeout = seconds_opt(opts, "drain-timeout", 30);
    const auto channels = split(opts.str("channels", "timeline,notifications"));

    json result = c.header(celebrity ? "celebrity" : "fanout");
    result["authors"] = authors;
    result["followers"] = followers;
    result["durationSeconds"] = duration;
    result["maxP99Ms"] = p99_limit;
    json setup;
    // (named: GCC 12 rejects braced initializers inside co_await expressions)
    const std::vector<follow_range> graph{{0, authors, authors, authors + followers}};
    auto pop = co_await setup_population(c.t, c.so, authors + followers, graph, setup);
    result["setup"] = setup;

    delivery_book book(c.run);
    std::uint64_t foreign = 0;
    ws_fleet fleet(ex, c.t, channels, [&](ws_conn& conn, std::string_view frame, time_point now) {
        if (!book.on_frame(conn, frame, now)) ++foreign;
    });
    fleet.set_source_ips(c.source_ips);
    for (std::size_t i = authors; i < authors + followers; ++i) fleet.add(pop.tokens[i]);
    server_probe probe(c.pid);
    server_probe self(static_cast<int>(::getpid()));  // a client-bound run shows here
    probe.start(ex);
    probe.begin();
    auto creport = co_await fleet.connect_all(c.connect_concurrency, c.connect_timeout);
    result["connect"] = creport.to_json();
    result["connectServer"] = probe.end();
    connect_failures(creport, c.failures, "connect");

    open_loop_poster poster(ex, c.t, http_conns,
                            [&](std::uint64_t n, unsigned status, time_point now) {
                                book.on_response(n, status, now);
                            });
    if (auto ec = co_await poster.connect(); ec)
        throw std::runtime_error("cannot open HTTP connections: " + ec.message());
    const std::string path =
        c.relay ? "/api/tweets?fanout=" + std::to_string(followers) : std::string("/api/tweets");

    // Warm-up, not measured: `warmup` tweets per author at 10/s, delivered and drained before
    // the first step, so that the first step does not pay for cold caches on either side (the
    // server's follower lists and PostgreSQL plans, the client's connections). The relay gets
    // the same.
    const auto warmup = static_cast<std::uint64_t>(opts.integer("warmup", 1));
    if (warmup > 0) {
        book.add_group();
        const auto wi = book.groups() - 1;
        co_await paced(
            10, warmup * authors, clock_type::now() + 20ms, [&](std::uint64_t i, time_point at) {
                const auto n = book.add(at, static_cast<std::uint32_t>(fleet.live()));
                const std::string body = json{{"content", book.content(n)}}.dump();
                poster.send(n, raw_request("POST", path, c.t, pop.tokens[i % authors], body));
            });
        co_await drain([&] { return book.received_in(wi); }, [&] { return book.expected_in(wi); },
                       [&] { return poster.in_flight() == 0; }, quiet, drain_timeout);
        result["warmupTweets"] = warmup * authors;
        co_await sleep_for(pause);
    }

    json steps = json::array();
    double capacity = 0;
    int consecutive_failures = 0;
    for (double rate : rates) {
        book.add_group();
        const auto gi = book.groups() - 1;
        const auto count = static_cast<std::uint64_t>(std::llround(rate * duration));
        const auto start = clock_type::now() + 20ms;
        probe.begin();
        self.begin();
        const double max_lag =
            co_await paced(rate, count, start, [&](std::uint64_t i, time_point at) {
                const auto n = book.add(at, static_cast<std::uint32_t>(fleet.live()));
                const std::string body = json{{"content", book.content(n)}}.dump();
                poster.send(n, raw_request("POST", path, c.t, pop.tokens[i % authors], body));
            });
        const double send_seconds = seconds_between(start, clock_type::now());
        co_await drain([&] { return book.received_in(gi); }, [&] { return book.expected_in(gi); },
                       [&] { return poster.in_flight() == 0; }, quiet, drain_timeout);
        const auto server = probe.end();
        const auto client = self.end();
        std::vector<std::string> step_failures;
        const std::string label = "R=" + std::to_string(static_cast<int>(rate));
        json step = book.summary(gi, step_failures, label);
        step["rate"] = rate;
        step["sendSeconds"] = send_seconds;
        step["maxSendLagMs"] = std::round(max_lag * 10) / 10;
        // Over the time the deliveries took: past capacity that is longer than the send phase.
        const auto last = book.last_delivery(gi);
        const double delivery_seconds =
            std::max(send_seconds, last != time_point{} ? seconds_between(start, last) : 0.0);
        step["deliveriesPerSecond"] = std::round(
            static_cast<double>(step["received"].get<std::uint64_t>()) / delivery_seconds);
        step["server"] = server;
        step["client"] = client;
        const double p99 = step["latencyMs"]["p99"].get<double>();
        const bool pass = step_failures.empty() && p99 <= p99_limit;
        step["pass"] = pass;
        step["failures"] = step_failures;
        steps.push_back(step);
        spdlog::info("{}: p50 {} ms, p99 {} ms, max {} ms, {} deliveries/s, lost {}, dup {} -> {}",
                     label, step["latencyMs"]["p50"].get<double>(), p99,
                     step["latencyMs"]["max"].get<double>(),
                     step["deliveriesPerSecond"].get<double>(), step["lost"].get<std::uint64_t>(),
                     step["duplicates"].get<std::uint64_t>(), pass ? "pass" : "FAIL");
        if (pass) {
            capacity = std::max(capacity, rate);
            consecutive_failures = 0;
        } else if (++consecutive_failures >= stop_after) {
            break;
        }
        co_await sleep_for(pause);
    }
    co_await poster.finish(5s);
    result["steps"] = steps;
    result["capacityTweetsPerSecond"] = capacity;
    result["capacityDeliveriesPerSecond"] = capacity * static_cast<double>(followers);
    result["foreignEvents"] = foreign;
    result["httpPipelined"] = poster.pipelined;
    result["httpRequeued"] = poster.requeued;  // written again after a close by the server
    result["httpRetried"] = poster.retried;
    result["ws"] = fleet.stats_json();
    if (fleet.unexpected_closes)
        c.failures.push_back(std::to_string(fleet.unexpected_closes) + " WebSocket closes");
    co_await fleet.shutdown();
    // Loss and errors are reported per step; a step over the latency limit is not a failure
    // of the run (that is what the ladder is for), losing or duplicating events is.
    for (const auto& s : steps)
        for (const auto& f : s["failures"]) c.failures.push_back(f.get<std::string>());
    co_return finish(result, c.failures);
}

}  // namespace chirp::bench
