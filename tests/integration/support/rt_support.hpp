// Support for the real-time integration tests: a private redis-server (killable), an SSE
// client, REST shortcuts for the actions that produce live events, and a gtest fixture base
// that shares one chirpd per test suite.
//
// Why a private Redis: chirpd's Redis keys and channels (timeline:<user id>, home:<user id>,
// chirp:online) are not namespaced by database, and every test binary works on a fresh
// database whose user ids start at 1 again; two chirpd on different databases sharing one
// Redis would see each other's events. A redis-server of our own per test binary (flushed
// between suites) keeps the tests independent, and it is the one the Redis-outage test may
// kill: never any other Redis on the machine.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "support/api.hpp"
#include "support/database.hpp"
#include "support/http_client.hpp"
#include "support/process.hpp"
#include "support/ws_client.hpp"

namespace chirp::test {

// A redis-server on a free port in a temporary directory, started with
// `redis-server --bind 127.0.0.1 --port P --dir D --save '' --appendonly no` as our child
// process (not daemonized: it dies with the test binary even when that crashes). kill()
// sends SIGKILL to that process only, never to any other Redis on the machine.
class redis_server {
public:
    redis_server();   // starts it
    ~redis_server();  // SHUTDOWN NOSAVE / kill, removes the directory
    redis_server(const redis_server&) = delete;
    redis_server& operator=(const redis_server&) = delete;

    void start();  // on the same port (after kill)
    void kill();   // SIGKILL, waits until it is gone
    bool ping();
    // Runs a command (hiredis, synchronous); throws when Redis does not answer. Arrays come
    // back as their elements, one a line.
    std::string command(const std::vector<std::string>& argv);
    void flushall() { command({"FLUSHALL"}); }

    std::uint16_t port() const { return port_; }
    std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }
    std::string log() const;

private:
    std::string binary_, dir_;
    std::uint16_t port_ = 0;
    pid_t pid_ = -1;
};

// One private Redis per test binary, started on first use and stopped at exit.
redis_server& binary_redis();

// An SSE stream (GET /api/stream) over a plain socket, read with timeouts.
struct sse_event {
    std::string id, event, data;
};

class sse_client {
public:
    // target e.g. "/api/stream?channels=timeline"; headers such as Last-Event-ID.
    sse_client(std::uint16_t port, const std::string& target, const std::string& token,
               const header_list& headers = {});
    ~sse_client();
    sse_client(const sse_client&) = delete;
    sse_client& operator=(const sse_client&) = delete;

    unsigned status() const { return status_; }
    std::string header(const std::string& name) const;
    // The body of a non-200 answer (read until the server closes).
    const std::string& error_body() const { return error_body_; }
    // The next event (comments skipped); nullopt on timeout or end of stream.
    std::optional<sse_event> next(std::chrono::milliseconds timeout = std::chrono::seconds(5));
    // Every event until one with id == id (included); throws on timeout.
    std::vector<sse_event> until_id(const std::string& id,
                                    std::chrono::milliseconds timeout = std::chrono::seconds(10));
    // Events until the stream has been quiet for `quiet`.
    std::vector<sse_event> drain(std::chrono::milliseconds quiet);
    // Reads and discards until the server closes the connection; false on timeout. (Also
    // usable as a raw client that upgrades to a WebSocket and then never answers anything.)
    bool wait_eof(std::chrono::milliseconds timeout);

private:
    bool fill(std::chrono::steady_clock::time_point deadline);
    int fd_ = -1;
    unsigned status_ = 0;
    header_list headers_;
    std::string buf_, error_body_;
    bool eof_ = false;
};

// REST shortcuts (each throws with the response unless it has the expected status).
void follow(http_client& c, const test_user& who, const test_user& whom);
void unfollow(http_client& c, const test_user& who, const test_user& whom);
void like(http_client& c, const test_user& who, const std::string& tweet_id);
std::string retweet(http_client& c, const test_user& who, const std::string& tweet_id);
void delete_tweet(http_client& c, const test_user& who, const std::string& tweet_id);
// Returns the conversation id.
std::string create_conversation(http_client& c, const test_user& who,
                                const std::vector<test_user>& others);
// Returns the Message JSON.
nlohmann::json send_message(http_client& c, const test_user& who, const std::string& conversation,
                            const std::string& content);
// GET /api/timeline pages until the end (ids, newest first); limit per page.
std::vector<std::string> timeline_ids(http_client& c, const test_user& who, int limit = 100);

// A chirpd on a fresh database and the binary's private Redis, with a WebSocket to a user.
class rt_server {
public:
    explicit rt_server(std::vector<std::string> extra_args, std::string redis_url = "");
    fresh_database& db() { return *db_; }
    chirpd_process& chirpd() { return *chirpd_; }
    http_client& api() { return api_; }
    std::uint16_t port() const { return chirpd_->port(); }

    // A WebSocket authenticated (first-message auth) as the user.
    std::unique_ptr<ws_client> connect(const test_user& u, ws_options opts = {});
    // ... and subscribed to channels (with since when given).
    std::unique_ptr<ws_client> connect_subscribed(const test_user& u,
                                                  const std::vector<std::string>& channels,
                                                  std::optional<std::string> since = std::nullopt);

private:
    std::unique_ptr<fresh_database> db_;
    std::unique_ptr<chirpd_process> chirpd_;
    http_client api_;
};

// One rt_server per test suite (Derived may define static extra_args()); the chirpd log of
// a failed test is printed; chirpd must exit 0 on SIGTERM at the end of the suite.
template <class Derived>
class rt_suite : public ::testing::Test {
public:
    static std::vector<std::string> extra_args() { return {}; }

    static void SetUpTestSuite() {
        setup_error_.clear();
        try {
            binary_redis().flushall();
            server_ = std::make_unique<rt_server>(Derived::extra_args());
        } catch (const std::exception& e) {
            setup_error_ = e.what();
        }
    }

    static void TearDownTestSuite() {
        if (server_) {
            const int rc = server_->chirpd().stop();
            EXPECT_EQ(rc, 0) << "chirpd did not shut down cleanly; its log:\n"
                             << server_->chirpd().log();
        }
        server_.reset();
    }

protected:
    void SetUp() override {
        ASSERT_TRUE(setup_error_.empty()) << "test server setup failed: " << setup_error_;
        log_mark_ = server_->chirpd().log_size();
    }

    void TearDown() override {
        if (!server_) return;
        if (HasFailure()) {
            std::cerr << "---- chirpd log during this test (" << server_->chirpd().log_path()
                      << ") ----\n"
                      << server_->chirpd().log(log_mark_) << "---- end of chirpd log ----\n";
        }
        EXPECT_TRUE(server_->chirpd().running()) << "chirpd died; its log:\n"
                                                 << server_->chirpd().log();
    }

    static rt_server& server() { return *server_; }
    static http_client& api() { return server_->api(); }

private:
    static inline std::unique_ptr<rt_server> server_;
    static inline std::string setup_error_;
    std::size_t log_mark_ = 0;
};

// Ids of the tweets of TweetCreated events among event frames, in order.
std::vector<std::string> tweet_ids_of(const std::vector<nlohmann::json>& frames);

}  // namespace chirp::test
