// What the chirp-bench scenarios share: see scenario_support.hpp.
#include "scenario_support.hpp"

#include <cmath>
#include <random>
#include <sstream>

#include "scan.hpp"

namespace chirp::bench::support {

using namespace std::chrono_literals;

namespace {

double ms(std::uint64_t us) {
    return std::round(static_cast<double>(us)) / 1000.0;
}

}  // namespace

std::string random_run_id() {
    static constexpr char digits[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    std::random_device rd;
    std::string id;
    for (int i = 0; i < 6; ++i) id += digits[rd() % 36];
    return id;
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

std::vector<std::string> split(const std::string& s, char sep) {
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

std::uint8_t answer_tally::record(unsigned status, time_point sent, time_point now) {
    if (status >= 200 && status < 300) {
        http.record(micros_between(sent, now));
        return 1;
    }
    ++statuses[status];
    return 2;
}

json answer_tally::statuses_json() const {
    json j = json::object();
    for (const auto& [s, c] : statuses) j[s ? std::to_string(s) : "transport"] = c;
    return j;
}

common::common(const options& opts) {
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

json common::header(const std::string& scenario) const {
    return {{"scenario", scenario},
            {"target", relay ? "relay" : "chirpd"},
            {"url", "http://" + t.host_header()},
            {"run", run},
            {"serverPid", pid ? json(*pid) : json(nullptr)}};
}

void server_probe::start(asio::any_io_executor ex) {
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

void server_probe::begin() {
    state_->begin_at = clock_type::now();
    state_->begin = state_->pid ? sample_process(*state_->pid) : std::nullopt;
    state_->peak_rss = state_->begin ? state_->begin->rss_bytes : 0;
}

json server_probe::end() const {
    auto s = now();
    if (!s || !state_->begin) return nullptr;
    const double wall = seconds_between(state_->begin_at, clock_type::now());
    const double mib = 1024.0 * 1024.0;
    return {{"cpuPercent",
             wall > 0 ? std::round(1000 * (s->cpu_seconds - state_->begin->cpu_seconds) / wall) / 10
                      : 0.0},
            {"rssStartMiB", std::round(10 * state_->begin->rss_bytes / mib) / 10},
            {"rssEndMiB", std::round(10 * s->rss_bytes / mib) / 10},
            {"rssPeakMiB", std::round(10 * std::max(state_->peak_rss, s->rss_bytes) / mib) / 10},
            {"threads", s->threads}};
}

std::uint64_t delivery_book::add(time_point sent, std::uint32_t expected) {
    sent_at_.push_back(sent);
    expected_.push_back(expected);
    received_.push_back(0);
    status_.push_back(0);
    group_of_.push_back(static_cast<std::uint16_t>(groups_.size() - 1));
    return sent_at_.size() - 1;
}

void delivery_book::on_response(std::uint64_t n, unsigned status, time_point now) {
    status_[n] = groups_[group_of_[n]]->answers.record(status, sent_at_[n], now);
}

bool delivery_book::on_frame(ws_conn& c, std::string_view frame, time_point now) {
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

std::uint64_t delivery_book::expected_in(std::size_t gi) const {
    std::uint64_t e = 0;
    for (std::size_t n = 0; n < sent_at_.size(); ++n)
        if (group_of_[n] == gi && status_[n] != 2) e += expected_[n];
    return e;
}

json delivery_book::summary(std::size_t gi, std::vector<std::string>& failures,
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
    if (failed) failures.push_back(label + ": " + std::to_string(failed) + " requests failed");
    if (lost) failures.push_back(label + ": " + std::to_string(lost) + " deliveries lost");
    if (g.duplicates)
        failures.push_back(label + ": " + std::to_string(g.duplicates) + " duplicate deliveries");
    const double span = g.first != time_point{} ? seconds_between(g.first, g.last) : 0;
    return {{"requests", sent},
            {"ok", ok},
            {"httpErrors", failed},
            {"httpStatuses", g.answers.statuses_json()},
            {"expected", expected},
            {"received", received_ok},
            {"lost", lost},
            {"duplicates", g.duplicates},
            {"unexpected", unexpected},
            {"deliverySpanSeconds", span},
            {"latencyMs", latency_json(g.latency)},
            {"httpLatencyMs", latency_json(g.answers.http)}};
}

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

}  // namespace chirp::bench::support
