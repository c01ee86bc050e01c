// The human-readable table of one scenario's JSON result (chirp-bench prints it after a run).
#include <string>

#include "scenarios.hpp"

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
    if (scenario == "drafts") {
        const auto& e = r["echoLatencyMs"];
        const auto& o = r["othersLatencyMs"];
        const auto& k = r["keystrokes"];
        const auto& p = r["pushes"];
        out += fmt::format(
            "{} drafts x {} editors, {} keystrokes/s each for {} s: {} keystrokes "
            "({} inserts, {} deletes), {} joined\n",
            num(r, "drafts", 0), num(r, "editorsPerDraft", 0), num(r, "keystrokesPerSecond", 0),
            num(r, "durationSeconds", 0), num(k, "total", 0), num(k, "inserts", 0),
            num(k, "deletes", 0), num(r["join"], "joined", 0));
        out += fmt::format("push->echo   ms: p50 {} p90 {} p99 {} max {} ({} updates)\n",
                           num(e, "p50", 2), num(e, "p90", 2), num(e, "p99", 2), num(e, "max", 1),
                           num(e, "count", 0));
        out += fmt::format("push->others ms: p50 {} p90 {} p99 {} max {} ({} deliveries)\n",
                           num(o, "p50", 2), num(o, "p90", 2), num(o, "p99", 2), num(o, "max", 1),
                           num(o, "count", 0));
        out += fmt::format(
            "pushes {} ({} updates accepted, {} per push), empty acks {}, resets {}, errors {}\n",
            num(p, "sent", 0), num(p, "updatesAccepted", 0), num(p, "updatesPerPush", 2),
            num(p, "emptyAcks", 0), num(p, "resets", 0), num(p, "errors", 0));
        out += fmt::format(
            "converged {} diverged {}, drafts with loss {}, marker mismatches {}, "
            "server cpu {}%, client cpu {}%\n",
            num(r, "converged", 0), num(r, "diverged", 0), num(r, "draftsWithLoss", 0),
            num(r, "markerMismatches", 0), num(r["server"], "cpuPercent", 0),
            num(r["client"], "cpuPercent", 0));
    } else if (scenario == "idle") {
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
