// chirp-bench: Chirp's load generator. Drives a running chirpd through its public API (REST and
// /ws) on one io_context thread and reports latency percentiles, loss, duplicates, errors and the
// server's CPU and memory; `relay` is the minimal fan-out server that measures this machine's
// ceiling with the same client. See BENCHMARKS.md for the scenarios and scripts/bench.sh.
#include <sodium.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>

#include "client.hpp"
#include "histogram.hpp"
#include "options.hpp"
#include "relay.hpp"
#include "scale_summary.hpp"
#include "scan.hpp"
#include "scenarios.hpp"
#include "soak.hpp"

namespace chirp::bench {
namespace {

constexpr const char* kUsage = R"(usage: chirp-bench <command> [--option value ...]

commands
  smoke      small end-to-end run; exits 1 on any loss, duplicate or error
             --users 50 --tweets 5
  idle       open N WebSockets, time auth+subscribe, chirpd RSS per connection
             --connections 1000,10000,20000 --settle 2
  fanout     tweets at fixed rates from authors with F online followers each
             --authors 10 --followers 1000 --rates 10,50,100,200,500 --duration 20
             --max-p99-ms 100 --stop-after-failures 2 --http-conns 64
             --warmup 1 (unmeasured tweets per author before the first step)
  celebrity  fanout with one author: --followers 10000 --rates 5,10
  notify     likes at fixed rates, each notifying the tweet's author
             --rates 1000,5000 --duration 20 --authors 10 --tweets-per-author 10
  storm      N followers cut at once reconnect with jitter and `since`
             --clients 10000 --rate 5 --before 3 --after 5 --jitter 2 --timeout 60
  soak       churn: followers leave and resume with `since` while authors tweet; reports
             chirpd RSS/descriptors, Redis subscriptions, missed/duplicated (scripts/soak.sh)
             --clients 1000 --rate 5 --seconds 300 --authors 4 --stay-min 2 --stay-max 20
             --away-max 3 --settle 20 --redis-port P
  drafts     D collaborative drafts, E editors each typing K keystrokes/s (collab clients):
             push->echo and push->others latency, convergence and loss at the end
             --drafts 100 --editors 5 --keystrokes 5 --duration 20 --delete-ratio 0.1
             --max-p99-ms 20 --drain-timeout 30
  relay      minimal one-thread WebSocket fan-out server (the machine's ceiling)
             --port 8090 --frame-bytes 1400 --duration 0
  summary    one table from the JSON files in a results directory: --dir DIR
  selftest   checks of the histogram, the frame scanners and the HTTP poster

common options
  --url http://127.0.0.1:8000   chirpd (or relay) address, 127.0.0.1 only
  --json FILE                   write the result as JSON
  --dat FILE                    write ladder rows for gnuplot (rate p50 p90 p99 p999 max ...)
  --relay                       the target is `chirp-bench relay` (no setup, no API)
  --server-pid PID              sample this process (default: whoever listens on the port)
  --prefix bu --password PW     users are <prefix><i> with this password
  --seed-cmd CMD                create users and follows with
                                `CMD --seed users=N,prefix=P,password=PW[,follow=A:F]`
                                (e.g. "chirpd seed --database-url URL")
  --jwt-secret S                mint HS256 tokens instead of logging in (setup only;
                                default $CHIRP_JWT_SECRET)
  --token-cache FILE            reuse tokens between runs
  --setup-concurrency 32        REST setup requests in flight
  --connect-concurrency 256     WebSocket handshakes in flight
  --strict                      exit 1 when the run lost, duplicated or failed anything
)";

std::string selftest() {
    std::string failures = histogram_selftest() + poster_selftest();
    const std::string frame =
        R"({"channel":"timeline","event":{"payload":{"tweet":{"content":"bench ab12 345",)"
        R"("id":"9"}},"type":"TweetCreated"},"seq":"1201","type":"event"})";
    if (find_marker(frame, "bench ab12 ") != 345u) failures += "find_marker; ";
    if (find_marker(frame, "bench zz ")) failures += "find_marker matched another run; ";
    if (max_seq(frame) != 1201) failures += "max_seq; ";
    if (max_seq(R"({"seq": 7, "x": {"seq":"12"}})") != 12) failures += "max_seq nested; ";
    if (!is_event_frame(frame) || is_event_frame(R"({"type":"auth_ok"})"))
        failures += "is_event_frame; ";
    std::vector<std::uint64_t> bits;
    if (test_and_set(bits, 1000) || !test_and_set(bits, 1000) || test_bit(bits, 999))
        failures += "bitset; ";
    return failures;
}

void write_dat(const json& result, const std::string& path) {
    std::ofstream out(path);
    out << "# rate p50 p90 p99 p999 max deliveries_per_s lost server_cpu_pct\n";
    for (const auto& s : result.value("steps", json::array())) {
        if (!s.contains("latencyMs")) continue;
        const auto& l = s["latencyMs"];
        const double cpu = s.contains("server") && s["server"].is_object()
                               ? s["server"].value("cpuPercent", 0.0)
                               : 0.0;
        out << s.value("rate", 0.0) << ' ' << l.value("p50", 0.0) << ' ' << l.value("p90", 0.0)
            << ' ' << l.value("p99", 0.0) << ' ' << l.value("p999", 0.0) << ' '
            << l.value("max", 0.0) << ' ' << s.value("deliveriesPerSecond", 0.0) << ' '
            << s.value("lost", std::uint64_t{0}) << ' ' << cpu << '\n';
    }
}

json read_json(const std::string& path) {
    std::ifstream in(path);
    if (!in) return nullptr;
    auto j = json::parse(in, nullptr, false);
    return j.is_discarded() ? json(nullptr) : j;
}

std::string fmt_num(const json& j, const char* key, int decimals = 1) {
    if (!j.is_object() || !j.contains(key) || j[key].is_null()) return "-";
    if (j[key].is_number()) return fmt::format("{:.{}f}", j[key].get<double>(), decimals);
    return j[key].dump();
}

// Whether a ladder result passed the highest rate it ran: its capacity is then only a lower
// bound (the ladder ended, not the server).
bool passed_top(const json& j) {
    if (!j.is_object() || !j.contains("steps") || j["steps"].empty()) return false;
    double top = 0;
    for (const auto& s : j["steps"]) top = std::max(top, s.value("rate", 0.0));
    return top > 0 && j.value("capacityTweetsPerSecond", 0.0) >= top;
}

// Issue 5's targets against the results in `dir` (only those the run measured).
std::string targets(const std::string& dir) {
    std::string out = fmt::format("\n{:<58} {:>14} {:>5}\n", "target (issue 5)", "measured", "met");
    auto line = [&](const std::string& what, std::optional<double> v, bool met, int decimals = 1) {
        out += fmt::format("{:<58} {:>14} {:>5}\n", what,
                           v ? fmt::format("{:.{}f}", *v, decimals) : std::string("-"),
                           v ? (met ? "yes" : "NO") : "-");
    };
    auto step_at = [](const json& j, double rate) -> const json* {
        if (!j.is_object() || !j.contains("steps")) return nullptr;
        for (const auto& s : j["steps"])
            if (s.value("rate", 0.0) == rate) return &s;
        return nullptr;
    };
    auto clean = [](const json& s) {
        return s.value("lost", 0) == 0 && s.value("duplicates", 0) == 0 &&
               s.value("httpErrors", 0) == 0;
    };
    if (auto idle = read_json(dir + "/idle.json"); idle.is_object()) {
        for (const auto& s : idle["steps"]) {
            const auto n = s.value("connections", 0);
            if (n == 10000) {
                const double secs = s["connect"].value("seconds", 0.0);
                line("10,000 connections subscribed in <= 5 s (s)", secs,
                     secs <= 5 && s["connect"].value("failed", 1) == 0, 2);
            }
            if (n >= 10000 && s.contains("rssPerConnectionKiB")) {
                const double kib = s.value("rssPerConnectionKiB", 0.0);
                line(fmt::format("<= 8 KiB chirpd RSS per idle connection at {} (KiB)", n), kib,
                     kib <= 8, 2);
            }
            if (n >= 19000)
                line(fmt::format("{} connections held without errors (failed)", n),
                     s["connect"].value("failed", 0.0),
                     s["connect"].value("failed", 1) == 0 && s.value("stillLive", 0) == n, 0);
        }
    }
    auto fan = read_json(dir + "/fanout.json");
    auto fan_relay = read_json(dir + "/fanout-relay.json");
    if (const json* s = step_at(fan, 10)) {
        const double p99 = (*s)["latencyMs"].value("p99", 0.0);
        line("fan-out p99 <= 15 ms at 10 tweets/s x 1,000 (ms)", p99, p99 <= 15 && clean(*s), 2);
    }
    if (fan.is_object()) {
        const double cap = fan.value("capacityTweetsPerSecond", 0.0);
        line("fan-out capacity >= 50 tweets/s x 1,000 (tweets/s)", cap, cap >= 50, 0);
        if (fan_relay.is_object() && fan_relay.value("capacityTweetsPerSecond", 0.0) > 0) {
            const double pct = 100 * cap / fan_relay.value("capacityTweetsPerSecond", 1.0);
            line("fan-out capacity >= 70 % of the relay's (%)", pct, pct >= 70, 0);
        }
    }
    const auto celeb = read_json(dir + "/celebrity.json");
    if (const json* s = step_at(celeb, 5)) {
        const double p99 = (*s)["latencyMs"].value("p99", 0.0);
        line("celebrity p99 <= 50 ms at 5 tweets/s x 10,000 (ms)", p99, p99 <= 50 && clean(*s), 2);
    }
    const auto notify = read_json(dir + "/notify.json");
    if (const json* s = step_at(notify, 5000)) {
        const double p99 = (*s)["latencyMs"].value("p99", 0.0);
        line("notifications p99 <= 50 ms at 5,000 likes/s (ms)", p99, p99 <= 50 && clean(*s), 2);
    }
    if (auto st = read_json(dir + "/storm.json"); st.is_object()) {
        const double secs = st.value("secondsUntilAllCurrent", 0.0);
        line(fmt::format("storm: all {} current within 10 s (s)", st.value("clients", 0)), secs,
             secs <= 10 && st.value("allCurrent", false), 2);
        line("storm: nothing missed, nothing twice (missed + dup)",
             st.value("missed", 0.0) + st.value("duplicates", 0.0),
             st.value("missed", 0) == 0 && st.value("duplicates", 0) == 0, 0);
    }
    if (auto d = read_json(dir + "/drafts.json"); d.is_object() && d.contains("echoLatencyMs")) {
        const bool clean = d.value("diverged", 1) == 0 && d.value("draftsWithLoss", 1) == 0 &&
                           d.value("markerMismatches", 1) == 0 && d.value("ok", false);
        const double echo = d["echoLatencyMs"].value("p99", 0.0);
        const double others = d["othersLatencyMs"].value("p99", 0.0);
        const auto shape =
            fmt::format("{}x{}", d.value("drafts", 0), d.value("editorsPerDraft", 0));
        line(fmt::format("drafts {}: push->echo p99 <= 20 ms (ms)", shape), echo, echo <= 20, 2);
        line(fmt::format("drafts {}: push->others p99 <= 20 ms (ms)", shape), others, others <= 20,
             2);
        line("drafts: no loss, all converged (diverged + lossy)",
             d.value("diverged", 0.0) + d.value("draftsWithLoss", 0.0), clean, 0);
    }
    if (auto w = read_json(dir + "/wrk-timeline.json"); w.is_object()) {
        const double rps = w.value("requestsPerSecond", 0.0), p99 = w.value("p99Ms", 0.0);
        line("GET /api/timeline >= 15,000 requests/s", rps,
             rps >= 15000 && w.value("non2xx", 0) == 0, 0);
        line("GET /api/timeline p99 <= 10 ms (ms)", p99, p99 <= 10, 2);
    }
    return out;
}

int summary(const options& opts) {
    const auto dir = opts.str("dir", "bench-results/latest");
    std::string out;
    out += fmt::format("{:<44} {:>14} {:>14} {:>10}\n", "measure", "chirpd", "relay", "% of relay");
    auto row = [&](const std::string& what, const std::string& a, const std::string& b,
                   const std::string& pct) {
        out += fmt::format("{:<44} {:>14} {:>14} {:>10}\n", what, a, b, pct);
    };
    auto idle = read_json(dir + "/idle.json");
    auto idle_relay = read_json(dir + "/idle-relay.json");
    if (idle.is_object()) {
        for (const auto& s : idle["steps"]) {
            const auto n = s.value("connections", 0);
            json rs;
            if (idle_relay.is_object())
                for (const auto& r : idle_relay["steps"])
                    if (r.value("connections", 0) == n) rs = r;
            row(fmt::format("idle {:>5}: seconds to subscribe all", n),
                fmt_num(s["connect"], "seconds", 2),
                rs.is_object() ? fmt_num(rs["connect"], "seconds", 2) : "-", "");
            row(fmt::format("idle {:>5}: subscribed", n), fmt_num(s["connect"], "subscribed", 0),
                rs.is_object() ? fmt_num(rs["connect"], "subscribed", 0) : "-", "");
            row(fmt::format("idle {:>5}: server RSS KiB per connection", n),
                fmt_num(s, "rssPerConnectionKiB", 2),
                rs.is_object() ? fmt_num(rs, "rssPerConnectionKiB", 2) : "-", "");
        }
    }
    for (const char* name : {"fanout", "celebrity"}) {
        auto a = read_json(dir + "/" + name + ".json");
        auto b = read_json(dir + "/" + name + "-relay.json");
        if (!a.is_object() && !b.is_object()) continue;
        const auto F = a.is_object() ? a.value("followers", 0) : b.value("followers", 0);
        std::map<double, std::pair<json, json>> by_rate;
        if (a.is_object())
            for (const auto& s : a["steps"]) by_rate[s.value("rate", 0.0)].first = s;
        if (b.is_object())
            for (const auto& s : b["steps"]) by_rate[s.value("rate", 0.0)].second = s;
        for (const auto& [rate, pr] : by_rate) {
            auto cell = [](const json& s) {
                if (!s.is_object()) return std::string("-");
                return fmt::format(
                    "{}/{}/{}{}{}", fmt_num(s["latencyMs"], "p50", 1),
                    fmt_num(s["latencyMs"], "p99", 1), fmt_num(s["latencyMs"], "max", 0),
                    s.value("lost", 0) ? " L" : "", s.value("duplicates", 0) ? " D" : "");
            };
            row(fmt::format("{} F={} R={:>4}: p50/p99/max ms", name, F, rate), cell(pr.first),
                cell(pr.second), "");
        }
        // Capacity as the scenario defines it (the highest passing rate of the ladder), for
        // chirpd, the relay, and chirpd's as a percentage of the relay's. A side that passed the
        // top rate it ran is marked "+" (its capacity is at least that), which makes the ratio
        // a bound: ">=" when only chirpd passed the top, "<=" when only the relay did.
        const double ca = a.is_object() ? a.value("capacityTweetsPerSecond", 0.0) : 0.0;
        const double cb = b.is_object() ? b.value("capacityTweetsPerSecond", 0.0) : 0.0;
        const bool ta = passed_top(a), tb = passed_top(b);
        std::string ratio = "-";
        if (a.is_object() && cb > 0) {
            const auto pct = fmt::format("{:.0f} %", 100 * ca / cb);
            ratio = ta && tb ? "n/a (top)" : ta ? ">= " + pct : tb ? "<= " + pct : pct;
        }
        row(fmt::format("{} capacity (tweets/s, p99<=limit, 0 loss)", name),
            a.is_object() ? fmt::format("{:.0f}{}", ca, ta ? "+" : "") : "-",
            b.is_object() ? fmt::format("{:.0f}{}", cb, tb ? "+" : "") : "-", ratio);
    }
    if (auto n = read_json(dir + "/notify.json"); n.is_object()) {
        for (const auto& s : n["steps"])
            row(fmt::format("notify {:>5} likes/s: p50/p99/max ms", s.value("rate", 0.0)),
                fmt::format("{}/{}/{}{}", fmt_num(s["latencyMs"], "p50"),
                            fmt_num(s["latencyMs"], "p99"), fmt_num(s["latencyMs"], "max", 0),
                            s.value("lost", 0) ? " L" : ""),
                "-", "");
    }
    if (auto s = read_json(dir + "/storm.json"); s.is_object()) {
        row(fmt::format("storm {}: seconds until all current", s.value("clients", 0)),
            fmt_num(s, "secondsUntilAllCurrent", 2), "-", "");
        row("storm: missed / duplicates",
            fmt::format("{} / {}", s.value("missed", 0), s.value("duplicates", 0)), "-", "");
    }
    if (auto d = read_json(dir + "/drafts.json"); d.is_object() && d.contains("echoLatencyMs")) {
        for (const char* k : {"echoLatencyMs", "othersLatencyMs"})
            row(fmt::format("drafts {}x{} {}: p50/p99/max ms", d.value("drafts", 0),
                            d.value("editorsPerDraft", 0),
                            std::string(k) == "echoLatencyMs" ? "echo" : "others"),
                fmt::format("{}/{}/{}", fmt_num(d[k], "p50", 2), fmt_num(d[k], "p99", 2),
                            fmt_num(d[k], "max", 0)),
                "-", "");
        row("drafts: converged / diverged / resets",
            fmt::format("{} / {} / {}", d.value("converged", 0), d.value("diverged", 0),
                        d["pushes"].value("resets", 0)),
            "-", "");
    }
    if (auto w = read_json(dir + "/wrk-timeline.json"); w.is_object()) {
        row("GET /api/timeline requests/s", fmt_num(w, "requestsPerSecond", 0), "-", "");
        row("GET /api/timeline p99 ms", fmt_num(w, "p99Ms", 2), "-", "");
    }
    // chirpd bench-append: {"saturation": {eventsPerSecond, latencyMs}, "fixedRate": {...}};
    // append.json: TweetCreated, append-like.json: TweetLiked (--bench-type like).
    for (const auto& [file, label] : {std::pair<std::string, std::string>{"append", "append"},
                                      {"append-like", "append likes"}}) {
        auto e = read_json(dir + "/" + file + ".json");
        if (!e.is_object()) continue;
        if (e.contains("saturation") && e["saturation"].is_object()) {
            const auto& s = e["saturation"];
            row(label + ": events/s (saturated, group commit)", fmt_num(s, "eventsPerSecond", 0),
                "-", "");
            if (s.contains("latencyMs"))
                row(label + ": saturated p50/p99 ms",
                    fmt::format("{}/{}", fmt_num(s["latencyMs"], "p50"),
                                fmt_num(s["latencyMs"], "p99")),
                    "-", "");
        }
        if (e.contains("fixedRate") && e["fixedRate"].is_object() &&
            e["fixedRate"].contains("latencyMs")) {
            const auto& f = e["fixedRate"];
            row(fmt::format("{} at {}/s: p50/p99/max ms", label, fmt_num(f, "rate", 0)),
                fmt::format("{}/{}/{}", fmt_num(f["latencyMs"], "p50", 2),
                            fmt_num(f["latencyMs"], "p99", 2), fmt_num(f["latencyMs"], "max", 1)),
                "-", "");
        }
    }
    out += scale_summary(dir);
    out += targets(dir);
    std::fputs(out.c_str(), stdout);
    return 0;
}

int run(int argc, char** argv) {
    if (argc < 2 || std::string_view(argv[1]) == "--help" || std::string_view(argv[1]) == "help") {
        std::fputs(kUsage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const std::string cmd = argv[1];
    options opts(argc, argv, 2);
    spdlog::set_pattern("%H:%M:%S.%e %^%l%$ %v");
    if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialise");
    if (cmd == "selftest") {
        const auto failures = selftest();
        if (!failures.empty()) {
            std::printf("selftest FAILED: %s\n", failures.c_str());
            std::printf("0 passed, 1 failed\n");
            return 1;
        }
        std::printf("selftest: histogram, scanners and poster ok\n");
        return 0;
    }
    if (cmd == "relay") return run_relay(opts);
    if (cmd == "summary") return summary(opts);

    asio::awaitable<json> (*scenario)(const options&) = nullptr;
    if (cmd == "idle")
        scenario = scenario_idle;
    else if (cmd == "fanout")
        scenario = [](const options& o) { return scenario_fanout(o, false); };
    else if (cmd == "celebrity")
        scenario = [](const options& o) { return scenario_fanout(o, true); };
    else if (cmd == "notify")
        scenario = scenario_notify;
    else if (cmd == "storm")
        scenario = scenario_storm;
    else if (cmd == "smoke")
        scenario = scenario_smoke;
    else if (cmd == "soak")
        scenario = scenario_soak;
    else if (cmd == "drafts")
        scenario = scenario_drafts;
    else
        throw std::invalid_argument("unknown command: " + cmd);

    const auto json_path = opts.str("json");
    const auto dat_path = opts.str("dat");
    const bool strict = opts.flag("strict") || cmd == "smoke";
    asio::io_context ioc(1);
    json result;
    std::exception_ptr error;
    asio::co_spawn(ioc, scenario(opts), [&](std::exception_ptr e, json r) {
        error = e;
        result = std::move(r);
    });
    ioc.run();
    for (const auto& k : opts.unused()) spdlog::warn("unknown option --{} (ignored)", k);
    if (error) std::rethrow_exception(error);
    std::fputs(format_table(result).c_str(), stdout);
    if (!json_path.empty()) std::ofstream(json_path) << result.dump(2) << "\n";
    if (!dat_path.empty()) write_dat(result, dat_path);
    const bool ok = result.value("ok", false);
    if (!ok) {
        for (const auto& f : result["failures"])
            std::printf("FAILURE: %s\n", f.get<std::string>().c_str());
    }
    return strict && !ok ? 1 : 0;
}

}  // namespace
}  // namespace chirp::bench

int main(int argc, char** argv) {
    try {
        return chirp::bench::run(argc, argv);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "chirp-bench: %s\n", e.what());
        return 2;
    }
}
