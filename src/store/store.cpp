// DESIGN
// The loop never touches PostgreSQL. Two kinds of threads own connections:
//  - one event writer (writer.cpp) appends every queued command in one group commit, and its
//    completer maps the committed rows to answers and live frames (exec_result.cpp);
//  - reader threads (readers.cpp, cfg.db_threads) take typed reads (typed_reads.cpp: rows →
//    domain values) from a bounded queue.
// Both post their results to the loop. This file is the seam the rest of chirpd sees.
#include "chirp/store/store.hpp"

#include <boost/asio/async_result.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "chirp/config/config.hpp"
#include "drafts.hpp"
#include "guard.hpp"
#include "monitor.hpp"
#include "readers.hpp"
#include "typed_reads.hpp"
#include "writer.hpp"

namespace asio = boost::asio;

namespace chirp::store {
namespace {

class pg_event_store final : public event_store {
public:
    pg_event_store(const config& cfg, metrics::registry& m)
        : limits_(limits_of(cfg)),
          monitor_(limits_, watchdog_),
          writer_(limits_, watchdog_, monitor_, cfg.writer_max_batch, cfg.writer_max_queue, m),
          readers_(limits_, watchdog_, monitor_, cfg.db_threads, cfg.writer_max_queue) {
        watchdog_.add_sweep([this](steady::time_point now) {
            writer_.sweep(now);
            readers_.sweep(now);
        });
    }

    ~pg_event_store() override { stop(); }

    // Not coroutines: GCC 12 mishandles lambdas with captures inside co_await expressions, so
    // these return the awaitable of async_initiate directly.
    asio::awaitable<write_result> submit(nlohmann::json command) override {
        std::optional<event_writer::idem_ref> idem;
        if (auto i = command.find("idem"); i != command.end() && i->is_object()) {
            idem.emplace();
            idem->key = i->value("key", std::string());
            if (auto a = command.find("actor"); a != command.end() && a->is_string())
                idem->user = std::stoll(a->get<std::string>());
        }
        auto text = command.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        return asio::async_initiate<const asio::use_awaitable_t<>, void(write_result)>(
            [this, text = std::move(text), idem = std::move(idem)](auto handler) mutable {
                auto done = make_completion<write_result>(std::move(handler), &committed_hook_);
                if (writer_.enqueue(std::move(text), std::move(idem), done)) return;
                done(failed_write(errc::unavailable, "the event writer is overloaded"));
            },
            asio::use_awaitable);
    }

    read<user_credentials> credentials(std::string handle) override {
        return run_read<user_credentials>(
            "credentials", [h = std::move(handle)](conn_t& c) { return reads::credentials(c, h); });
    }
    read<domain::user> user_by_id(long long id) override {
        return run_read<domain::user>("user_by_id",
                                      [id](conn_t& c) { return reads::user_by_id(c, id); });
    }
    read<domain::user> user_by_handle(std::string handle, long long viewer) override {
        return run_read<domain::user>("user_by_handle", [h = std::move(handle), viewer](conn_t& c) {
            return reads::user_by_handle(c, h, viewer);
        });
    }
    read<std::vector<domain::user>> search_users(std::string prefix, int limit,
                                                 long long viewer) override {
        return run_read<std::vector<domain::user>>(
            "search_users", [p = std::move(prefix), limit, viewer](conn_t& c) {
                return reads::search_users(c, p, limit, viewer);
            });
    }
    read<page<domain::user>> follow_page(bool followers, std::string handle, long long before,
                                         int limit, long long viewer) override {
        return run_read<page<domain::user>>(
            "follow_page", [followers, h = std::move(handle), before, limit, viewer](conn_t& c) {
                return reads::follow_page(c, followers, h, before, limit, viewer);
            });
    }
    read<page<domain::tweet>> user_tweets(std::string handle, long long before, int limit,
                                          long long viewer) override {
        return run_read<page<domain::tweet>>(
            "user_tweets", [h = std::move(handle), before, limit, viewer](conn_t& c) {
                return reads::user_tweets(c, h, before, limit, viewer);
            });
    }
    read<domain::tweet> tweet(long long id, long long viewer) override {
        return run_read<domain::tweet>(
            "tweet", [id, viewer](conn_t& c) { return reads::tweet(c, id, viewer); });
    }
    read<page<domain::tweet>> replies(long long id, long long before, int limit,
                                      long long viewer) override {
        return run_read<page<domain::tweet>>(
            "replies", [=](conn_t& c) { return reads::replies(c, id, before, limit, viewer); });
    }
    read<page<domain::tweet>> home_timeline(long long user, long long before, int limit) override {
        return run_read<page<domain::tweet>>("home_timeline", [=](conn_t& c) {
            return reads::home_timeline(c, user, before, limit);
        });
    }
    read<notifications_page> notifications(long long user, long long before, int limit) override {
        return run_read<notifications_page>("notifications", [=](conn_t& c) {
            return reads::notifications(c, user, before, limit);
        });
    }
    read<page<domain::audit_event>> events(long long user, long long after, int limit) override {
        return run_read<page<domain::audit_event>>(
            "events", [=](conn_t& c) { return reads::events(c, user, after, limit); });
    }
    read<page<domain::conversation>> conversations(long long user, long long before,
                                                   int limit) override {
        return run_read<page<domain::conversation>>("conversations", [=](conn_t& c) {
            return reads::conversations(c, user, before, limit);
        });
    }
    read<page<domain::message>> messages(long long conversation, long long user, long long before,
                                         int limit) override {
        return run_read<page<domain::message>>("messages", [=](conn_t& c) {
            return reads::messages(c, conversation, user, before, limit);
        });
    }
    read<std::vector<long long>> conversation_members(long long conversation) override {
        return run_read<std::vector<long long>>("conversation_members", [=](conn_t& c) {
            return reads::conversation_members(c, conversation);
        });
    }
    read<std::vector<long long>> celebrity_followees(long long user, long long threshold) override {
        return run_read<std::vector<long long>>("celebrity_followees", [=](conn_t& c) {
            return reads::celebrity_followees(c, user, threshold);
        });
    }
    read<follower_ids> followers_of(long long author, long long max_ids) override {
        return run_read<follower_ids>(
            "followers_of", [=](conn_t& c) { return reads::followers_of(c, author, max_ids); });
    }
    read<long long> purge_idempotency(long long max_age_seconds, int limit) override {
        return run_read<long long>("purge_idempotency", [=](conn_t& c) {
            return reads::purge_idempotency(c, max_age_seconds, limit);
        });
    }
    // The monitor's counts (monitor.hpp): never a query per request, never in the queue.
    read<stats_counts> counts() override {
        auto c = monitor_.counts();
        co_return c ? result<stats_counts>(*c) : result<stats_counts>(errc::unavailable);
    }
    read<home_list> home_ids(long long user, int max) override {
        return run_read<home_list>("home_ids",
                                   [=](conn_t& c) { return reads::home_ids(c, user, max); });
    }
    read<home_fill> home_records(std::vector<long long> ids, long long viewer,
                                 std::vector<long long> flag_ids) override {
        return run_read<home_fill>(
            "home_records", [ids = std::move(ids), viewer, f = std::move(flag_ids)](conn_t& c) {
                return reads::home_records(c, ids, viewer, f);
            });
    }
    read<replay_answer> replay(domain::channel stream, std::vector<replay_request> requests,
                               int limit) override {
        return run_read<replay_answer>("replay",
                                       [stream, r = std::move(requests), limit](conn_t& c) {
                                           return reads::replay(c, stream, r, limit);
                                       });
    }

    read<draft_snapshot> load_draft(long long id) override {
        return run_read<draft_snapshot>("load_draft",
                                        [=](conn_t& c) { return reads::load_draft(c, id); });
    }
    read<page<domain::draft>> drafts_of(long long user, long long before, int limit) override {
        return run_read<page<domain::draft>>(
            "drafts_of", [=](conn_t& c) { return reads::drafts_of(c, user, before, limit); });
    }
    read<std::vector<draft_update>> draft_updates_since(long long id, long long after,
                                                        int limit) override {
        return run_read<std::vector<draft_update>>("draft_updates_since", [=](conn_t& c) {
            return reads::draft_updates_since(c, id, after, limit);
        });
    }
    read<draft_appended> draft_append(long long id, long long expected, long long user,
                                      std::vector<collab::update> updates,
                                      std::string text) override {
        return appended(submit(draft_append_command(id, expected, user, updates, text)));
    }

    void on_committed(commit_hook fn) override { committed_hook_ = std::move(fn); }

    // The monitor's last ping (500 ms apart, 1 s deadline), not a query behind user reads.
    asio::awaitable<bool> ping() override { co_return monitor_.up(); }

    // At most ~1.5 s more with PostgreSQL frozen: every deadline is cut to the grace period.
    void stop() override {
        watchdog_.begin_stop(std::chrono::milliseconds(1500));
        monitor_.stop();
        writer_.stop();
        readers_.stop();
        watchdog_.stop();
    }

private:
    using conn_t = pqxx::connection;

    static asio::awaitable<result<draft_appended>> appended(asio::awaitable<write_result> w) {
        co_return to_draft_appended(co_await std::move(w));
    }

    // Queues `fn` (conn_t& → result<T>) for a reader thread. Not a coroutine: see submit().
    template <class T, class F>
    asio::awaitable<result<T>> run_read(const char* name, F fn) {
        return asio::async_initiate<const asio::use_awaitable_t<>, void(result<T>)>(
            [this, name, fn = std::move(fn)](auto handler) mutable {
                auto done = make_completion<result<T>>(std::move(handler));
                reader_pool::pending job{name, [fn = std::move(fn), done](conn_t* c, errc e) {
                                             if (c == nullptr)
                                                 done(result<T>(e));
                                             else
                                                 done(fn(*c));
                                         }};
                if (readers_.enqueue(job)) return;
                done(result<T>(errc::unavailable));
            },
            asio::use_awaitable);
    }

    commit_hook committed_hook_;
    pg_limits limits_;
    watchdog watchdog_;
    db_monitor monitor_;
    event_writer writer_;
    reader_pool readers_;
};

}  // namespace

std::unique_ptr<event_store> create_event_store(asio::io_context&, const config& cfg,
                                                metrics::registry& metrics) {
    return std::make_unique<pg_event_store>(cfg, metrics);
}

long long rebuild_projections(const std::string& database_url) {
    pqxx::connection conn(database_url);
    pqxx::work tx(conn);
    auto r = tx.exec("SELECT chirp_rebuild()");
    fold_draft_texts(tx);  // the drafts' texts: the fold of their changes (drafts.cpp)
    tx.commit();
    return r[0][0].as<long long>();
}

}  // namespace chirp::store
