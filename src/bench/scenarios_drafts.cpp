// chirp-bench's collaborative drafts scenario (issue 11 "Performance", see BENCHMARKS.md):
// D drafts with E editors each (distinct users: the owner creates the draft over REST and
// invites the others), every editor joined over /ws and typing K keystrokes per second for the
// duration. Each editor is a @codemirror/collab client: its state is the confirmed text at its
// version plus its unconfirmed updates; at most one push is in flight (all unconfirmed updates,
// against its version); received updates are taken one at a time (version k == mine + 1), its
// own echo confirms the oldest unconfirmed update, another client's update is applied to the
// confirmed text and the unconfirmed updates are rebased over it with collab::rebase_updates
// (the C++ port of @codemirror/collab's rebaseUpdates that chirpd uses too).
//
// Measured: push -> own echo (the time from sending the push that first carried an update to its
// draft_update echo), and push -> the other editors' draft_update of the same update (an update
// is identified by its clientID and its index among that client's updates, which the server
// accepts in order and exactly once). Checked at the end: every editor's text and version equal
// GET /api/drafts/{id}; the draft's version equals the keystrokes typed into it (one update each:
// none lost, none twice); every editor types its own letters and deletes only its own letters
// (so concurrent deletes never collapse), and the final text holds exactly inserts - deletes of
// each editor's letters.
#include <unistd.h>

#include <algorithm>
#include <deque>
#include <random>

#include "chirp/collab/changeset.hpp"
#include "scenario_support.hpp"
#include "scenarios.hpp"

namespace chirp::bench {

using namespace std::chrono_literals;
using namespace support;

namespace {

struct editor {
    std::size_t index = 0, draft = 0, slot = 0;
    std::string token, client_id;
    std::unique_ptr<websocket::stream<beast::tcp_stream>> ws;
    beast::flat_buffer buffer;
    std::deque<std::string> out;
    bool writing = false, joined = false, rejoining = false, in_flight = false;
    // The collab state: the confirmed text at `version`, the unconfirmed updates (with their
    // own sequence numbers) and the local text = confirmed + unconfirmed.
    std::u16string confirmed, local;
    std::uint64_t version = 0;
    std::vector<collab::update> unconfirmed;
    std::deque<std::uint64_t> unconfirmed_seq;
    std::vector<time_point> sent_at;                 // by own sequence number: when first pushed
    std::map<std::string, std::uint64_t> seen_from;  // clientID -> updates of it applied
    std::uint64_t inserts = 0, deletes = 0;
    std::mt19937_64 rng;
};

struct counters {
    std::uint64_t pushes = 0, acks = 0, accepted = 0, empty_acks = 0, resets = 0, errors = 0,
                  gaps = 0, stale = 0, echo_mismatch = 0, unmatched_echo = 0, rebase_failed = 0,
                  apply_failed = 0, unexpected_closes = 0;
    std::map<std::string, std::uint64_t> reset_codes;
    latency_histogram echo, others;
    double max_tick_lag_ms = 0;
};

// Editor k of a draft types these letters (and deletes only these).
char16_t letter_of(std::size_t slot, std::uint64_t n) {
    static constexpr std::u16string_view kLetters =
        u"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    const std::size_t per = 5;
    return kLetters[(slot * per + n % per) % kLetters.size()];
}
bool is_letter_of(std::size_t slot, char16_t ch) {
    for (std::uint64_t n = 0; n < 5; ++n)
        if (letter_of(slot, n) == ch) return true;
    return false;
}

std::string to_utf8(const std::u16string& s) {
    auto r = collab::utf16_to_utf8(s);
    return r ? *r : std::string("<ill-formed>");
}

class drafts_run {
public:
    drafts_run(asio::any_io_executor ex, const target& t) : ex_(ex), t_(t) {}

    std::vector<std::unique_ptr<editor>> editors;
    std::vector<std::string> draft_ids;
    std::map<std::string, std::size_t> by_client;
    counters n;
    std::size_t running = 0, joined = 0;
    bool stopping = false;

    void send(editor& e, std::string s) {
        e.out.push_back(std::move(s));
        if (e.writing) return;
        e.writing = true;
        ++running;
        asio::co_spawn(ex_, write_loop(e), asio::detached);
    }

    asio::awaitable<void> write_loop(editor& e) {
        while (!e.out.empty() && e.ws) {
            const std::string s = std::move(e.out.front());
            e.out.pop_front();
            auto [ec, sent] = co_await e.ws->async_write(asio::buffer(s), use_tuple);
            if (ec) {
                e.out.clear();
                break;
            }
        }
        e.writing = false;
        --running;
    }

    // Pushes every unconfirmed update when no push is in flight.
    void try_push(editor& e) {
        if (!e.joined || e.rejoining || e.in_flight || e.unconfirmed.empty()) return;
        json updates = json::array();
        const auto now = clock_type::now();
        for (std::size_t i = 0; i < e.unconfirmed.size(); ++i) {
            updates.push_back(
                json{{"clientID", e.client_id}, {"changes", e.unconfirmed[i].changes.to_json()}});
            auto& at = e.sent_at[e.unconfirmed_seq[i]];
            if (at == time_point{}) at = now;
        }
        e.in_flight = true;
        ++n.pushes;
        send(e, json{{"type", "draft_push"},
                     {"draft", draft_ids[e.draft]},
                     {"version", e.version},
                     {"updates", updates}}
                    .dump());
    }

    void rebuild_local(editor& e) {
        e.local = e.confirmed;
        for (const auto& u : e.unconfirmed) {
            auto r = u.changes.apply(e.local);
            if (!r) {
                ++n.apply_failed;
                return;
            }
            e.local = std::move(*r);
        }
    }

    // One typed keystroke: an insert of one of the editor's letters at a random position, or
    // (delete_ratio of the time, when it has letters in the text) the delete of one of them.
    void keystroke(editor& e, double delete_ratio, std::size_t max_len) {
        if (!e.joined) return;
        const auto len = static_cast<std::int64_t>(e.local.size());
        std::uniform_real_distribution<double> coin(0, 1);
        std::vector<std::int64_t> mine;
        const bool want_delete = coin(e.rng) < delete_ratio || e.local.size() + 1 >= max_len;
        if (want_delete)
            for (std::size_t i = 0; i < e.local.size(); ++i)
                if (is_letter_of(e.slot, e.local[i])) mine.push_back(static_cast<std::int64_t>(i));
        if (want_delete && mine.empty() && e.local.size() + 1 >= max_len) return;
        json changes = json::array();
        if (!mine.empty()) {
            const auto p =
                mine[std::uniform_int_distribution<std::size_t>(0, mine.size() - 1)(e.rng)];
            if (p > 0) changes.push_back(p);
            changes.push_back(json::array({1}));
            if (len - p - 1 > 0) changes.push_back(len - p - 1);
            ++e.deletes;
        } else {
            const auto p = std::uniform_int_distribution<std::int64_t>(0, len)(e.rng);
            const char16_t ch = letter_of(e.slot, e.inserts);
            if (p > 0) changes.push_back(p);
            changes.push_back(json::array({0, std::string(1, static_cast<char>(ch))}));
            if (len - p > 0) changes.push_back(len - p);
            ++e.inserts;
        }
        auto cs = collab::changeset::from_json(changes);
        if (!cs) throw std::logic_error("bench built a bad change set: " + cs.error().message);
        auto next = cs->apply(e.local);
        if (!next) throw std::logic_error("bench change set does not fit: " + next.error().message);
        e.local = std::move(*next);
        e.unconfirmed.push_back(collab::update{e.client_id, std::move(*cs)});
        e.unconfirmed_seq.push_back(e.sent_at.size());
        e.sent_at.push_back(time_point{});
        try_push(e);
    }

    void rejoin(editor& e) {
        e.rejoining = true;
        send(e, json{{"type", "draft_join"}, {"draft", draft_ids[e.draft]}, {"version", e.version}}
                    .dump());
    }

    // A draft_update (or an update of a re-join's draft_state), taken alone.
    void receive(editor& e, const json& msg, time_point now) {
        const auto k = msg.value("version", std::uint64_t{0});
        if (k <= e.version) {
            ++n.stale;
            return;
        }
        if (k > e.version + 1) {
            if (!e.rejoining) {
                ++n.gaps;
                rejoin(e);
            }
            return;
        }
        auto cs = collab::changeset::from_json(msg.at("changes"));
        if (!cs) {
            ++n.apply_failed;
            return;
        }
        auto next = cs->apply(e.confirmed);
        if (!next) {
            ++n.apply_failed;
            return;
        }
        e.confirmed = std::move(*next);
        e.version = k;
        const auto client = msg.value("clientID", std::string{});
        if (client == e.client_id) {
            if (e.unconfirmed.empty()) {
                ++n.unmatched_echo;
                rebuild_local(e);
                return;
            }
            if (!(e.unconfirmed.front().changes == *cs)) ++n.echo_mismatch;
            n.echo.record(micros_between(e.sent_at[e.unconfirmed_seq.front()], now));
            e.unconfirmed.erase(e.unconfirmed.begin());
            e.unconfirmed_seq.pop_front();
            // Confirming changes nothing locally: confirmed + the rest is the same text.
            const auto before = e.local;
            rebuild_local(e);
            if (e.local != before) ++n.echo_mismatch;
            return;
        }
        if (!e.unconfirmed.empty()) {
            const collab::update over{client, std::move(*cs)};
            auto r = collab::rebase_updates(std::move(e.unconfirmed), std::span(&over, 1));
            if (!r) {
                ++n.rebase_failed;
                e.unconfirmed.clear();
                e.unconfirmed_seq.clear();
            } else {
                e.unconfirmed = std::move(*r);
            }
        }
        rebuild_local(e);
        const auto seq = e.seen_from[client]++;
        if (auto it = by_client.find(client); it != by_client.end()) {
            const auto& sender = *editors[it->second];
            if (seq < sender.sent_at.size() && sender.sent_at[seq] != time_point{})
                n.others.record(micros_between(sender.sent_at[seq], now));
        }
    }

    void reset_to(editor& e, const json& msg) {
        auto text = collab::utf8_to_utf16(msg.value("text", std::string{}));
        e.confirmed = text ? *text : std::u16string{};
        e.local = e.confirmed;
        e.version = msg.value("version", std::uint64_t{0});
        e.unconfirmed.clear();
        e.unconfirmed_seq.clear();
        e.in_flight = false;
    }

    void on_frame(editor& e, std::string_view frame, time_point now) {
        const json msg = json::parse(frame, nullptr, false);
        if (msg.is_discarded() || !msg.is_object()) return;
        const auto type = msg.value("type", std::string{});
        if (type == "draft_update") {
            receive(e, msg, now);
        } else if (type == "draft_pushed") {
            ++n.acks;
            const auto m = msg.value("accepted", std::uint64_t{0});
            n.accepted += m;
            if (m == 0) ++n.empty_acks;
            e.in_flight = false;
            try_push(e);
        } else if (type == "draft_state") {
            if (!e.joined) {
                reset_to(e, msg);
                e.joined = true;
                ++joined;
            } else if (msg.contains("updates")) {
                for (const auto& u : msg["updates"]) receive(e, u, now);
            } else {
                ++n.resets;
                ++n.reset_codes["rejoin without updates"];
                reset_to(e, msg);
            }
            e.rejoining = false;
            try_push(e);
        } else if (type == "draft_reset") {
            ++n.resets;
            ++n.reset_codes[msg.value("code", std::string("?"))];
            if (n.resets <= 5) spdlog::warn("draft_reset: {}", frame.substr(0, 300));
            reset_to(e, msg);
        } else if (type == "auth_ok") {
            send(e, json{{"type", "draft_join"}, {"draft", draft_ids[e.draft]}}.dump());
        } else if (type == "error") {
            if (n.errors++ < 5) spdlog::warn("server error message: {}", frame.substr(0, 300));
        }
    }

    asio::awaitable<void> reader(editor& e) {
        ++running;
        e.ws = std::make_unique<websocket::stream<beast::tcp_stream>>(ex_);
        auto& s = beast::get_lowest_layer(*e.ws);
        s.expires_after(15s);
        auto [cec] = co_await s.async_connect(t_.endpoint, use_tuple);
        error_code ec = cec;
        if (!ec) {
            s.socket().set_option(tcp::no_delay(true));
            s.expires_never();
            e.ws->set_option(websocket::stream_base::timeout::suggested(beast::role_type::client));
            e.ws->read_message_max(1024 * 1024);
            e.ws->text(true);
            std::tie(ec) = co_await e.ws->async_handshake(t_.host_header(), "/ws", use_tuple);
        }
        if (!ec) send(e, json{{"type", "auth"}, {"token", e.token}}.dump());
        while (!ec) {
            std::size_t bytes = 0;
            std::tie(ec, bytes) = co_await e.ws->async_read(e.buffer, use_tuple);
            if (ec) break;
            const auto now = clock_type::now();
            on_frame(
                e,
                std::string_view(static_cast<const char*>(e.buffer.data().data()), e.buffer.size()),
                now);
            e.buffer.consume(e.buffer.size());
        }
        if (!stopping) {
            ++n.unexpected_closes;
            spdlog::warn("editor {} lost its WebSocket: {}", e.index, ec.message());
        }
        --running;
    }

    asio::awaitable<void> typist(editor& e, time_point start, time_point end,
                                 std::chrono::microseconds period, double delete_ratio,
                                 std::size_t max_len) {
        ++running;
        asio::steady_timer timer(ex_);
        auto next = start + std::chrono::microseconds(std::uniform_int_distribution<std::int64_t>(
                                0, period.count() - 1)(e.rng));
        while (next < end && !stopping) {
            timer.expires_at(next);
            co_await timer.async_wait(use_tuple);
            const double lag = static_cast<double>(micros_between(next, clock_type::now())) / 1000;
            n.max_tick_lag_ms = std::max(n.max_tick_lag_ms, lag);
            keystroke(e, delete_ratio, max_len);
            next += period;
        }
        --running;
    }

    void close_all() {
        stopping = true;
        for (auto& e : editors) {
            if (!e->ws) continue;
            auto& sock = beast::get_lowest_layer(*e->ws).socket();
            error_code ignored;
            sock.set_option(asio::socket_base::linger(true, 0), ignored);
            sock.close(ignored);
        }
    }

private:
    asio::any_io_executor ex_;
    const target& t_;
};

// The letters of `slot` in `text`.
std::uint64_t count_letters(const std::u16string& text, std::size_t slot) {
    return static_cast<std::uint64_t>(std::count_if(
        text.begin(), text.end(), [&](char16_t ch) { return is_letter_of(slot, ch); }));
}

}  // namespace

asio::awaitable<json> scenario_drafts(const options& opts) {
    common c(opts);
    auto ex = co_await asio::this_coro::executor;
    const auto drafts = static_cast<std::size_t>(opts.integer("drafts", 100));
    const auto per = static_cast<std::size_t>(opts.integer("editors", 5));
    const double rate = opts.number("keystrokes", 5);
    const double duration = opts.number("duration", 20);
    const double delete_ratio = opts.number("delete-ratio", 0.1);
    const auto max_len = static_cast<std::size_t>(opts.integer("max-length", 900));
    const double p99_limit = opts.number("max-p99-ms", 20);
    const auto drain_timeout = seconds_opt(opts, "drain-timeout", 30);
    const auto seed = static_cast<std::uint64_t>(opts.integer("seed", 1));
    if (per < 1 || per > 10) throw std::invalid_argument("--editors must be 1..10");

    json result = c.header("drafts");
    result["drafts"] = drafts;
    result["editorsPerDraft"] = per;
    result["keystrokesPerSecond"] = rate;
    result["durationSeconds"] = duration;
    result["deleteRatio"] = delete_ratio;
    result["maxP99Ms"] = p99_limit;
    json setup;
    const std::vector<follow_range> no_follows;
    auto pop = co_await setup_population(c.t, c.so, drafts * per, no_follows, setup);
    result["setup"] = setup;

    // The drafts: the owner (editor 0) creates it and invites the others.
    drafts_run run(ex, c.t);
    run.draft_ids.assign(drafts, std::string{});
    const auto created_at = clock_type::now();
    std::vector<std::string> setup_errors;
    co_await run_parallel(
        c.t, drafts, c.so.concurrency,
        [&](http_conn& conn, std::size_t d) -> asio::awaitable<void> {
            const auto& owner = pop.tokens[d * per];
            auto r = co_await conn.request(http::verb::post, "/api/drafts", "{}", owner);
            if (r.status != 201) {
                setup_errors.push_back("POST /api/drafts: " + std::to_string(r.status) + " " +
                                       r.body);
                co_return;
            }
            run.draft_ids[d] = json::parse(r.body).at("id").get<std::string>();
            for (std::size_t k = 1; k < per; ++k) {
                const std::string body = json{{"handle", pop.handle(d * per + k)}}.dump();
                auto a = co_await conn.request(http::verb::post,
                                               "/api/drafts/" + run.draft_ids[d] + "/collaborators",
                                               body, owner);
                if (a.status != 200)
                    setup_errors.push_back("invite: " + std::to_string(a.status) + " " + a.body);
            }
        });
    if (!setup_errors.empty())
        throw std::runtime_error("cannot create the drafts: " + setup_errors.front());
    result["createSeconds"] = seconds_between(created_at, clock_type::now());

    for (std::size_t d = 0; d < drafts; ++d)
        for (std::size_t k = 0; k < per; ++k) {
            auto e = std::make_unique<editor>();
            e->index = run.editors.size();
            e->draft = d;
            e->slot = k;
            e->token = pop.tokens[d * per + k];
            e->client_id = fmt::format("{}-{}-{}", c.run, d, k);
            e->rng.seed(seed * 1000003 + e->index);
            run.by_client[e->client_id] = e->index;
            run.editors.push_back(std::move(e));
        }

    server_probe probe(c.pid);
    server_probe self(static_cast<int>(::getpid()));
    probe.start(ex);
    const auto join_start = clock_type::now();
    for (auto& e : run.editors) asio::co_spawn(ex, run.reader(*e), asio::detached);
    const bool all_joined = co_await poll_until(
        [&] { return run.joined == run.editors.size() || run.n.unexpected_closes > 0; },
        c.connect_timeout, 10ms);
    result["join"] = {{"wanted", run.editors.size()},
                      {"joined", run.joined},
                      {"seconds", seconds_between(join_start, clock_type::now())}};
    if (!all_joined || run.joined != run.editors.size())
        c.failures.push_back(
            fmt::format("only {} of {} editors joined", run.joined, run.editors.size()));

    // Typing.
    const auto period = std::chrono::microseconds(static_cast<std::int64_t>(1e6 / rate));
    const auto start = clock_type::now() + 50ms;
    const auto end = start + std::chrono::microseconds(static_cast<std::int64_t>(duration * 1e6));
    probe.begin();
    self.begin();
    for (auto& e : run.editors)
        asio::co_spawn(ex, run.typist(*e, start, end, period, delete_ratio, max_len),
                       asio::detached);
    co_await sleep_for(end - clock_type::now());
    const auto server = probe.end();
    const auto client = self.end();

    // Drain: every editor confirmed everything and every editor of a draft at one version.
    auto settled = [&] {
        for (std::size_t d = 0; d < drafts; ++d)
            for (std::size_t k = 0; k < per; ++k) {
                const auto& e = *run.editors[d * per + k];
                if (e.in_flight || !e.unconfirmed.empty() || e.rejoining ||
                    e.version != run.editors[d * per]->version)
                    return false;
            }
        return true;
    };
    const auto drain_start = clock_type::now();
    const bool drained = co_await poll_until(settled, drain_timeout, 10ms);
    result["drainSeconds"] = seconds_between(drain_start, clock_type::now());
    if (!drained) c.failures.push_back("not every editor settled within the drain timeout");

    // The server's text of every draft.
    std::vector<json> server_drafts(drafts);
    co_await run_parallel(c.t, drafts, c.so.concurrency,
                          [&](http_conn& conn, std::size_t d) -> asio::awaitable<void> {
                              auto r = co_await conn.request(http::verb::get,
                                                             "/api/drafts/" + run.draft_ids[d], {},
                                                             pop.tokens[d * per]);
                              if (r.ok()) server_drafts[d] = json::parse(r.body, nullptr, false);
                          });
    run.close_all();
    co_await poll_until([&] { return run.running == 0; }, 30s, 10ms);

    std::uint64_t converged = 0, diverged = 0, lost = 0, marker_mismatches = 0, keystrokes = 0,
                  inserts = 0, deletes = 0, max_length = 0, unreadable = 0;
    for (std::size_t d = 0; d < drafts; ++d) {
        const auto& sd = server_drafts[d];
        if (!sd.is_object() || !sd.contains("text")) {
            ++unreadable;
            continue;
        }
        auto text = collab::utf8_to_utf16(sd["text"].get<std::string>());
        const auto version = sd.value("version", std::uint64_t{0});
        const std::u16string server_text = text ? *text : std::u16string{};
        bool same = true;
        std::uint64_t typed = 0, ins = 0, del = 0;
        for (std::size_t k = 0; k < per; ++k) {
            const auto& e = *run.editors[d * per + k];
            if (e.local != server_text || e.version != version) {
                same = false;
                if (diverged < 3)
                    spdlog::warn("draft {} editor {}: v{} '{}' vs server v{} '{}'",
                                 run.draft_ids[d], k, e.version, to_utf8(e.local), version,
                                 to_utf8(server_text));
            }
            typed += e.inserts + e.deletes;
            ins += e.inserts;
            del += e.deletes;
            if (count_letters(server_text, k) != e.inserts - e.deletes) ++marker_mismatches;
        }
        same ? ++converged : ++diverged;
        // One update per keystroke: the version counts them, none lost, none twice.
        if (version != typed || server_text.size() != ins - del) ++lost;
        keystrokes += typed;
        inserts += ins;
        deletes += del;
        max_length = std::max<std::uint64_t>(max_length, server_text.size());
    }
    const auto& n = run.n;
    result["keystrokes"] = {{"total", keystrokes},
                            {"inserts", inserts},
                            {"deletes", deletes},
                            {"perSecond", static_cast<double>(keystrokes) / duration},
                            {"maxTickLagMs", std::round(n.max_tick_lag_ms * 10) / 10}};
    json codes = json::object();
    for (const auto& [k, v] : n.reset_codes) codes[k] = v;
    result["pushes"] = {
        {"sent", n.pushes},
        {"acknowledged", n.acks},
        {"updatesAccepted", n.accepted},
        {"emptyAcks", n.empty_acks},
        {"resets", n.resets},
        {"resetCodes", codes},
        {"errors", n.errors},
        {"updatesPerPush",
         n.pushes ? static_cast<double>(n.accepted) / static_cast<double>(n.pushes) : 0.0}};
    result["echoLatencyMs"] = latency_json(n.echo);
    result["othersLatencyMs"] = latency_json(n.others);
    result["stream"] = {{"gaps", n.gaps},
                        {"stale", n.stale},
                        {"echoMismatches", n.echo_mismatch},
                        {"echoWithoutUnconfirmed", n.unmatched_echo},
                        {"rebaseFailures", n.rebase_failed},
                        {"applyFailures", n.apply_failed},
                        {"unexpectedCloses", n.unexpected_closes}};
    result["converged"] = converged;
    result["diverged"] = diverged;
    result["draftsWithLoss"] = lost;
    result["markerMismatches"] = marker_mismatches;
    result["unreadableDrafts"] = unreadable;
    result["maxFinalLength"] = max_length;
    result["server"] = server;
    result["client"] = client;

    auto fail_if = [&](std::uint64_t v, const std::string& what) {
        if (v) c.failures.push_back(fmt::format("{} {}", v, what));
    };
    fail_if(diverged, "drafts diverged (an editor's text or version != the server's)");
    fail_if(lost, "drafts whose version != keystrokes or length != inserts - deletes");
    fail_if(marker_mismatches, "editors whose letters in the final text != inserts - deletes");
    fail_if(unreadable, "drafts GET /api/drafts/{id} did not answer");
    fail_if(n.resets, "draft_reset / resets");
    fail_if(n.errors, "error messages");
    fail_if(n.echo_mismatch + n.unmatched_echo, "echoes that did not match the unconfirmed update");
    fail_if(n.rebase_failed + n.apply_failed, "rebase/apply failures");
    fail_if(n.unexpected_closes, "WebSocket closes");
    const double p99 = std::max(result["echoLatencyMs"].value("p99", 0.0),
                                result["othersLatencyMs"].value("p99", 0.0));
    result["pass"] = c.failures.empty() && p99 <= p99_limit;
    spdlog::info(
        "drafts: echo p50 {} p99 {} ms, others p50 {} p99 {} ms, {} converged, {} "
        "diverged -> {}",
        result["echoLatencyMs"].value("p50", 0.0), result["echoLatencyMs"].value("p99", 0.0),
        result["othersLatencyMs"].value("p50", 0.0), result["othersLatencyMs"].value("p99", 0.0),
        converged, diverged, result["pass"].get<bool>() ? "pass" : "FAIL");
    co_return finish(result, c.failures);
}

}  // namespace chirp::bench
