// The environment of the integration tests: scripts/test.sh starts throw-away PostgreSQL and
// Redis servers and exports where they are (CHIRP_TEST_*). A missing variable is a failure
// with a clear message, never a silent skip.
#pragma once

#include <string>

namespace chirp::test {

struct test_env {
    std::string database_url;  // CHIRP_TEST_DATABASE_URL: role chirp, database chirp_test
    std::string admin_url;     // CHIRP_TEST_ADMIN_URL: a superuser, database postgres
    std::string redis_url;     // CHIRP_TEST_REDIS_URL
    std::string chirpd;        // CHIRP_TEST_CHIRPD: absolute path of the chirpd under test
    std::string tmpdir;        // CHIRP_TEST_TMPDIR (optional): where logs go; else TMPDIR or /tmp
    bool keep_logs = false;    // true with CHIRP_TEST_TMPDIR: scripts/test.sh keeps the logs
};

// The variables, checked once; throws std::runtime_error naming what is missing.
const test_env& env();

// Random lower-case letters and digits (for database names and handles).
std::string random_token(std::size_t n);

}  // namespace chirp::test
