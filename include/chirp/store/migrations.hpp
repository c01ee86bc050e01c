// Numbered SQL migrations (migrations/NNN_name.sql, compiled in), applied at start.
#pragma once

#include <string>
#include <vector>

namespace chirp::store {

struct migration {
    int version;
    const char* name;
    const char* sql;
};

const std::vector<migration>& embedded_migrations();

// Applies every migration not yet recorded in schema_migrations, each in its own
// transaction, under an advisory lock so that concurrent starters do not race. Blocking:
// call at startup, before the event loop runs. Returns how many were applied.
int apply_migrations(const std::string& database_url);

}  // namespace chirp::store
