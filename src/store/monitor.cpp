// The database monitor (see monitor.hpp).
#include "monitor.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <pqxx/pqxx>

#include "queries.hpp"

namespace chirp::store {
namespace {

constexpr auto ping_every = std::chrono::milliseconds(500);
constexpr auto ping_deadline = std::chrono::milliseconds(1000);
constexpr auto count_deadline = std::chrono::milliseconds(2000);
constexpr auto recount_every = std::chrono::seconds(1);
// A recount that took d waits at least 20 d before the next: at most 5 % of a PostgreSQL core
// whatever the table sizes (1M tweets: a recount every ~1.6 s instead of every second).
constexpr int recount_spacing = 20;

std::string counts_sql() {
    for (const auto& q : named_queries())
        if (q.name == "stats_counts") return std::string(q.sql);
    return {};
}

}  // namespace

db_monitor::db_monitor(pg_limits limits, watchdog& wd)
    : limits_(std::move(limits)), wd_(wd), thread_([this] { loop(); }) {}

db_monitor::~db_monitor() {
    stop();
}

void db_monitor::report_failure() {
    failures_.fetch_add(1, std::memory_order_acq_rel);
    set_up(false, "a connection failed");
}

std::optional<stats_counts> db_monitor::counts() {
    std::lock_guard lk(mu_);
    if (!up()) return std::nullopt;
    return counts_;
}

void db_monitor::stop() {
    {
        std::lock_guard lk(mu_);
        if (stopping_) return;
        stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void db_monitor::set_up(bool up, const char* why) {
    const bool was = up_.exchange(up, std::memory_order_acq_rel);
    if (was && !up) spdlog::warn("PostgreSQL unavailable: {}", why);
    if (!was && up) spdlog::info("PostgreSQL available again");
}

bool db_monitor::ping(pqxx::connection& conn, long long& seq) {
    auto guard = wd_.arm(conn.sock(), steady::now() + ping_deadline);
    pqxx::nontransaction tx(conn);
    auto r = tx.exec("SELECT COALESCE((SELECT last_value FROM event_seq WHERE is_called), 0)");
    seq = r[0][0].as<long long>();
    return !guard.disarm();
}

void db_monitor::loop() {
    std::unique_ptr<pqxx::connection> conn;
    long long counted_seq = -1;
    auto next_count = steady::time_point{};
    std::string last_error;
    for (;;) {
        {
            std::unique_lock lk(mu_);
            if (stopping_) return;
        }
        const auto failures = failures_.load(std::memory_order_acquire);
        long long seq = 0;
        bool ok = false;
        try {
            if (wd_.past_stop()) return;
            if (conn && idle_connection_dead(*conn)) conn.reset();
            if (!conn)
                conn = open_connection(limits_, wd_, steady::now() + ping_deadline * 2, false);
            ok = ping(*conn, seq);
        } catch (const std::exception& e) {
            last_error = e.what();
            conn.reset();
        }
        if (!ok) {
            set_up(false, last_error.empty() ? "no answer to a ping" : last_error.c_str());
        } else if (failures_.load(std::memory_order_acquire) == failures) {
            set_up(true, "");
        }
        const auto now = steady::now();
        if (ok && seq != counted_seq && now >= next_count) {
            try {
                auto guard = wd_.arm(conn->sock(), now + count_deadline);
                pqxx::nontransaction tx(*conn);
                auto r = tx.exec(counts_sql());
                stats_counts c{r[0][0].as<long long>(), r[0][1].as<long long>(),
                               r[0][2].as<long long>()};
                if (!guard.disarm()) {
                    std::lock_guard lk(mu_);
                    counts_ = c;
                    counted_seq = seq;
                }
                const auto took = steady::now() - now;
                next_count =
                    now + std::max<steady::duration>(recount_every, took * recount_spacing);
            } catch (const std::exception& e) {
                spdlog::warn("database monitor: counts: {}", e.what());
                conn.reset();
            }
        }
        std::unique_lock lk(mu_);
        cv_.wait_for(lk, ping_every, [&] { return stopping_; });
    }
}

}  // namespace chirp::store
