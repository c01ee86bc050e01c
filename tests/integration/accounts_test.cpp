// Issue 10, accounts and tokens (item 7) and paged lists (item 8), against the real chirpd:
// the login limiter keyed by the normalized handle and the client address (clients bound to
// distinct loopback addresses 127.0.0.N), over-long handles kept out of it, registrations per
// address, the bounded argon2 queue (503 + Retry-After), per-user write limits (429 +
// Retry-After), strict JWT claims, keyed idempotency hashes with the original token on replay
// and the 24 h purge, log lines that cannot be forged, and paged conversations.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sodium.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <latch>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "chirp/auth/jwt.hpp"
#include "support/server.hpp"

namespace chirp::test {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

struct raw_answer {
    unsigned status = 0;
    std::string retry_after;
    std::string body;
};

// One request over a fresh connection from the given loopback source address (the server
// sees it as the client's address), Connection: close, read to the end.
raw_answer request_from(const std::string& source, std::uint16_t port, const std::string& method,
                        const std::string& target, const std::string& body = "",
                        const std::string& token = "") {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) throw std::runtime_error("socket");
    struct closer {
        int fd;
        ~closer() { ::close(fd); }
    } guard{fd};
    sockaddr_in src{};
    src.sin_family = AF_INET;
    ::inet_pton(AF_INET, source.c_str(), &src.sin_addr);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0)
        throw std::runtime_error("bind " + source);
    sockaddr_in dst{};
    dst.sin_family = AF_INET;
    dst.sin_port = htons(port);
    ::inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof dst) != 0)
        throw std::runtime_error("connect");
    timeval tv{60, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::string req =
        method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
    if (!token.empty()) req += "Authorization: Bearer " + token + "\r\n";
    if (!body.empty())
        req += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
               "\r\n";
    req += "\r\n" + body;
    for (std::size_t off = 0; off < req.size();) {
        const auto n = ::send(fd, req.data() + off, req.size() - off, MSG_NOSIGNAL);
        if (n <= 0) throw std::runtime_error("send");
        off += static_cast<std::size_t>(n);
    }
    std::string in;
    char buf[16384];
    for (;;) {
        const auto n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        in.append(buf, static_cast<std::size_t>(n));
    }
    raw_answer a;
    if (in.size() < 12) throw std::runtime_error("no answer: " + in);
    a.status = static_cast<unsigned>(std::stoi(in.substr(9, 3)));
    const auto head_end = in.find("\r\n\r\n");
    std::string head = in.substr(0, head_end);
    a.body = head_end == std::string::npos ? "" : in.substr(head_end + 4);
    std::string lower = head;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (auto p = lower.find("\r\nretry-after:"); p != std::string::npos) {
        auto v = head.substr(p + 14, head.find("\r\n", p + 2) - p - 14);
        v.erase(0, v.find_first_not_of(' '));
        a.retry_after = v;
    }
    return a;
}

raw_answer login_from(const std::string& source, std::uint16_t port, const std::string& handle,
                      const std::string& password) {
    return request_from(source, port, "POST", "/api/auth/login",
                        json{{"handle", handle}, {"password", password}}.dump());
}

raw_answer register_from(const std::string& source, std::uint16_t port, const std::string& handle) {
    return request_from(source, port, "POST", "/api/auth/register",
                        json{{"handle", handle}, {"password", "correct horse 1"}}.dump());
}

std::string mixed_case(std::string s, int variant) {
    for (std::size_t i = 0; i < s.size(); ++i)
        if (((i + static_cast<std::size_t>(variant)) % 2) == 0)
            s[i] = static_cast<char>(std::toupper(static_cast<unsigned char>(s[i])));
    return s;
}

json token_payload(const std::string& token) {
    const auto a = token.find('.');
    const auto b = token.find('.', a + 1);
    return json::parse(*auth::base64url_decode(token.substr(a + 1, b - a - 1)));
}

// A token with exactly these claims, signed with the dev secret the test servers use.
std::string forge_token(const json& payload) {
    const auto input = auth::base64url_encode(R"({"alg":"HS256","typ":"JWT"})") + "." +
                       auth::base64url_encode(payload.dump());
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;
    const std::string key = dev_jwt_secret;
    crypto_auth_hmacsha256_init(&st, reinterpret_cast<const unsigned char*>(key.data()),
                                key.size());
    crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(input.data()),
                                  input.size());
    crypto_auth_hmacsha256_final(&st, mac);
    return input + "." +
           auth::base64url_encode(std::string(reinterpret_cast<const char*>(mac), sizeof mac));
}

// ======================================================================= login and tokens

class Accounts : public server_test<Accounts> {
public:
    static server_options options() {
        server_options o;
        o.args = {"--log-level", "info", "--idempotency-purge-seconds", "1"};
        return o;
    }
};

TEST_F(Accounts, OneAddressGuessingCaseVariantsDoesNotLockTheOwnerOut) {
    const auto u = register_user(api(), "lim");
    const auto port = server().port();
    // The limit counts every case variant of the handle as one: 5 tries, then 429.
    for (int i = 0; i < 8; ++i) {
        const auto r = login_from("127.0.0.2", port, mixed_case(u.handle, i), "wrong password");
        if (i < 5) {
            EXPECT_EQ(r.status, 401u) << i << " " << r.body;
        } else {
            EXPECT_EQ(r.status, 429u) << i << " " << r.body;
            EXPECT_FALSE(r.retry_after.empty());
        }
    }
    // Even the right password from the guessing address waits out the window...
    EXPECT_EQ(login_from("127.0.0.2", port, u.handle, u.password).status, 429u);
    // ...but the owner, elsewhere, logs in.
    const auto ok = login_from("127.0.0.3", port, mixed_case(u.handle, 1), u.password);
    EXPECT_EQ(ok.status, 200u) << ok.body;
    EXPECT_TRUE(json::parse(ok.body).contains("token"));
}

TEST_F(Accounts, ManyAddressesTogetherReachTheHandleLimit) {
    const auto victim = register_user(api(), "vic");
    const auto other = register_user(api(), "oth");
    const auto port = server().port();
    // 10 addresses x 5 failures = the handle's 50 a minute.
    for (int a = 0; a < 10; ++a)
        for (int i = 0; i < 5; ++i)
            EXPECT_EQ(
                login_from("127.0.1." + std::to_string(a + 1), port, victim.handle, "nope!").status,
                401u);
    const auto r = login_from("127.0.2.1", port, victim.handle, victim.password);
    EXPECT_EQ(r.status, 429u) << r.body;
    EXPECT_FALSE(r.retry_after.empty());
    EXPECT_EQ(login_from("127.0.2.1", port, other.handle, other.password).status, 200u);
}

TEST_F(Accounts, OverlongHandlesAreRefusedBeforeTheLimiter) {
    const auto u = register_user(api(), "big");
    const auto port = server().port();
    const std::string huge(60 * 1024, 'h');
    // More than the address's 20 failures: none of them is counted (nor kept in memory).
    for (int i = 0; i < 30; ++i)
        EXPECT_EQ(login_from("127.0.0.4", port, huge + std::to_string(i), "whatever1").status,
                  401u);
    EXPECT_EQ(login_from("127.0.0.4", port, u.handle, u.password).status, 200u);
}

TEST_F(Accounts, TokensWithAFutureNbfOrIatOrANonCanonicalSubAreRefused) {
    const auto u = register_user(api(), "jwt");
    const auto now = auth::unix_now();
    const json good = {{"sub", u.id}, {"handle", u.handle}, {"iat", now}, {"exp", now + 600}};
    EXPECT_EQ(api().get("/api/me", forge_token(good)).status, 200u);
    auto with = [&](const char* key, json value) {
        json p = good;
        p[key] = std::move(value);
        return api().get("/api/me", forge_token(p));
    };
    EXPECT_TRUE(is_error(with("nbf", now + 3600), 401, "unauthorized"));
    EXPECT_TRUE(is_error(with("iat", now + 3600), 401, "unauthorized"));
    for (const std::string& sub : {u.id + "abc", " " + u.id, "0" + u.id, "+" + u.id, u.id + " "})
        EXPECT_TRUE(is_error(with("sub", sub), 401, "unauthorized")) << "sub '" << sub << "'";
    EXPECT_EQ(with("nbf", now - 5).status, 200u);
}

TEST_F(Accounts, IdempotencyRecordsAreKeyedReplaysGiveTheOriginalTokenAndArePurged) {
    const auto handle = random_handle("idm");
    const std::string password = "a fine pass phrase";
    const json body = {{"handle", handle}, {"password", password}};
    const header_list key = {{"Idempotency-Key", "reg-" + handle}};
    const auto first = api().post("/api/auth/register", body, "", key);
    ASSERT_EQ(first.status, 201u) << first.describe();
    const auto again = api().post("/api/auth/register", body, "", key);
    ASSERT_EQ(again.status, 201u) << again.describe();
    EXPECT_EQ(again.header("Idempotent-Replayed"), "true");
    EXPECT_EQ(again.json().at("user"), first.json().at("user"));
    // The replay's token is the original's (same claims, issued when the account was made):
    // it expires no later than the first one, and it works.
    const auto t1 = first.json().at("token").get<std::string>();
    const auto t2 = again.json().at("token").get<std::string>();
    EXPECT_LE(token_payload(t2).at("exp").get<long long>(),
              token_payload(t1).at("exp").get<long long>());
    EXPECT_LE(token_payload(t2).at("iat").get<long long>(),
              token_payload(t1).at("iat").get<long long>());
    EXPECT_EQ(api().get("/api/me", t2).status, 200u);

    // The stored hash is not the unkeyed SHA-256 of the request (a dictionary check of it
    // would recover the password), and the row holds nothing of the password.
    pqxx::connection conn(server().db().url());
    const auto rows = query_rows(conn,
                                 "SELECT request_hash, body::text, COALESCE(answer, '') "
                                 "FROM idempotency_keys WHERE key = 'reg-" +
                                     handle + "'");
    ASSERT_EQ(rows.size(), 1u);
    const std::string unkeyed_input = "1 /api/auth/register\n" + body.dump();
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(unkeyed_input.data()),
                       unkeyed_input.size());
    char hex[sizeof digest * 2 + 1];
    sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
    EXPECT_NE(rows[0][0], hex);
    for (const auto& cell : rows[0]) EXPECT_EQ(cell.find(password), std::string::npos);

    // 25 hours old: the periodic purge (every second on this server) deletes it.
    {
        pqxx::work tx(conn);
        tx.exec(
            "UPDATE idempotency_keys SET created_at = now() - interval '25 hours' "
            "WHERE key = 'reg-" +
            handle + "'");
        tx.commit();
    }
    bool gone = false;
    for (const auto deadline = std::chrono::steady_clock::now() + 15s;
         !gone && std::chrono::steady_clock::now() < deadline;) {
        gone = query_rows(conn, "SELECT 1 FROM idempotency_keys WHERE key = 'reg-" + handle + "'")
                   .empty();
        if (!gone) std::this_thread::sleep_for(100ms);
    }
    EXPECT_TRUE(gone) << "the 25-hour-old idempotency record is still there";
}

TEST_F(Accounts, AnEncodedNewlineInTheTargetCannotForgeALogLine) {
    const auto mark = server().chirpd().log_size();
    const auto r = api().get("/x%0A2026-01-01%2000:00:00.000%20info%20%20forged%0D%1B%5B31m");
    EXPECT_EQ(r.status, 404u);
    // The request line is logged once the answer is written: wait for it.
    std::string log;
    for (const auto deadline = std::chrono::steady_clock::now() + 10s;
         std::chrono::steady_clock::now() < deadline;) {
        log = server().chirpd().log(mark);
        if (log.find("forged") != std::string::npos) break;
        std::this_thread::sleep_for(50ms);
    }
    EXPECT_NE(log.find("/x\\x0a2026-01-01 00:00:00.000 info  forged\\x0d\\x1b[31m"),
              std::string::npos)
        << log;
    EXPECT_EQ(log.find("\n2026-01-01"), std::string::npos) << log;
    EXPECT_EQ(log.find('\r'), std::string::npos);
    EXPECT_EQ(log.find('\x1b'), std::string::npos);
}

TEST_F(Accounts, ConversationsArePaged) {
    const auto a = register_user(api(), "cva");
    std::vector<std::string> created;
    for (int i = 0; i < 5; ++i) {
        const auto other = register_user(api(), "cvo");
        created.push_back(create_conversation(api(), a, {other}));
    }
    // Activity moves the first conversation to the top.
    send_message(api(), a, created[0], "bump");
    const std::vector<std::string> want = {created[0], created[4], created[3], created[2],
                                           created[1]};
    std::vector<std::string> got;
    std::string cursor;
    for (int page = 0; page < 10; ++page) {
        const auto r = api().get(
            "/api/conversations?limit=2" + (cursor.empty() ? "" : "&before=" + cursor), a.token);
        ASSERT_EQ(r.status, 200u) << r.describe();
        const auto j = r.json();
        EXPECT_LE(j.at("items").size(), 2u);
        for (const auto& c : j.at("items")) got.push_back(c.at("id").get<std::string>());
        ASSERT_TRUE(j.contains("nextCursor"));
        if (j.at("nextCursor").is_null()) break;
        cursor = j.at("nextCursor").get<std::string>();
    }
    EXPECT_EQ(got, want);
    // The default page is 20, the largest 100.
    EXPECT_EQ(api().get("/api/conversations", a.token).json().at("items").size(), 5u);
    EXPECT_TRUE(is_error(api().get("/api/conversations?limit=101", a.token), 400, "bad_request"));
    EXPECT_TRUE(is_error(api().get("/api/conversations?limit=0", a.token), 400, "bad_request"));
    EXPECT_TRUE(is_error(api().get("/api/conversations?before=x", a.token), 400, "bad_request"));
}

// ======================================================================= rate limits

class RegistrationLimit : public server_test<RegistrationLimit> {
public:
    static server_options options() {
        server_options o;
        o.args = std::vector<std::string>{"--register-rate-limit", "3"};
        return o;
    }
};

TEST_F(RegistrationLimit, EachAddressGetsItsOwnBudget) {
    const auto port = server().port();
    for (int i = 0; i < 3; ++i)
        EXPECT_EQ(register_from("127.0.0.5", port, random_handle("rg")).status, 201u) << i;
    const auto r = register_from("127.0.0.5", port, random_handle("rg"));
    EXPECT_EQ(r.status, 429u) << r.body;
    ASSERT_FALSE(r.retry_after.empty());
    EXPECT_GE(std::stoi(r.retry_after), 1);
    EXPECT_LE(std::stoi(r.retry_after), 20);
    EXPECT_EQ(json::parse(r.body).at("error").at("code"), "rate_limited");
    EXPECT_EQ(register_from("127.0.0.6", port, random_handle("rg")).status, 201u);
}

class WriteLimit : public server_test<WriteLimit> {
public:
    static server_options options() {
        server_options o;
        o.args = std::vector<std::string>{"--write-rate-limit", "1"};
        return o;
    }
};

TEST_F(WriteLimit, AUserOverItsWriteRateGets429WithRetryAfter) {
    const auto u = register_user(api(), "wl");
    const auto v = register_user(api(), "wl2");
    int created = 0, limited = 0;
    for (int i = 0; i < 10; ++i) {
        const auto r = api().post("/api/tweets", {{"content", "t" + std::to_string(i)}}, u.token);
        if (r.status == 201) {
            ++created;
        } else {
            ASSERT_TRUE(is_error(r, 429, "rate_limited")) << r.describe();
            EXPECT_GE(std::stoi(r.header("Retry-After")), 1);
            ++limited;
        }
    }
    EXPECT_GE(created, 2);  // the burst
    EXPECT_GE(limited, 1);
    // Reads are not limited, and another user's bucket is full.
    EXPECT_EQ(api().get("/api/timeline", u.token).status, 200u);
    EXPECT_EQ(api().post("/api/tweets", {{"content", "mine"}}, v.token).status, 201u);
}

// Real argon2 cost and a queue of 4 (3 for registrations): a burst of registrations gets 503s
// with Retry-After instead of queueing without bound, and a login still finds room.
class PasswordQueue : public server_test<PasswordQueue> {
public:
    static server_options options() {
        server_options o;
        o.args = std::vector<std::string>{"--fast-password-hash=false", "--password-queue", "4"};
        return o;
    }
};

TEST_F(PasswordQueue, ABurstOfRegistrationsIsBoundedAndLoginsStillGetThrough) {
    const auto u = register_user(api(), "pq");
    constexpr int burst = 24;
    std::latch go(burst + 1);
    std::atomic<int> created{0}, busy{0}, other{0};
    std::atomic<bool> retry_after_ok{true};
    std::vector<std::thread> threads;
    for (int i = 0; i < burst; ++i)
        threads.emplace_back([&] {
            http_client c(server().port());
            const auto h = random_handle("pqb");
            go.arrive_and_wait();
            const auto r =
                c.post("/api/auth/register", {{"handle", h}, {"password", "pass word 1"}});
            if (r.status == 201) {
                ++created;
            } else if (r.status == 503) {
                ++busy;
                if (r.header("Retry-After") != "1") retry_after_ok = false;
            } else {
                ++other;
            }
        });
    go.arrive_and_wait();
    const auto login =
        api().post("/api/auth/login", {{"handle", u.handle}, {"password", u.password}});
    for (auto& t : threads) t.join();
    EXPECT_EQ(login.status, 200u) << login.describe();
    EXPECT_EQ(other.load(), 0);
    EXPECT_GE(created.load(), 1);
    EXPECT_GE(busy.load(), 1) << "24 registrations at once never filled a queue of 3";
    EXPECT_TRUE(retry_after_ok.load());
}

}  // namespace
}  // namespace chirp::test
