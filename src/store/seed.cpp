// Bulk seeding through chirp_exec_rows in batches of 1,000 commands (see seed.hpp).
#include "chirp/store/seed.hpp"

#include <spdlog/spdlog.h>

#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <sstream>

#include "chirp/auth/password.hpp"
#include "chirp/domain/text.hpp"

namespace chirp::store {
namespace {

void run_batch(pqxx::connection& conn, nlohmann::json& batch, long& ok) {
    if (batch.empty()) return;
    pqxx::work tx(conn);
    // The event writer's dispatcher: a row per command, o_json its answer, or NULL for a
    // command of a fast path that succeeded (its answer is rendered by the writer).
    auto r = tx.exec_params(
        "SELECT COALESCE((o_json->>'status')::int, 200) FROM chirp_exec_rows($1::jsonb)",
        batch.dump());
    tx.commit();
    for (const auto& row : r)
        if (row[0].as<int>() < 300) ++ok;
    batch = nlohmann::json::array();
}

}  // namespace

bool seed(const std::string& database_url, const std::string& spec) {
    std::map<std::string, std::string> kv;
    std::stringstream ss(spec);
    for (std::string item; std::getline(ss, item, ',');) {
        auto eq = item.find('=');
        if (eq == std::string::npos) {
            std::cerr << "chirpd seed: bad item '" << item << "'\n";
            return false;
        }
        kv[item.substr(0, eq)] = item.substr(eq + 1);
    }
    long users = 0, authors = 0, followers = 0;
    try {
        users = std::stol(kv.at("users"));
        if (kv.count("follow")) {
            const auto f = kv["follow"];
            authors = std::stol(f.substr(0, f.find(':')));
            followers = std::stol(f.substr(f.find(':') + 1));
        }
    } catch (...) {
        std::cerr << "chirpd seed: expected --seed users=N,prefix=P,password=PW[,follow=A:F]\n";
        return false;
    }
    const std::string prefix = kv.count("prefix") ? kv["prefix"] : "user";
    const std::string password = kv.count("password") ? kv["password"] : "password123";
    if (users <= 0 || users > 1000000 || authors < 0 || authors > users ||
        followers > users - authors || !domain::valid_handle(prefix + std::to_string(users - 1)) ||
        domain::check_password(password)) {
        std::cerr
            << "chirpd seed: users must be 1..1000000, handles valid, follow A:F within users\n";
        return false;
    }
    pqxx::connection conn(database_url);
    const auto hash = auth::hash_password(password, auth::hash_cost::minimal);
    auto batch = nlohmann::json::array();
    long registered = 0, followed = 0;
    for (long i = 0; i < users; ++i) {
        const auto h = prefix + std::to_string(i);
        batch.push_back({{"type", "register"},
                         {"actor", nullptr},
                         {"args", {{"handle", h}, {"displayName", h}, {"passwordHash", hash}}}});
        if (batch.size() >= 1000) run_batch(conn, batch, registered);
    }
    run_batch(conn, batch, registered);

    std::map<std::string, std::string> ids;
    {
        pqxx::nontransaction tx(conn);
        for (const auto& row :
             tx.exec_params("SELECT lower(handle), id::text FROM users WHERE lower(handle) LIKE $1",
                            prefix + "%"))
            ids[row[0].c_str()] = row[1].c_str();
    }
    const long pool = users - authors;
    for (long a = 0; a < authors; ++a) {
        for (long j = 0; j < followers; ++j) {
            const long f = authors + (a * followers + j) % pool;
            auto it = ids.find(prefix + std::to_string(f));
            if (it == ids.end()) continue;
            batch.push_back({{"type", "follow"},
                             {"actor", it->second},
                             {"args", {{"handle", prefix + std::to_string(a)}}}});
            if (batch.size() >= 1000) run_batch(conn, batch, followed);
        }
    }
    run_batch(conn, batch, followed);
    nlohmann::json out = {{"users", users},      {"registered", registered},
                          {"follows", followed}, {"prefix", prefix},
                          {"authors", authors},  {"followersPerAuthor", followers}};
    std::cout << out.dump() << std::endl;
    return true;
}

}  // namespace chirp::store
