#include "soak.hpp"

#include <filesystem>
#include <random>

#include "client.hpp"
#include "proc_stats.hpp"
#include "scan.hpp"
#include "setup.hpp"

namespace chirp::bench {

namespace {

using namespace std::chrono_literals;
using std::chrono::milliseconds;

milliseconds ms_opt(const options& opts, const std::string& key, double seconds) {
    return milliseconds(static_cast<long long>(opts.number(key, seconds) * 1000));
}

std::string run_id() {
    static constexpr char digits[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    std::random_device rd;
    std::string id;
    for (int i = 0; i < 6; ++i) id += digits[rd() % 36];
    return id;
}

// One command to Redis on 127.0.0.1:port (inline protocol, a fresh blocking connection, a
// 2 s deadline): the integer of an integer or array reply, or the text of a bulk reply.
struct redis_reply {
    long long number = -1;
    std::string text;
};

std::optional<redis_reply> redis_query(std::uint16_t port, const std::string& command) {
    asio::io_context ioc;
    beast::tcp_stream s(ioc);
    s.expires_after(2s);
    error_code ec;
    s.socket().connect({asio::ip::make_address_v4("127.0.0.1"), port}, ec);
    if (ec) return std::nullopt;
    s.socket().set_option(asio::socket_base::linger(true, 0), ec);
    if (asio::write(s.socket(), asio::buffer(command + "\r\n"), ec); ec) return std::nullopt;
    std::string in;
    char buf[64 * 1024];
    auto more = [&] {
        const auto n = s.socket().read_some(asio::buffer(buf), ec);
        if (ec) return false;
        in.append(buf, n);
        return true;
    };
    while (in.find("\r\n") == std::string::npos)
        if (!more()) return std::nullopt;
    const auto eol = in.find("\r\n");
    redis_reply r;
    const auto head = in.substr(1, eol - 1);
    if (in[0] == ':' || in[0] == '*') {
        r.number = std::stoll(head);
    } else if (in[0] == '$') {
        const auto len = std::stoull(head);
        while (in.size() < eol + 2 + len)
            if (!more()) return std::nullopt;
        r.text = in.substr(eol + 2, len);
    } else {
        return std::nullopt;
    }
    return r;
}

// Sum of `key=N` over the lines of CLIENT LIST.
long long sum_field(const std::string& list, const std::string& key) {
    long long total = 0;
    std::size_t pos = 0;
    const auto needle = " " + key + "=";
    while ((pos = list.find(needle, pos)) != std::string::npos) {
        pos += needle.size();
        total += std::atoll(list.c_str() + pos);
    }
    return total;
}

json redis_sample(std::optional<std::uint16_t> port) {
    if (!port) return nullptr;
    json j;
    if (auto r = redis_query(*port, "PUBSUB NUMPAT")) j["numpat"] = r->number;
    if (auto r = redis_query(*port, "PUBSUB CHANNELS")) j["channels"] = r->number;
    if (auto r = redis_query(*port, "CLIENT LIST TYPE pubsub")) {
        j["pubsubClients"] = std::count(r->text.begin(), r->text.end(), '\n');
        j["subscriptions"] = sum_field(r->text, "sub");
        j["patternSubscriptions"] = sum_field(r->text, "psub");
    }
    if (auto r = redis_query(*port, "CLIENT LIST"))
        j["clients"] = std::count(r->text.begin(), r->text.end(), '\n') - 1;  // minus us
    return j;
}

json server_sample(std::optional<int> pid) {
    json j;
    if (!pid) return nullptr;
    if (auto s = sample_process(*pid)) {
        j["rssMiB"] = static_cast<double>(s->rss_bytes) / (1024.0 * 1024.0);
        j["cpuSeconds"] = s->cpu_seconds;
        j["threads"] = s->threads;
    }
    std::error_code ec;
    long long fds = 0;
    for (std::filesystem::directory_iterator it("/proc/" + std::to_string(*pid) + "/fd", ec), end;
         !ec && it != end; it.increment(ec))
        ++fds;
    j["openFds"] = ec ? json(nullptr) : json(fds);
    return j;
}

json sample(const char* when, std::optional<int> pid, std::optional<std::uint16_t> redis_port,
            std::size_t live) {
    json j{{"when", when},
           {"liveClients", live},
           {"chirpd", server_sample(pid)},
           {"redis", redis_sample(redis_port)}};
    spdlog::info("soak {}: {}", when, j.dump());
    return j;
}

}  // namespace

asio::awaitable<json> scenario_soak(const options& opts) {
    auto ex = co_await asio::this_coro::executor;
    const auto t = parse_url(opts.str("url", "http://127.0.0.1:8000"));
    const auto so = setup_options::from(opts);
    const auto clients = static_cast<std::size_t>(opts.integer("clients", 1000));
    const auto authors = static_cast<std::size_t>(std::max(1LL, opts.integer("authors", 4)));
    const double rate = opts.number("rate", 5);
    const auto duration = ms_opt(opts, "seconds", 300);
    const auto stay_min = ms_opt(opts, "stay-min", 2), stay_max = ms_opt(opts, "stay-max", 20);
    const auto away_max = ms_opt(opts, "away-max", 3);
    const auto settle = ms_opt(opts, "settle", 20);
    std::optional<int> pid;
    if (auto p = opts.opt("server-pid"); p && !p->empty())
        pid = std::stoi(*p);
    else
        pid = find_pid_by_port(t.port);
    std::optional<std::uint16_t> redis_port;
    if (auto p = opts.opt("redis-port"); p && !p->empty())
        redis_port = static_cast<std::uint16_t>(std::stoi(*p));
    raise_fd_limit(static_cast<std::uint64_t>(opts.integer("fd-limit", 65536)));
    std::mt19937_64 rng(static_cast<std::uint64_t>(opts.integer("seed", 1)));
    const auto run = run_id();
    const auto marker = "soak " + run + " ";
    std::vector<std::string> failures;

    json result{{"scenario", "soak"},
                {"target", "chirpd"},
                {"url", "http://" + t.host_header()},
                {"run", run},
                {"clients", clients},
                {"authors", authors},
                {"rate", rate},
                {"seconds", std::chrono::duration<double>(duration).count()},
                {"stayMs", {stay_min.count(), stay_max.count()}},
                {"awayMaxMs", away_max.count()}};
    json samples = json::array();
    samples.push_back(sample("before setup", pid, redis_port, 0));

    json setup;
    const std::vector<follow_range> graph{{0, authors, authors, authors + clients}};
    auto pop = co_await setup_population(t, so, authors + clients, graph, setup);
    result["setup"] = setup;

    std::uint64_t delivered = 0, duplicates = 0, foreign = 0;
    ws_fleet fleet(ex, t, {"timeline"}, [&](ws_conn& c, std::string_view frame, time_point) {
        const auto n = find_marker(frame, marker);
        if (!n) {
            ++foreign;
            return;
        }
        if (test_and_set(c.seen, *n))
            ++duplicates;
        else
            ++delivered;
    });
    for (std::size_t i = 0; i < clients; ++i) fleet.add(pop.tokens[authors + i]);
    auto creport = co_await fleet.connect_all(256, 60s);
    result["connect"] = creport.to_json();
    if (creport.failed)
        failures.push_back("soak: " + std::to_string(creport.failed) + " clients did not connect");
    samples.push_back(sample("start (all connected)", pid, redis_port, fleet.live()));

    // Tweets at a steady rate, round robin over the authors; acked[n]: answered 201.
    std::vector<std::uint64_t> acked;
    std::uint64_t posted = 0, post_errors = 0;
    open_loop_poster poster(ex, t, 8, [&](std::uint64_t n, unsigned status, time_point) {
        if (status == 201)
            test_and_set(acked, n);
        else
            ++post_errors;
    });
    if (auto ec = co_await poster.connect(); ec)
        throw std::runtime_error("cannot open HTTP connections: " + ec.message());
    const auto start = clock_type::now();
    const auto stop = start + duration;
    bool posting = true;
    asio::co_spawn(
        ex,
        [&]() -> asio::awaitable<void> {
            asio::steady_timer timer(ex);
            const auto gap = std::chrono::duration_cast<clock_type::duration>(
                std::chrono::duration<double>(1.0 / std::max(rate, 0.01)));
            for (auto at = start; at < stop; at += gap) {
                timer.expires_at(at);
                co_await timer.async_wait(use_tuple);
                const auto n = posted++;
                const std::string body =
                    json{{"content", marker + std::to_string(n) + " churn"}}.dump();
                poster.send(n,
                            raw_request("POST", "/api/tweets", t, pop.tokens[n % authors], body));
            }
            posting = false;
        },
        asio::detached);

    // Churn: each live client leaves after a random stay (half with a close frame, half with a
    // reset) and comes back after a random pause, resuming with `since`.
    std::uniform_int_distribution<long long> stay(stay_min.count(),
                                                  std::max(stay_min.count(), stay_max.count()));
    std::uniform_int_distribution<long long> away(0, away_max.count());
    std::vector<time_point> leave_at(clients);
    std::uint64_t cuts = 0, graceful = 0;
    asio::steady_timer tick(ex);
    for (auto now = clock_type::now(); now < stop; now = clock_type::now()) {
        for (std::size_t i = 0; i < clients; ++i) {
            auto& c = fleet[i];
            if (c.ph != ws_conn::phase::live || !c.ws) {
                leave_at[i] = {};
                continue;
            }
            if (leave_at[i] == time_point{}) {
                leave_at[i] = now + milliseconds(stay(rng));
                continue;
            }
            if (now < leave_at[i]) continue;
            leave_at[i] = {};
            c.reconnect = true;
            c.resume = true;
            c.reconnect_delay = milliseconds(away(rng));
            ++cuts;
            if (rng() % 2 == 0) {
                ++graceful;
                // The closing handshake ends before the client reconnects (and replaces the
                // stream): loopback answers in well under the pause.
                c.reconnect_delay = std::max(c.reconnect_delay, milliseconds(500));
                auto* ws = c.ws.get();
                asio::co_spawn(
                    ex,
                    [ws]() -> asio::awaitable<void> {
                        co_await ws->async_close(websocket::close_code::normal, use_tuple);
                    },
                    asio::detached);
            } else {
                auto& sock = beast::get_lowest_layer(*c.ws).socket();
                error_code ignored;
                sock.set_option(asio::socket_base::linger(true, 0), ignored);
                sock.close(ignored);
            }
        }
        tick.expires_after(100ms);
        co_await tick.async_wait(use_tuple);
    }
    co_await poll_until([&] { return !posting; }, 10s);
    co_await poster.finish(10s);
    result["churn"] = {{"disconnects", cuts}, {"graceful", graceful}, {"resets", cuts - graceful}};

    // Settle: every client back, and every acknowledged tweet delivered to every client (or
    // the deadline).
    std::uint64_t acked_count = 0;
    for (std::uint64_t n = 0; n < posted; ++n) acked_count += test_bit(acked, n) ? 1 : 0;
    auto missing = [&] {
        std::uint64_t m = 0;
        for (std::size_t i = 0; i < clients; ++i)
            for (std::uint64_t n = 0; n < posted; ++n)
                if (test_bit(acked, n) && !test_bit(fleet[i].seen, n)) ++m;
        return m;
    };
    const bool settled = co_await poll_until(
        [&] { return fleet.live() + fleet.failed() >= clients && missing() == 0; }, settle, 250ms);
    samples.push_back(sample("end (clients still connected)", pid, redis_port, fleet.live()));
    std::uint64_t resyncs = 0, connects = 0, replays = 0;
    for (std::size_t i = 0; i < clients; ++i) {
        resyncs += fleet[i].resyncs;
        connects += fleet[i].connects;
        replays += fleet[i].replayed;
    }
    const auto missed = missing();
    result["tweets"] = {{"posted", posted}, {"acknowledged", acked_count}, {"errors", post_errors}};
    result["deliveries"] = {
        {"expected", acked_count * clients}, {"delivered", delivered},   {"missed", missed},
        {"duplicates", duplicates},          {"foreignEvents", foreign}, {"settled", settled}};
    result["sessions"] = {{"connects", connects}, {"replays", replays}, {"resyncs", resyncs}};
    result["ws"] = fleet.stats_json();
    co_await fleet.shutdown();
    // The server notices the last resets and closes within a moment; then nothing of the
    // clients should remain (descriptors and subscriptions back to the start's baseline).
    co_await sleep_for(ms_opt(opts, "after-wait", 3));
    samples.push_back(sample("after every client left", pid, redis_port, 0));
    result["samples"] = samples;

    if (missed) failures.push_back("soak: " + std::to_string(missed) + " deliveries missed");
    if (duplicates) failures.push_back("soak: " + std::to_string(duplicates) + " duplicates");
    if (resyncs) failures.push_back("soak: " + std::to_string(resyncs) + " resync messages");
    if (post_errors) failures.push_back("soak: " + std::to_string(post_errors) + " failed posts");
    spdlog::info(
        "soak: {} tweets acknowledged, {} clients, {} disconnects; delivered {} of {}, "
        "missed {}, duplicates {}, resyncs {}",
        acked_count, clients, cuts, delivered, acked_count * clients, missed, duplicates, resyncs);
    result["failures"] = failures;
    result["ok"] = failures.empty();
    co_return result;
}

}  // namespace chirp::bench
