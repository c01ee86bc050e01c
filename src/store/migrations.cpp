// Applies the embedded migrations once each, recorded in schema_migrations, then re-applies
// every function file (sql/functions), under one advisory lock.
#include "chirp/store/migrations.hpp"

#include <spdlog/spdlog.h>

#include <pqxx/pqxx>

namespace chirp::store {

namespace {

constexpr const char* lock_sql = "SELECT pg_advisory_lock(7263948)";
constexpr const char* unlock_sql = "SELECT pg_advisory_unlock(7263948)";

int apply_numbered(pqxx::nontransaction& tx) {
    tx.exec(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, "
        "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())");
    int applied = 0;
    for (const auto& m : embedded_migrations()) {
        const auto r =
            tx.exec_params("SELECT 1 FROM schema_migrations WHERE version = $1", m.version);
        if (!r.empty()) continue;
        tx.exec("BEGIN");
        try {
            tx.exec(m.sql);
            tx.exec_params("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                           m.version, std::string(m.name));
            tx.exec("COMMIT");
        } catch (...) {
            tx.exec("ROLLBACK");
            throw;
        }
        spdlog::info("applied migration {}", m.name);
        ++applied;
    }
    return applied;
}

// Every function's current text, whatever the database had: CREATE OR REPLACE in one
// transaction (a concurrent writer sees the old set or the new one). Bodies are not checked
// against each other while the files load, so their order does not matter.
void apply_functions(pqxx::nontransaction& tx) {
    tx.exec("BEGIN");
    try {
        tx.exec("SET LOCAL check_function_bodies = off");
        tx.exec("SET LOCAL client_min_messages = warning");  // no "does not exist, skipping"
        for (const auto& f : embedded_functions()) tx.exec(f.sql);
        tx.exec("COMMIT");
    } catch (...) {
        tx.exec("ROLLBACK");
        throw;
    }
    spdlog::debug("applied {} SQL function files", embedded_functions().size());
}

}  // namespace

int apply_migrations(const std::string& database_url) {
    pqxx::connection conn(database_url);
    pqxx::nontransaction tx(conn);
    tx.exec(lock_sql);
    try {
        const int applied = apply_numbered(tx);
        apply_functions(tx);
        tx.exec(unlock_sql);
        return applied;
    } catch (...) {
        tx.exec(unlock_sql);
        throw;
    }
}

}  // namespace chirp::store
