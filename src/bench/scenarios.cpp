// The chirp-bench scenarios: see scenarios.hpp and BENCHMARKS.md for what each measures.
#include "scenarios.hpp"

#include <unistd.h>

#include <cmath>
#include <memory>
#include <random>
#include <sstream>

#include "client.hpp"
#include "proc_stats.hpp"
#include "scan.hpp"
#include "setup.hpp"

namespace chirp::bench {

namespace {

using namespace std::chrono_literals;
using std::chrono::milliseconds;

std::string random_run_id() {
    static constexpr char digits[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    std::random_device rd;
    std::string id;
    for (int i = 0; i < 6; ++i) id += digits[rd() % 36];
    return id;
}

double ms(std::uint64_t us) {
    return std::round(static_cast<double>(us)) / 1000.0;
}

json latency_json(const latency_histogram& h) {
    return {{"count", h.count()},
            {"p50", ms(h.percentile(0.5))},
            {"p90", ms(h.percentile(0.9))},
            {"p99", ms(h.percentile(0.99))},
            {"p999", ms(h.percentile(0.999))},
            {"max", ms(h.max())},
            {"mean", std::round(h.mean()) / 1000.0}};
}

std::vector<std::string> split(const std::string& s, char sep = ',') {
    std::vector<std::string> out;
    std::stringstream ss(s);
    std::string item;
    while (std::getline(ss, item, sep))
        if (!item.empty()) out.push_back(item);
    return out;
}

milliseconds seconds_opt(const options& opts, const std::string& key, double def) {
    return milliseconds(static_cast<long long>(opts.number(key, def) * 1000));
}

std::string_view channel_of(std::string_view frame) {
    constexpr std::string_view key = "\"channel\":\"";
    auto pos = frame.find(key);
    if (pos == std::string_view::npos) return {};
    pos += key.size();
    auto end = frame.find('"', pos);
    return end == std::string_view::npos ? std::string_view{} : frame.substr(pos, end - pos);
}

// Everything a scenario shares: where the server is, how to set up, who to sample.
struct common {
    target t;
    setup_options so;
    bool relay = false;
    std::optional<int> pid;
    std::string run = random_run_id();
    std::size_t connect_concurrency = 256;
    std::size_t source_ips = 1;
    milliseconds connect_timeout{60000};
    std::vector<std::string> failures;

    explicit common(const options& opts) {
        t = parse_url(opts.str("url", "http://127.0.0.1:8000"));
        so = setup_options::from(opts);
        relay = so.dry;
        if (auto p = opts.opt("server-pid"); p && !p->empty())
            pid = std::stoi(*p);
        else
            pid = find_pid_by_port(t.port);
        connect_concurrency = static_cast<std::size_t>(opts.integer("connect-concurrency", 256));
        source_ips = static_cast<std::size_t>(opts.integer("source-ips", 16));
        connect_timeout = seconds_opt(opts, "connect-timeout", 60);
        raise_fd_limit(static_cast<std::uint64_t>(opts.integer("fd-limit", 65536)));
    }

    json header(const std::string& scenario) const {
        return {{"scenario", scenario},
                {"target", relay ? "relay" : "chirpd"},
                {"url", "http://" + t.host_header()},
                {"run", run},
                {"serverPid", pid ? json(*pid) : json(nullptr)}};
    }
};

// Samples the server's CPU and RSS over a window, with a background poll for the peak RSS.
class server_probe {
public:
    explicit server_probe(std::optional<int> pid) : state_(std::make_shared<state>()) {
        state_->pid = pid;
    }
    ~server_probe() { state_->stopped = true; }

    void start(asio::any_io_executor ex) {
        asio::co_spawn(
            ex,
            [st = state_]() -> asio::awaitable<void> {
                while (!st->stopped) {
                    if (st->pid)
                        if (auto s = sample_process(*st->pid))
                            st->peak_rss = std::max(st->peak_rss, s->rss_bytes);
                    co_await sleep_for(200ms);
                }
            },
            asio::detached);
    }
    void begin() {
        state_->begin_at = clock_type::now();
        state_->begin = state_->pid ? sample_process(*state_->pid) : std::nullopt;
        state_->peak_rss = state_->begin ? state_->begin->rss_bytes : 0;
    }
    std::optional<proc_sample> now() const {
        return state_->pid ? sample_process(*state_->pid) : std::nullopt;
    }
    json end() const {
        auto s = now();
        if (!s || !state_->begin) return nullptr;
        const double wall = seconds_between(state_->begin_at, clock_type::now());
        const double mib = 1024.0 * 1024.0;
        return {
            {"cpuPercent",
             wall > 0 ? std::round(1000 * (s->cpu_seconds - state_->begin->cpu_seconds) / wall) / 10
                      : 0.0},
            {"rssStartMiB", std::round(10 * state_->begin->rss_bytes / mib) / 10},
            {"rssEndMiB", std::round(10 * s->rss_bytes / mib) / 10},
            {"rssPeakMiB", std::round(10 * std::max(state_->peak_rss, s->rss_bytes) / mib) / 10},
            {"threads", s->threads}};
    }

private:
    struct state {
        std::optional<int> pid;
        std::optional<proc_sample> begin;
        time_point begin_at{};
        std::uint64_t peak_rss = 0;
        bool stopped = false;
    };
    std::shared_ptr<state> state_;
};

// Expected and received deliveries of marked tweets ("bench <run> <n>"), grouped by step.
class delivery_book {
public:
    explicit delivery_book(const std::string& run) : needle_("bench " + run + " ") {}

    std::string content(std::uint64_t n) const { return needle_ + std::to_string(n); }
    std::size_t groups() const { return groups_.size(); }
    void add_group() { groups_.emplace_back(std::make_unique<group>()); }

    std::uint64_t add(time_point sent, std::uint32_t expected) {
        sent_at_.push_back(sent);
        expected_.push_back(expected);
        received_.push_back(0);
        status_.push_back(0);
        group_of_.push_back(static_cast<std::uint16_t>(groups_.size() - 1));
        return sent_at_.size() - 1;
    }
    std::uint64_t size() const { return sent_at_.size(); }
    void set_expected(std::uint64_t n, std::uint32_t expected) { expected_[n] = expected; }
    void add_expected(std::uint64_t n, std::uint32_t more) { expected_[n] += more; }

    void on_response(std::uint64_t n, unsigned status, time_point now) {
        auto& g = *groups_[group_of_[n]];
        if (status >= 200 && status < 300) {
            status_[n] = 1;
            g.http.record(micros_between(sent_at_[n], now));
        } else {
            status_[n] = 2;
            ++g.statuses[status];
        }
    }

    // A frame on the timeline channel; returns whether it carried one of our markers.
    bool on_frame(ws_conn& c, std::string_view frame, time_point now) {
        auto n = find_marker(frame, needle_);
        if (!n || *n >= sent_at_.size()) return false;
        auto& g = *groups_[group_of_[*n]];
        if (test_and_set(c.seen, *n)) {
            ++g.duplicates;
            return true;
        }
        ++received_[*n];
        ++g.received;
        g.latency.record(micros_between(sent_at_[*n], now));
        if (g.first == time_point{}) g.first = now;
        g.last = now;
        return true;
    }

    std::uint64_t received_in(std::size_t gi) const { return groups_[gi]->received; }
    std::uint64_t expected_in(std::size_t gi) const {
        std::uint64_t e = 0;
        for (std::size_t n = 0; n < sent_at_.size(); ++n)
            if (group_of_[n] == gi && status_[n] != 2) e += expected_[n];
        return e;
    }
    std::uint64_t pending_replies(std::size_t gi) const {
        std::uint64_t p = 0;
        for (std::size_t n = 0; n < sent_at_.size(); ++n)
            if (group_of_[n] == gi && status_[n] == 0) ++p;
        return p;
    }

    // Totals of a group: lost = expected deliveries of acknowledged tweets never received.
    json summary(std::size_t gi, std::vector<std::string>& failures,
                 const std::string& label) const {
        const auto& g = *groups_[gi];
        std::uint64_t sent = 0, ok = 0, failed = 0, expected = 0, received_ok = 0, lost = 0,
                      unexpected = 0;
        for (std::size_t n = 0; n < sent_at_.size(); ++n) {
            if (group_of_[n] != gi) continue;
            ++sent;
            if (status_[n] == 1) {
                ++ok;
                expected += expected_[n];
                received_ok += std::min(received_[n], expected_[n]);
                if (received_[n] < expected_[n]) lost += expected_[n] - received_[n];
                if (received_[n] > expected_[n]) unexpected += received_[n] - expected_[n];
            } else {
                ++failed;
                unexpected += received_[n];
            }
        }
        json statuses = json::object();
        for (const auto& [s, c] : g.statuses) statuses[s ? std::to_string(s) : "transport"] = c;
        if (failed) failures.push_back(label + ": " + std::to_string(failed) + " requests failed");
        if (lost) failures.push_back(label + ": " + std::to_string(lost) + " deliveries lost");
        if (g.duplicates)
            failures.push_back(label + ": " + std::to_string(g.duplicates) +
                               " duplicate deliveries");
        const double span = g.first != time_point{} ? seconds_between(g.first, g.last) : 0;
        return {{"requests", sent},
                {"ok", ok},
                {"httpErrors", failed},
                {"httpStatuses", statuses},
                {"expected", expected},
                {"received", received_ok},
                {"lost", lost},
                {"duplicates", g.duplicates},
                {"unexpected", unexpected},
                {"deliverySpanSeconds", span},
                {"latencyMs", latency_json(g.latency)},
                {"httpLatencyMs", latency_json(g.http)}};
    }

    const latency_histogram& latency(std::size_t gi) const { return groups_[gi]->latency; }
    time_point last_delivery(std::size_t gi) const { return groups_[gi]->last; }

private:
    struct group {
        latency_histogram latency, http;
        std::uint64_t received = 0, duplicates = 0;
        std::map<unsigned, std::uint64_t> statuses;
        time_point first{}, last{};
    };
    std::string needle_;
    std::vector<time_point> sent_at_;
    std::vector<std::uint32_t> expected_, received_;
    std::vector<std::uint8_t> status_;
    std::vector<std::uint16_t> group_of_;
    std::vector<std::unique_ptr<group>> groups_;
};

// Waits until `received()` reaches `expected()` (both re-read as replies arrive), or nothing
// new arrived for `quiet`, or `timeout`.
asio::awaitable<void> drain(std::function<std::uint64_t()> received,
                            std::function<std::uint64_t()> expected,
                            std::function<bool()> replies_done, milliseconds quiet,
                            milliseconds timeout) {
    const auto deadline = clock_type::now() + timeout;
    auto last_change = clock_type::now();
    std::uint64_t last = received();
    while (clock_type::now() < deadline) {
        const auto r = received();
        if (replies_done() && r >= expected()) break;
        if (r != last) {
            last = r;
            last_change = clock_type::now();
        } else if (replies_done() && clock_type::now() - last_change > quiet) {
            break;
        }
        co_await sleep_for(20ms);
    }
}

// Sends `count` requests at `rate` per second starting at `start` (open loop: never waits for
// an answer); make(i, scheduled) sends request i. Returns the largest lateness of a send.
asio::awaitable<double> paced(double rate, std::uint64_t count, time_point start,
                              std::function<void(std::uint64_t, time_point)> make) {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    const auto interval = std::chrono::duration<double>(1.0 / rate);
    double max_lag_ms = 0;
    for (std::uint64_t i = 0; i < count; ++i) {
        const auto scheduled = start + std::chrono::duration_cast<clock_type::duration>(
                                           interval * static_cast<double>(i));
        if (clock_type::now() < scheduled) {
            timer.expires_at(scheduled);
            co_await timer.async_wait(use_tuple);
        }
        max_lag_ms = std::max(max_lag_ms, seconds_between(scheduled, clock_type::now()) * 1000);
        make(i, scheduled);
    }
    co_return max_lag_ms;
}

void connect_failures(const connect_report& r, std::vector<std::string>& failures,
                      const std::string& label) {
    if (r.failed)
        failures.push_back(label + ": " + std::to_string(r.failed) + " of " +
                           std::to_string(r.wanted) + " connections failed to subscribe");
}

json finish(json result, const std::vector<std::string>& failures) {
    result["failures"] = failures;
    result["ok"] = failures.empty();
    return result;
}

}  // namespace

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

// ------------------------------------------------------------------ fan-out ladder / celebrity

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
        latency_histogram latency, http;
        std::uint64_t received = 0, duplicates = 0;
        std::map<unsigned, std::uint64_t> statuses;
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
        auto& g = *groups[group_of[m]];
        if (st >= 200 && st < 300) {
            status[m] = 1;
            g.http.record(micros_between(sent_at[m], now));
        } else {
            status[m] = 2;
            ++g.statuses[st];
        }
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
        json statuses = json::object();
        for (const auto& [s, n] : g.statuses) statuses[s ? std::to_string(s) : "transport"] = n;
        json step = {{"rate", rate},
                     {"requests", count},
                     {"ok", ok},
                     {"httpErrors", failed},
                     {"httpStatuses", statuses},
                     {"expected", ok},
                     {"received", g.received},
                     {"lost", lost},
                     {"duplicates", g.duplicates},
                     {"sendSeconds", send_seconds},
                     {"maxSendLagMs", std::round(max_lag * 10) / 10},
                     {"deliveriesPerSecond", std::round(g.received / send_seconds)},
                     {"latencyMs", latency_json(g.latency)},
                     {"httpLatencyMs", latency_json(g.http)},
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

namespace chirp::bench {

std::string format_table(const json& r) {
    std::string out;
    const auto scenario = r.value("scenario", std::string{});
    out += fmt::format("\n== {} against {} ({}), run {}\n", scenario, r.value("target", ""),
                       r.value("url", ""), r.value("run", ""));
    auto num = [](const json& j, const char* key, int decimals = 1) -> std::string {
        if (!j.is_object() || !j.contains(key) || !j[key].is_number()) return "-";
        return fmt::format("{:.{}f}", j[key].get<double>(), decimals);
    };
    if (r.contains("connect")) {
        const auto& c = r["connect"];
        out += fmt::format(
            "connect: {} of {} subscribed in {} s (per connection p50 {} ms, p99 {} ms)\n",
            num(c, "subscribed", 0), num(c, "wanted", 0), num(c, "seconds", 2),
            num(c["perConnectionMs"], "p50", 1), num(c["perConnectionMs"], "p99", 1));
    }
    if (scenario == "idle") {
        out +=
            fmt::format("{:>8} {:>10} {:>9} {:>11} {:>11} {:>12} {:>10}\n", "conns", "subscribed",
                        "seconds", "p99 ms/conn", "server RSS", "KiB per conn", "server cpu");
        for (const auto& s : r["steps"])
            out += fmt::format(
                "{:>8} {:>10} {:>9} {:>11} {:>10}M {:>12} {:>9}%\n", num(s, "connections", 0),
                num(s["connect"], "subscribed", 0), num(s["connect"], "seconds", 2),
                num(s["connect"]["perConnectionMs"], "p99", 1), num(s, "rssAfterMiB", 1),
                num(s, "rssPerConnectionKiB", 2), num(s["server"], "cpuPercent", 0));
    } else if (r.contains("steps")) {
        out += fmt::format(
            "{:>6} {:>7} {:>5} {:>9} {:>9} {:>6} {:>4} {:>8} {:>8} {:>8} {:>8} {:>8} {:>9} {:>5} "
            "{:>5} {:>5}\n",
            "rate", "ok", "err", "expected", "received", "lost", "dup", "p50 ms", "p90 ms",
            "p99 ms", "p99.9 ms", "max ms", "deliv/s", "srv%", "cli%", "pass");
        for (const auto& s : r["steps"]) {
            const auto& l = s["latencyMs"];
            out += fmt::format(
                "{:>6} {:>7} {:>5} {:>9} {:>9} {:>6} {:>4} {:>8} {:>8} {:>8} {:>8} {:>8} {:>9} "
                "{:>5} {:>5} {:>5}\n",
                num(s, "rate", 0), num(s, "ok", 0), num(s, "httpErrors", 0), num(s, "expected", 0),
                num(s, "received", 0), num(s, "lost", 0), num(s, "duplicates", 0), num(l, "p50", 2),
                num(l, "p90", 2), num(l, "p99", 2), num(l, "p999", 2), num(l, "max", 1),
                num(s, "deliveriesPerSecond", 0), num(s["server"], "cpuPercent", 0),
                num(s["client"], "cpuPercent", 0),
                s.contains("pass") ? (s["pass"].get<bool>() ? "yes" : "no") : "-");
        }
        if (r.contains("capacityTweetsPerSecond"))
            out += fmt::format("capacity: {} tweets/s x {} followers (p99 <= {} ms, no loss)\n",
                               num(r, "capacityTweetsPerSecond", 0), num(r, "followers", 0),
                               num(r, "maxP99Ms", 0));
    } else if (scenario == "storm") {
        const auto& d = r["deliveries"];
        out += fmt::format(
            "{} clients: {} {} s ({} resubscribed, {} replayed), "
            "missed {}, duplicates {}, resyncs {}\n",
            num(r, "clients", 0),
            r.value("allCurrent", false) ? "all current after"
                                         : "NOT all current within the timeout of",
            num(r, "secondsUntilAllCurrent", 2), num(r, "resubscribed", 0), num(r, "replayed", 0),
            num(r, "missed", 0), num(r, "duplicates", 0), num(r, "resyncs", 0));
        out += fmt::format(
            "deliveries: {} expected, {} received, latency p50 {} ms p99 {} ms max {} ms\n",
            num(d, "expected", 0), num(d, "received", 0), num(d["latencyMs"], "p50", 1),
            num(d["latencyMs"], "p99", 1), num(d["latencyMs"], "max", 1));
    } else if (scenario == "smoke") {
        for (const char* k : {"tweets", "resume"})
            if (r.contains(k))
                out += fmt::format(
                    "{}: {} posted, {} expected, {} received, {} lost, {} duplicates\n", k,
                    num(r[k], "ok", 0), num(r[k], "expected", 0), num(r[k], "received", 0),
                    num(r[k], "lost", 0), num(r[k], "duplicates", 0));
        if (r.contains("likes"))
            out += fmt::format("likes: {} sent, {} notifications\n", num(r["likes"], "sent", 0),
                               num(r["likes"], "notifications", 0));
    }
    out += r.value("ok", false) ? "result: ok\n" : "result: FAILED\n";
    return out;
}

}  // namespace chirp::bench
