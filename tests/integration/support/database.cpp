// fresh_database: see database.hpp.
#include "support/database.hpp"

#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>
#include <chrono>
#include <iostream>
#include <stdexcept>
#include <thread>

#include "support/env.hpp"

namespace chirp::test {

std::string with_database(const std::string& url, const std::string& database) {
    auto parsed = boost::urls::parse_uri(url);
    if (!parsed) throw std::runtime_error("not a URL: " + url);
    boost::urls::url u(*parsed);
    u.set_path("/" + database);
    return std::string(u.buffer());
}

namespace {

std::string user_of(const std::string& url) {
    auto parsed = boost::urls::parse_uri(url);
    if (!parsed || !parsed->has_userinfo()) return "chirp";
    auto user = std::string(parsed->user());
    return user.empty() ? "chirp" : user;
}

void admin_exec(const std::string& admin_url, const std::string& sql) {
    // CREATE DATABASE fails while another session uses template1; retry a few times.
    for (int attempt = 0;; ++attempt) {
        try {
            pqxx::connection conn(admin_url);
            pqxx::nontransaction tx(conn);
            tx.exec(sql);
            return;
        } catch (const pqxx::sql_error& e) {
            const std::string what = e.what();
            if (attempt < 20 && what.find("being accessed by other users") != std::string::npos) {
                std::this_thread::sleep_for(std::chrono::milliseconds(100));
                continue;
            }
            throw std::runtime_error(sql + ": " + what);
        }
    }
}

}  // namespace

fresh_database::fresh_database() {
    const auto& e = env();
    name_ = "chirp_t_" + random_token(12);
    owner_ = user_of(e.database_url);
    {
        pqxx::connection probe(e.admin_url);
        admin_exec(e.admin_url, "CREATE DATABASE " + probe.quote_name(name_) + " OWNER " +
                                    probe.quote_name(owner_));
    }
    url_ = with_database(e.database_url, name_);
    admin_url_ = with_database(e.admin_url, name_);
}

fresh_database::~fresh_database() {
    try {
        pqxx::connection conn(env().admin_url);
        admin_exec(env().admin_url,
                   "DROP DATABASE IF EXISTS " + conn.quote_name(name_) + " WITH (FORCE)");
    } catch (const std::exception& e) {
        std::cerr << "warning: could not drop test database " << name_ << ": " << e.what() << "\n";
    }
}

std::vector<std::vector<std::string>> query_rows(pqxx::connection& conn, const std::string& sql) {
    pqxx::nontransaction tx(conn);
    const auto r = tx.exec(sql);
    std::vector<std::vector<std::string>> rows;
    rows.reserve(r.size());
    for (const auto& row : r) {
        std::vector<std::string> cells;
        for (const auto& f : row) cells.push_back(f.is_null() ? "<null>" : f.c_str());
        rows.push_back(std::move(cells));
    }
    return rows;
}

}  // namespace chirp::test
