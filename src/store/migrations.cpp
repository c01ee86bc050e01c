// Applies the embedded migrations once each, recorded in schema_migrations.
#include "chirp/store/migrations.hpp"

#include <spdlog/spdlog.h>

#include <pqxx/pqxx>

namespace chirp::store {

int apply_migrations(const std::string& database_url) {
    pqxx::connection conn(database_url);
    pqxx::nontransaction lock_tx(conn);
    lock_tx.exec("SELECT pg_advisory_lock(7263948)");
    lock_tx.exec(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, "
        "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())");
    int applied = 0;
    for (const auto& m : embedded_migrations()) {
        const auto r =
            lock_tx.exec_params("SELECT 1 FROM schema_migrations WHERE version = $1", m.version);
        if (!r.empty()) continue;
        lock_tx.exec("BEGIN");
        try {
            lock_tx.exec(m.sql);
            lock_tx.exec_params("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                                m.version, std::string(m.name));
            lock_tx.exec("COMMIT");
        } catch (...) {
            lock_tx.exec("ROLLBACK");
            lock_tx.exec("SELECT pg_advisory_unlock(7263948)");
            throw;
        }
        spdlog::info("applied migration {}", m.name);
        ++applied;
    }
    lock_tx.exec("SELECT pg_advisory_unlock(7263948)");
    return applied;
}

}  // namespace chirp::store
