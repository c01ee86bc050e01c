// The database's schema and functions, compiled in and brought up to date at start:
// numbered migrations (migrations/NNN_name.sql: schema only, applied once each) and the
// function files (sql/functions/*.sql: CREATE OR REPLACE, re-applied at every start).
#pragma once

#include <string>
#include <vector>

namespace chirp::store {

struct migration {
    int version;
    const char* name;
    const char* sql;
};

struct function_file {
    const char* name;
    const char* sql;
};

const std::vector<migration>& embedded_migrations();
const std::vector<function_file>& embedded_functions();

// Applies every migration not yet recorded in schema_migrations, each in its own
// transaction, then every function file, all in one transaction; all under an advisory lock
// so that concurrent starters do not race. Blocking: call at startup, before the event loop
// runs. Returns how many migrations were applied.
int apply_migrations(const std::string& database_url);

}  // namespace chirp::store
