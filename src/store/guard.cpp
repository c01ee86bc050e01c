// Deadlines on blocking libpq calls (see guard.hpp).
#include "guard.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <pqxx/pqxx>

#include "chirp/config/config.hpp"
#include "queries.hpp"

namespace chirp::store {

pg_limits limits_of(const config& cfg) {
    pg_limits l;
    l.conninfo = conninfo(cfg.database_url, cfg.db_connect_timeout_s);
    l.statement = cfg.db_statement_timeout;
    // The client gives the server its statement_timeout plus a margin for the answer to come
    // back; past that the server is frozen or unreachable.
    l.call = cfg.db_statement_timeout + std::chrono::milliseconds(500);
    l.queue = cfg.db_queue_timeout;
    return l;
}

std::string conninfo(const std::string& url, int connect_timeout_s) {
    std::string out = url;
    const auto query = url.find('?');
    auto has = [&](std::string_view key) {
        if (query == std::string::npos) return false;
        for (auto pos = query; pos != std::string::npos; pos = url.find('&', pos + 1)) {
            if (url.compare(pos + 1, key.size(), key) == 0 && url.size() > pos + 1 + key.size() &&
                url[pos + 1 + key.size()] == '=')
                return true;
        }
        return false;
    };
    char sep = query == std::string::npos ? '?' : '&';
    auto add = [&](std::string_view key, const std::string& value) {
        if (has(key)) return;
        out += sep;
        out += key;
        out += '=';
        out += value;
        sep = '&';
    };
    add("connect_timeout", std::to_string(connect_timeout_s));
    add("keepalives", "1");
    add("keepalives_idle", "5");
    add("keepalives_interval", "2");
    add("keepalives_count", "3");
    return out;
}

watchdog::watchdog() : thread_([this] { loop(); }) {}

watchdog::~watchdog() {
    stop();
}

bool watchdog::armed::disarm() {
    if (w_ != nullptr) {
        fired_ = w_->fired_and_remove(id_);
        w_ = nullptr;
    }
    return fired_;
}

watchdog::armed watchdog::arm(int fd, steady::time_point deadline) {
    std::lock_guard lk(mu_);
    const auto id = next_id_++;
    armed_.emplace(id, entry{fd, std::min(deadline, stop_at_)});
    cv_.notify_all();
    return armed(*this, id);
}

bool watchdog::fired_and_remove(std::uint64_t id) {
    std::lock_guard lk(mu_);
    auto it = armed_.find(id);
    if (it == armed_.end()) return false;
    const bool fired = it->second.fired;
    armed_.erase(it);
    return fired;
}

void watchdog::add_sweep(std::function<void(steady::time_point)> fn) {
    std::lock_guard lk(mu_);
    sweeps_.push_back(std::move(fn));
}

void watchdog::begin_stop(std::chrono::milliseconds grace) {
    std::lock_guard lk(mu_);
    stop_at_ = std::min(stop_at_, steady::now() + grace);
    for (auto& [id, e] : armed_) e.deadline = std::min(e.deadline, stop_at_);
    cv_.notify_all();
}

bool watchdog::past_stop() const {
    std::lock_guard lk(mu_);
    return steady::now() >= stop_at_;
}

void watchdog::stop() {
    {
        std::lock_guard lk(mu_);
        if (quit_) return;
        quit_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void watchdog::loop() {
    std::unique_lock lk(mu_);
    while (!quit_) {
        auto wake = steady::now() + std::chrono::milliseconds(50);
        for (const auto& [id, e] : armed_)
            if (!e.fired) wake = std::min(wake, e.deadline);
        cv_.wait_until(lk, wake);
        if (quit_) break;
        const auto now = steady::now();
        for (auto& [id, e] : armed_) {
            if (e.fired || e.deadline > now) continue;
            // The owner is blocked in libpq on this socket (or about to be): make its call
            // fail now. The descriptor stays open until the owner drops the connection.
            ::shutdown(e.fd, SHUT_RDWR);
            e.fired = true;
        }
        auto sweeps = sweeps_;
        lk.unlock();
        for (auto& s : sweeps) s(now);
        lk.lock();
    }
}

std::unique_ptr<pqxx::connection> open_connection(const pg_limits& limits, watchdog& wd,
                                                  steady::time_point deadline, bool prepare) {
    auto conn = std::make_unique<pqxx::connection>(limits.conninfo);
    auto guard = wd.arm(conn->sock(), deadline);
    conn->set_variable("statement_timeout", std::to_string(limits.statement.count()));
    if (prepare)
        for (const auto& q : named_queries())
            conn->prepare(std::string(q.name), std::string(q.sql));
    if (guard.disarm()) throw pqxx::broken_connection("connecting took past its deadline");
    return conn;
}

bool idle_connection_dead(const pqxx::connection& conn) {
    const int fd = conn.sock();
    if (fd < 0) return true;
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, 0) != 0;
}

}  // namespace chirp::store
