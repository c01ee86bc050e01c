// DESIGN
// One writer thread takes every queued command at once and runs them as one batch:
// SELECT ... FROM chirp_exec_rows(<all commands>) as one implicit transaction. That is group
// commit: one fsync for the whole batch, so throughput grows with load. It takes the append
// advisory lock first, so seq order is commit order across processes (ARCHITECTURE
// guarantee 3). A committed batch goes to one completer thread, which maps its rows to answers
// and live frames (exec_result.cpp) while the writer runs the next batch, and posts them in
// commit order to the loop, where the awaiting coroutine resumes and the on_committed hook
// runs (fan-out). A command is answered only after its commit (guarantee 1).
#include "writer.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "chirp/metrics/metrics.hpp"
#include "exec_result.hpp"
#include "monitor.hpp"

namespace chirp::store {
namespace {

// Committed batches the completer may lag behind the writer.
constexpr std::size_t max_done_batches = 4;

// The answer of one committed row; an unreadable row is "in doubt", like a lost COMMIT reply.
write_result answer_of(const pqxx::row& row) {
    try {
        return to_write_result(row);
    } catch (const std::exception& e) {
        spdlog::error("event writer: unreadable result: {}", e.what());
        return failed_write(errc::unavailable, "the database is unavailable");
    }
}

// A batch whose connection was lost after it was sent: it may or may not be committed
// (docs/api.md: the retry with the same Idempotency-Key tells which, never twice).
write_result in_doubt() {
    return failed_write(errc::outcome_unknown,
                        "the database connection was lost while the write was being committed: "
                        "it may or may not be stored (retry with the same Idempotency-Key)");
}

write_result not_stored() {
    return failed_write(errc::unavailable, "the database is unavailable");
}

}  // namespace

event_writer::event_writer(const pg_limits& limits, watchdog& wd, db_monitor& monitor,
                           std::size_t max_batch, std::size_t max_queue, metrics::registry& metrics)
    : limits_(limits),
      wd_(wd),
      monitor_(monitor),
      max_batch_(max_batch),
      max_queue_(max_queue),
      metrics_(metrics) {
    completer_ = std::thread([this] { completer_loop(); });
    writer_ = std::thread([this] { writer_loop(); });
}

event_writer::~event_writer() {
    stop();
}

bool event_writer::enqueue(std::string command, std::optional<idem_ref> idem,
                           completion<write_result>& done) {
    std::lock_guard lk(write_mu_);
    if (stopping_ || write_queue_.size() >= max_queue_) return false;
    write_queue_.push_back(
        {std::move(command), std::move(idem), std::move(done), std::chrono::steady_clock::now()});
    write_cv_.notify_one();
    return true;
}

void event_writer::sweep(steady::time_point now) {
    std::vector<pending> late;
    {
        std::lock_guard lk(write_mu_);
        while (!write_queue_.empty() && now - write_queue_.front().submitted >= limits_.queue) {
            late.push_back(std::move(write_queue_.front()));
            write_queue_.pop_front();
        }
    }
    if (!late.empty()) spdlog::warn("{} writes waited too long for the database: 503", late.size());
    for (auto& w : late) w.done(not_stored());
}

void event_writer::stop() {
    {
        std::lock_guard lk(write_mu_);
        if (stopping_) return;
        stopping_ = true;
    }
    write_cv_.notify_all();
    if (writer_.joinable()) writer_.join();
    {
        std::lock_guard lk(done_mu_);
        writer_done_ = true;
    }
    done_cv_.notify_all();
    if (completer_.joinable()) completer_.join();
}

void event_writer::writer_loop() {
    std::unique_ptr<pqxx::connection> conn;
    auto backoff = std::chrono::milliseconds(50);
    for (;;) {
        std::vector<pending> batch;
        {
            std::unique_lock lk(write_mu_);
            write_cv_.wait(lk, [&] { return stopping_ || !write_queue_.empty(); });
            if (write_queue_.empty()) return;  // stopping, and everything is flushed
            const auto n = std::min(write_queue_.size(), max_batch_);
            batch.reserve(n);
            for (std::size_t i = 0; i < n; ++i) {
                batch.push_back(std::move(write_queue_.front()));
                write_queue_.pop_front();
            }
        }
        if (wd_.past_stop()) {  // shutting down and out of time: never sent, not stored
            for (auto& w : batch) w.done(not_stored());
            continue;
        }
        const auto deadline = std::chrono::steady_clock::now() + limits_.call;
        bool sent = false;
        try {
            if (conn && idle_connection_dead(*conn)) conn.reset();
            if (!conn) {
                conn = open_connection(limits_, wd_, deadline, false);
                backoff = std::chrono::milliseconds(50);
            }
            auto guard = wd_.arm(conn->sock(), deadline);
            run_batch(*conn, batch, sent);
        } catch (const pqxx::in_doubt_error& e) {
            // The connection was lost during COMMIT.
            spdlog::error("event writer: {}", e.what());
            fail_batch(conn, batch, true);
        } catch (const pqxx::sql_error& e) {
            if (e.sqlstate() == "57014" || !conn || !conn->is_open() ||
                idle_connection_dead(*conn)) {
                // statement_timeout: the server rolled it back; or the connection is gone.
                spdlog::error("event writer: {}", e.what());
                fail_batch(conn, batch, sent && e.sqlstate() != "57014");
            } else {
                // The database answered but rejected the batch (a bug or an input the checks
                // missed). Isolate it: each command alone, so one bad command fails only itself.
                spdlog::error("event writer: batch of {} failed ({}); retrying one by one",
                              batch.size(), e.what());
                run_one_by_one(*conn, batch);
            }
        } catch (const std::exception& e) {
            // Not sent (no connection): certainly not stored. Sent and the connection lost
            // (or the watchdog cut off a frozen server): in doubt, the client learns so and
            // retries with its Idempotency-Key.
            spdlog::error("event writer: {}", e.what());
            fail_batch(conn, batch, sent);
        }
        if (conn) continue;  // back off only after a lost connection
        std::unique_lock lk(write_mu_);
        write_cv_.wait_for(lk, backoff, [&] { return stopping_; });
        backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
    }
}

void event_writer::fail_batch(std::unique_ptr<pqxx::connection>& conn, std::vector<pending>& batch,
                              bool in_doubt_outcome) {
    conn.reset();
    monitor_.report_failure();
    for (auto& w : batch) w.done(in_doubt_outcome ? in_doubt() : not_stored());
}

void event_writer::run_one_by_one(pqxx::connection& conn, std::vector<pending>& batch) {
    for (auto& w : batch) {
        std::vector<pending> one;
        one.push_back(std::move(w));
        bool sent = false;
        try {
            run_batch(conn, one, sent);
        } catch (const pqxx::in_doubt_error& e) {
            spdlog::error("event writer: {}", e.what());
            one[0].done(in_doubt());
        } catch (const pqxx::sql_error& e) {
            spdlog::error("event writer: command rejected: {}", e.what());
            one[0].done(failed_write(errc::internal, "the command could not be stored"));
        } catch (const std::exception& e) {
            spdlog::error("event writer: {}", e.what());
            one[0].done(sent ? in_doubt() : not_stored());
        }
    }
}

void event_writer::run_batch(pqxx::connection& conn, std::vector<pending>& batch, bool& sent) {
    std::string cmds;
    std::size_t total = 2;
    for (const auto& w : batch) total += w.command.size() + 1;
    cmds.reserve(total);
    cmds += '[';
    for (std::size_t i = 0; i < batch.size(); ++i) {
        if (i) cmds += ',';
        cmds += batch[i].command;
    }
    cmds += ']';

    pqxx::result rows;
    std::vector<write_result> answers;
    if (std::none_of(batch.begin(), batch.end(), [](const pending& w) { return w.idem; })) {
        // One statement in its own implicit transaction: one round trip instead of three
        // (BEGIN, SELECT, COMMIT). PQexecParams returns only after the server's ReadyForQuery,
        // which follows the commit, so nothing is answered before it is durable; the advisory
        // lock chirp_exec_rows takes is held until that commit.
        pqxx::nontransaction tx(conn);
        sent = true;  // its own transaction: it may commit from here on
        rows = tx.exec_params(std::string(exec_rows_sql), cmds);
    } else {
        // Idempotency-Key records keep the bytes of their answers (a retry gets exactly them):
        // the answers are rendered before the commit and stored in the same transaction.
        // Two more round trips, for batches with such commands only.
        pqxx::work tx(conn);
        rows = tx.exec_params(std::string(exec_rows_sql), cmds);
        if (rows.size() != batch.size())
            throw std::runtime_error("chirp_exec_rows returned a short batch");
        answers.reserve(batch.size());
        nlohmann::json keep = nlohmann::json::array();
        for (std::size_t i = 0; i < batch.size(); ++i) {
            answers.push_back(answer_of(rows[static_cast<int>(i)]));
            const auto& a = answers.back();
            if (batch[i].idem && !a.replayed && a.status < 500)
                keep.push_back(
                    {{"u", batch[i].idem->user}, {"k", batch[i].idem->key}, {"a", a.body}});
        }
        if (!keep.empty())
            tx.exec_params(
                "UPDATE idempotency_keys k SET answer = x->>'a' "
                "FROM jsonb_array_elements($1::jsonb) x "
                "WHERE k.user_id = (x->>'u')::bigint AND k.key = x->>'k' AND k.answer IS NULL",
                keep.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
        sent = true;  // a lost connection before COMMIT rolls it back; during it, in doubt
        tx.commit();
    }
    const auto committed = std::chrono::steady_clock::now();
    const auto committed_us = std::chrono::duration_cast<std::chrono::microseconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count();
    if (rows.size() != batch.size())
        throw std::runtime_error("chirp_exec_rows returned a short batch");
    metrics_.append_batches.fetch_add(1, std::memory_order_relaxed);
    // Committed: the completer answers it while this thread runs the next batch. One FIFO
    // completer, so answers (and fan-out) keep commit order.
    committed_batch done{std::move(batch), std::move(rows), std::move(answers), committed,
                         committed_us};
    batch.clear();
    std::unique_lock lk(done_mu_);
    done_cv_.wait(lk, [&] { return done_queue_.size() < max_done_batches; });
    done_queue_.push_back(std::move(done));
    done_cv_.notify_all();
}

void event_writer::completer_loop() {
    for (;;) {
        committed_batch b;
        {
            std::unique_lock lk(done_mu_);
            done_cv_.wait(lk, [&] { return writer_done_ || !done_queue_.empty(); });
            if (done_queue_.empty()) return;  // the writer has stopped, everything answered
            b = std::move(done_queue_.front());
            done_queue_.pop_front();
            done_cv_.notify_all();
        }
        complete(b);
    }
}

void event_writer::complete(committed_batch& b) {
    for (std::size_t i = 0; i < b.writes.size(); ++i) {
        write_result wr =
            b.answers.empty() ? answer_of(b.rows[static_cast<int>(i)]) : std::move(b.answers[i]);
        wr.committed_at = b.committed;
        wr.committed_unix_us = b.committed_us;
        if (wr.seq != 0) metrics_.events_appended.fetch_add(1, std::memory_order_relaxed);
        metrics_.append_latency.record(
            static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                           b.committed - b.writes[i].submitted)
                                           .count()));
        b.writes[i].done(std::move(wr));
    }
}

}  // namespace chirp::store
