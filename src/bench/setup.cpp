// Benchmark setup through REST or a seed command: see setup.hpp.
#include "setup.hpp"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "jwt.hpp"

namespace chirp::bench {

using namespace std::chrono_literals;

std::optional<std::size_t> population::index_of(std::string_view handle) const {
    if (handle.size() <= prefix.size() || handle.substr(0, prefix.size()) != prefix)
        return std::nullopt;
    std::size_t n = 0;
    for (char ch : handle.substr(prefix.size())) {
        if (ch < '0' || ch > '9') return std::nullopt;
        n = n * 10 + static_cast<std::size_t>(ch - '0');
    }
    return n;
}

setup_options setup_options::from(const options& opts) {
    setup_options so;
    so.prefix = opts.str("prefix", so.prefix);
    so.password = opts.str("password", so.password);
    so.seed_cmd = opts.str("seed-cmd");
    // The environment variable is the one chirpd reads; scripts/test.sh sets it for us too.
    const char* env_secret = std::getenv("CHIRP_JWT_SECRET");
    so.jwt_secret = opts.str("jwt-secret", env_secret ? env_secret : "");
    so.token_cache = opts.str("token-cache");
    so.concurrency = static_cast<std::size_t>(opts.integer("setup-concurrency", 32));
    so.dry = opts.flag("relay");
    so.seeded = opts.flag("assume-seeded");
    return so;
}

namespace {

// Retries answers that say "later" (429 with Retry-After, 503) a few times.
asio::awaitable<http_result> call(http_conn& conn, http::verb verb, std::string path,
                                  std::string body, std::string token) {
    http_result r;
    for (int attempt = 0; attempt < 8; ++attempt) {
        r = co_await conn.request(verb, path, body, token);
        if (r.status != 429 && r.status != 503 && r.status != 0) co_return r;
        co_await sleep_for(std::chrono::milliseconds(250 << std::min(attempt, 4)));
    }
    co_return r;
}

std::string describe(const http_result& r) {
    if (r.status == 0) return "transport error: " + r.ec.message();
    return "HTTP " + std::to_string(r.status) + " " + r.body.substr(0, 200);
}

void load_cache(const std::string& path, population& pop) {
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream ls(line);
        std::string handle, id, token;
        if (!(ls >> handle >> id >> token)) continue;
        auto i = pop.index_of(handle);
        if (i && *i < pop.size()) {
            pop.ids[*i] = id;
            pop.tokens[*i] = token;
        }
    }
}

void save_cache(const std::string& path, const population& pop) {
    // Merge with users of other sizes already in the file.
    std::map<std::string, std::string> lines;
    {
        std::ifstream in(path);
        std::string line;
        while (std::getline(in, line))
            if (auto sp = line.find(' '); sp != std::string::npos) lines[line.substr(0, sp)] = line;
    }
    for (std::size_t i = 0; i < pop.size(); ++i)
        if (!pop.tokens[i].empty())
            lines[pop.handle(i)] = pop.handle(i) + " " + pop.ids[i] + " " + pop.tokens[i];
    std::ofstream out(path, std::ios::trunc);
    for (const auto& [k, v] : lines) out << v << "\n";
}

// `CMD --seed users=N,prefix=P,password=PW[,follow=A:F]` (chirpd seed's spec: the first A users
// are each followed by F of the others). Our graphs are "users [A, N) follow users [0, A)".
std::string seed_command(const setup_options& so, std::size_t count,
                         const std::vector<follow_range>& follows) {
    std::string spec =
        "users=" + std::to_string(count) + ",prefix=" + so.prefix + ",password=" + so.password;
    if (follows.size() > 1) throw std::invalid_argument("--seed-cmd supports one follow range");
    for (const auto& f : follows) {
        if (f.authors_begin != 0 || f.followers_begin != f.authors_end || f.followers_end > count)
            throw std::invalid_argument("--seed-cmd: follow graph not expressible as A:F");
        spec += ",follow=" + std::to_string(f.authors_end) + ":" +
                std::to_string(f.followers_end - f.followers_begin);
    }
    return so.seed_cmd + " --seed '" + spec + "'";
}

}  // namespace

asio::awaitable<population> setup_population(const target& t, const setup_options& so,
                                             std::size_t count,
                                             const std::vector<follow_range>& follows,
                                             json& report) {
    population pop;
    pop.prefix = so.prefix;
    pop.password = so.password;
    pop.ids.assign(count, std::string{});
    pop.tokens.assign(count, std::string{});
    const auto start = clock_type::now();
    if (so.dry) {
        for (std::size_t i = 0; i < count; ++i) pop.ids[i] = pop.tokens[i] = std::to_string(i);
        co_return pop;
    }
    if (!so.token_cache.empty()) load_cache(so.token_cache, pop);

    const bool seeded = !so.seed_cmd.empty() || so.seeded;
    if (!so.seed_cmd.empty()) {
        const auto cmd = seed_command(so, count, follows);
        spdlog::info("seeding: {}", cmd);
        const int rc = std::system(cmd.c_str());
        if (rc != 0)
            throw std::runtime_error("seed command failed with status " + std::to_string(rc));
    }
    const auto seeded_at = clock_type::now();

    std::size_t registered = 0, logged_in = 0, minted = 0, cached = 0;
    std::string failure;
    co_await run_parallel(
        t, count, so.concurrency, [&](http_conn& conn, std::size_t i) -> asio::awaitable<void> {
            if (!pop.tokens[i].empty()) {
                ++cached;
                co_return;
            }
            const auto handle = pop.handle(i);
            if (!seeded) {
                json body = {{"handle", handle},
                             {"password", so.password},
                             {"displayName", "Bench " + std::to_string(i)}};
                auto r =
                    co_await call(conn, http::verb::post, "/api/auth/register", body.dump(), {});
                if (r.status == 201 || r.status == 200) {
                    auto j = json::parse(r.body);
                    pop.ids[i] = j.at("user").at("id").get<std::string>();
                    pop.tokens[i] = j.at("token").get<std::string>();
                    ++registered;
                    co_return;
                }
                if (r.status != 409) {
                    if (failure.empty()) failure = "register " + handle + ": " + describe(r);
                    co_return;
                }
            }
            if (!so.jwt_secret.empty()) {
                auto r = co_await call(conn, http::verb::get, "/api/users/" + handle, {}, {});
                if (r.status != 200) {
                    if (failure.empty()) failure = "GET /api/users/" + handle + ": " + describe(r);
                    co_return;
                }
                pop.ids[i] = json::parse(r.body).at("id").get<std::string>();
                pop.tokens[i] = mint_jwt(so.jwt_secret, pop.ids[i], handle);
                ++minted;
                co_return;
            }
            json body = {{"handle", handle}, {"password", so.password}};
            auto r = co_await call(conn, http::verb::post, "/api/auth/login", body.dump(), {});
            if (r.status != 200) {
                if (failure.empty()) failure = "login " + handle + ": " + describe(r);
                co_return;
            }
            auto j = json::parse(r.body);
            pop.ids[i] = j.at("user").at("id").get<std::string>();
            pop.tokens[i] = j.at("token").get<std::string>();
            ++logged_in;
        });
    if (!failure.empty()) throw std::runtime_error(failure);
    const auto tokens_at = clock_type::now();

    // A token that the server refuses (a minted one with the wrong secret, an expired cached
    // one) would make every later number meaningless: check one.
    if (count > 0) {
        http_conn conn(co_await asio::this_coro::executor, t);
        auto r = co_await conn.request(http::verb::get, "/api/me", {}, pop.tokens[0]);
        if (r.status != 200)
            throw std::runtime_error("GET /api/me with the token of " + pop.handle(0) +
                                     " failed: " + describe(r) +
                                     " (stale --token-cache or wrong --jwt-secret?)");
    }

    std::size_t follow_calls = 0;
    if (!seeded) {
        struct edge {
            std::size_t author, follower;
        };
        std::vector<edge> edges;
        for (const auto& f : follows)
            for (std::size_t fo = f.followers_begin; fo < f.followers_end; ++fo)
                for (std::size_t a = f.authors_begin; a < f.authors_end; ++a)
                    if (a != fo) edges.push_back({a, fo});
        co_await run_parallel(t, edges.size(), so.concurrency,
                              [&](http_conn& conn, std::size_t k) -> asio::awaitable<void> {
                                  const auto e = edges[k];
                                  auto r = co_await call(
                                      conn, http::verb::post,
                                      "/api/users/" + pop.handle(e.author) + "/follow", {},
                                      pop.tokens[e.follower]);
                                  if (!r.ok() && failure.empty())
                                      failure = "follow " + pop.handle(e.author) + " by " +
                                                pop.handle(e.follower) + ": " + describe(r);
                              });
        follow_calls = edges.size();
        if (!failure.empty()) throw std::runtime_error(failure);
    }
    if (!so.token_cache.empty()) save_cache(so.token_cache, pop);
    const auto end = clock_type::now();
    report = {{"users", count},
              {"method", !so.seed_cmd.empty() ? "seed-cmd"
                         : so.seeded          ? "pre-seeded"
                                              : "rest"},
              {"registered", registered},
              {"loggedIn", logged_in},
              {"minted", minted},
              {"cachedTokens", cached},
              {"followCalls", follow_calls},
              {"seedSeconds", seconds_between(start, seeded_at)},
              {"tokenSeconds", seconds_between(seeded_at, tokens_at)},
              {"totalSeconds", seconds_between(start, end)}};
    spdlog::info(
        "setup: {} users ({} registered, {} logged in, {} minted, {} cached), {} follows, {:.1f} s",
        count, registered, logged_in, minted, cached, follow_calls, seconds_between(start, end));
    co_return pop;
}

}  // namespace chirp::bench
