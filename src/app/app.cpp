// DESIGN
// chirpd's lifecycle. `serve`: migrations (blocking, before the loop), then one io_context on
// one thread with the HTTP server, the WebSocket/SSE sessions, the fan-out hub, the home-
// timeline cache and the event store's completions. The wiring is here and only here: the
// store's commits go to the timeline cache (its broadcast queued first) and then to the
// fan-out; the HTTP handlers get the cache, the fan-out and the stats fields; the sessions
// get the hub. Shutdown on SIGINT/SIGTERM, in order: stop accepting, close WebSockets with
// 1001, let HTTP requests in flight finish (at most ~8 s), stop the loop, then flush the event
// writer so no acknowledged or queued event is lost, all within 10 s. As a worker of
// `--workers N` (supervisor.cpp) it skips the migrations (the supervisor ran them), listens
// with SO_REUSEPORT, tells the supervisor once it listens, and names itself in logs and stats.
#include "chirp/app/app.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <thread>

#include "chirp/app/supervisor.hpp"
#include "chirp/auth/jwt.hpp"
#include "chirp/drafts/service.hpp"
#include "chirp/fanout/fanout.hpp"
#include "chirp/http/drafts.hpp"
#include "chirp/http/server.hpp"
#include "chirp/metrics/metrics.hpp"
#include "chirp/store/migrations.hpp"
#include "chirp/store/seed.hpp"
#include "chirp/store/store.hpp"
#include "chirp/timeline/home_timeline.hpp"
#include "chirp/util/limit_tables.hpp"
#include "chirp/util/log_escape.hpp"
#include "chirp/ws/sessions.hpp"

namespace asio = boost::asio;

namespace chirp::app {
namespace {

// Writes the message as JSON fields: a message that is already a JSON object is spliced in,
// anything else becomes "msg":"<escaped>".
class json_message_flag final : public spdlog::custom_flag_formatter {
public:
    void format(const spdlog::details::log_msg& msg, const std::tm&,
                spdlog::memory_buf_t& dest) override {
        std::string_view v(msg.payload.data(), msg.payload.size());
        if (v.size() >= 2 && v.front() == '{' && v.back() == '}') {
            dest.append(v.data() + 1, v.data() + v.size() - 1);
            return;
        }
        static constexpr std::string_view head = "\"msg\":\"";
        dest.append(head.data(), head.data() + head.size());
        for (char c : v) {
            if (c == '"' || c == '\\') {
                dest.push_back('\\');
                dest.push_back(c);
            } else if (static_cast<unsigned char>(c) < 0x20) {
                char buf[8];
                const int n = std::snprintf(buf, sizeof buf, "\\u%04x", c);
                dest.append(buf, buf + n);
            } else {
                dest.push_back(c);
            }
        }
        dest.push_back('"');
    }
    std::unique_ptr<custom_flag_formatter> clone() const override {
        return std::make_unique<json_message_flag>();
    }
};

// The text format's message: control characters escaped (util/log_escape.hpp), so that no
// client-controlled text can break a line or forge one.
class text_message_flag final : public spdlog::custom_flag_formatter {
public:
    void format(const spdlog::details::log_msg& msg, const std::tm&,
                spdlog::memory_buf_t& dest) override {
        util::append_log_escaped(dest, std::string_view(msg.payload.data(), msg.payload.size()));
    }
    std::unique_ptr<custom_flag_formatter> clone() const override {
        return std::make_unique<text_message_flag>();
    }
};

// A worker of a supervisor (--worker-index) tells it once it listens: one byte on the pipe.
void tell_supervisor_ready(const config& cfg) {
    if (cfg.worker_ready_fd < 0) return;
    const char ready = 'r';
    [[maybe_unused]] const auto n = ::write(cfg.worker_ready_fd, &ready, 1);
    ::close(cfg.worker_ready_fd);
}

int serve(const config& cfg) {
    // A supervisor's workers find the migrations applied (supervisor.cpp).
    if (cfg.worker_index < 0 && !migrate_with_retry(cfg.database_url)) return 1;

    asio::io_context ioc(1);
    metrics::registry metrics;
    auth::jwt_codec jwt(cfg.jwt_secret, cfg.jwt_ttl);
    asio::thread_pool cpu(2);
    auto store = store::create_event_store(ioc, cfg, metrics);

    // The modules' part of /api/stats (and of the `stats` push), in this order.
    std::unique_ptr<fanout::service> hub;
    std::unique_ptr<timeline::home_timeline> home;
    auto stats_fields = [&](std::string& out) {
        if (cfg.worker_index >= 0) out += ",\"worker\":" + std::to_string(cfg.worker_index);
        hub->stats_fields(out);
        home->stats_fields(out);
    };
    hub = fanout::create_fanout(ioc, cfg, metrics, *store, [&](const store::stats_counts* counts) {
        std::string fields;
        stats_fields(fields);
        return metrics::stats_json(metrics, counts, fields);
    });
    home = timeline::create_home_timeline(ioc, cfg, *store, hub->publisher());
    // Collaborative drafts: the live registry over the store's draft seam, its own Redis bus.
    auto draft_log = drafts::create_store_log(*store);
    auto draft_live = drafts::create_service(ioc, cfg, *draft_log);
    // The abuse limits' state (util/limit_tables.hpp): a worker maps the region its
    // supervisor shares among the workers (and forgets sessions a previous run of its index
    // left counted); a single process keeps its own, laid out alike.
    std::shared_ptr<util::limits_region> limits;
    if (cfg.limits_fd >= 0) {
        limits = util::limits_region::attach(cfg.limits_fd);
        limits->clear_sessions_of(static_cast<std::uint32_t>(std::max(0, cfg.worker_index)));
    } else {
        limits = util::limits_region::create_private({});
    }
    auto sessions =
        ws::create_sessions(ioc, cfg, metrics, *store, jwt, *hub, &draft_live->live(), limits);

    http::services svc{ioc,       cfg,        metrics,      *store, jwt, cpu,
                       hub.get(), home.get(), stats_fields, {},     {}};
    svc.use_limits(limits);
    svc.on_draft_notice = [&](const http::draft_notice& n) {
        drafts::draft_notice d;
        d.draft_id = n.draft_id;
        d.k = n.what == http::draft_notice::kind::published ? drafts::draft_notice::kind::published
              : n.what == http::draft_notice::kind::discarded
                  ? drafts::draft_notice::kind::discarded
                  : drafts::draft_notice::kind::collaborators;
        if (n.removed_user_id != 0) d.removed_user_id = n.removed_user_id;
        if (n.tweet_id != 0) d.tweet_id = n.tweet_id;
        draft_live->live().notify(d);
    };
    // The timeline broadcast is queued on the hub's connection ahead of the fan-out's
    // publishes; the hub lets the answer go once all of them are in Redis.
    store->on_committed([&](const store::write_result& r, std::function<void()> resume) {
        home->on_committed(r);
        hub->on_committed(r, std::move(resume));
    });
    auto server = http::create_http_server(svc, sessions->hooks());
    try {
        server->start();
    } catch (const std::system_error& e) {
        spdlog::critical("cannot listen on {}:{}: {}", cfg.bind, cfg.port, e.what());
        store->stop();
        return 1;
    }
    hub->start();
    home->start();
    draft_live->start();
    spdlog::info("chirpd listening on http://{}:{}", cfg.bind, server->port());
    tell_supervisor_ready(cfg);

    asio::signal_set signals(ioc, SIGINT, SIGTERM);
    signals.async_wait([&](const boost::system::error_code& ec, int sig) {
        if (ec) return;
        spdlog::info("signal {}: shutting down", sig);
        asio::co_spawn(
            ioc,
            [&]() -> asio::awaitable<void> {
                server->stop();
                hub->begin_shutdown();
                co_await sessions->shutdown();
                home->stop();
                draft_live->stop();
                hub->stop();
                asio::steady_timer t(ioc);
                const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(8);
                while (server->open_connections() > 0 &&
                       std::chrono::steady_clock::now() < deadline) {
                    t.expires_after(std::chrono::milliseconds(20));
                    co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
                }
                ioc.stop();
            },
            asio::detached);
    });
    ioc.run();
    store->stop();  // flush the writer queue
    cpu.join();
    spdlog::info("chirpd stopped");
    return 0;
}

}  // namespace

bool migrate_with_retry(const std::string& url) {
    for (int attempt = 0;; ++attempt) {
        try {
            store::apply_migrations(url);
            return true;
        } catch (const std::exception& e) {
            if (attempt >= 20) {
                spdlog::critical("cannot prepare the database: {}", e.what());
                return false;
            }
            spdlog::warn("database not ready ({}); retrying", e.what());
            std::this_thread::sleep_for(std::chrono::milliseconds(500));
        }
    }
}

void setup_logging(const config& cfg) {
    auto logger = spdlog::stderr_color_mt("chirp");
    // Which process wrote a line when several share the log: "w<K>" for worker K, "sup" for
    // the supervisor, nothing for a single process.
    std::string proc;
    if (cfg.worker_index >= 0)
        proc = "w" + std::to_string(cfg.worker_index);
    else if (wants_supervisor(cfg, available_cpus()))
        proc = "sup";
    if (cfg.log_format == "json") {
        auto f = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
        f->add_flag<json_message_flag>('*').set_pattern(
            R"({"ts":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l",)" +
            (proc.empty() ? std::string() : "\"proc\":\"" + proc + "\",") + "%*}");
        logger->set_formatter(std::move(f));
    } else {
        auto f = std::make_unique<spdlog::pattern_formatter>();
        f->add_flag<text_message_flag>('*').set_pattern("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ " +
                                                        (proc.empty() ? "" : proc + " ") + "%*");
        logger->set_formatter(std::move(f));
    }
    spdlog::set_default_logger(logger);
    spdlog::set_level(spdlog::level::from_str(cfg.log_level));
}

int run(const config& cfg) {
    try {
        if (cfg.command == "migrate") {
            const int n = store::apply_migrations(cfg.database_url);
            spdlog::info("{} migrations applied", n);
            return 0;
        }
        if (cfg.command == "rebuild-projections") {
            store::apply_migrations(cfg.database_url);
            const auto n = store::rebuild_projections(cfg.database_url);
            spdlog::info("projections rebuilt from {} events", n);
            return 0;
        }
        if (cfg.command == "bench-append")
            return bench_append(cfg, cfg.bench_events, cfg.bench_rate, cfg.bench_seconds);
        if (cfg.command == "seed") {
            store::apply_migrations(cfg.database_url);
            return store::seed(cfg.database_url, cfg.seed_spec) ? 0 : 2;
        }
        return serve(cfg);
    } catch (const std::exception& e) {
        spdlog::critical("{}", e.what());
        return 1;
    }
}

}  // namespace chirp::app
