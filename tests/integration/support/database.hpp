// A fresh PostgreSQL database per fixture: CREATE DATABASE chirp_t_<random> OWNER chirp on the
// server of CHIRP_TEST_ADMIN_URL, dropped (WITH FORCE) when the object goes away, so every
// test binary works on its own empty database.
#pragma once

#include <pqxx/pqxx>
#include <string>
#include <vector>

namespace chirp::test {

class fresh_database {
public:
    fresh_database();
    ~fresh_database();
    fresh_database(const fresh_database&) = delete;
    fresh_database& operator=(const fresh_database&) = delete;

    const std::string& name() const { return name_; }
    // As the application role (chirp), like chirpd connects.
    const std::string& url() const { return url_; }
    // As the superuser, on this database.
    const std::string& admin_url() const { return admin_url_; }
    // The role the application uses (the user of CHIRP_TEST_DATABASE_URL).
    const std::string& owner() const { return owner_; }

private:
    std::string name_, url_, admin_url_, owner_;
};

// `url` with its database (path) replaced.
std::string with_database(const std::string& url, const std::string& database);

// Runs a query and returns every row as text cells (NULL as "<null>"), for snapshots.
std::vector<std::vector<std::string>> query_rows(pqxx::connection& conn, const std::string& sql);

}  // namespace chirp::test
