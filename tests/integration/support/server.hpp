// Test servers: the one way the integration tests start chirpd (start_chirpd), a fresh
// database with a chirpd on it (test_server), and the gtest fixture base every suite derives
// from (server_test), which shares one test_server per suite: starting chirpd once per suite
// keeps the run fast. When a test fails, the part of chirpd's log written during that test is
// printed; at the end of the suite chirpd must shut down cleanly on SIGTERM (exit code 0,
// which under ASan also means no leak).
//
// Every test chirpd uses this binary's private redis-server (support/redis_server.hpp) unless
// told otherwise; server_test flushes it before each suite.
#pragma once

#include <gtest/gtest.h>

#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "support/api.hpp"
#include "support/database.hpp"
#include "support/http_client.hpp"
#include "support/process.hpp"
#include "support/redis_server.hpp"
#include "support/ws_client.hpp"

namespace chirp::test {

// How a test chirpd runs.
struct server_options {
    std::vector<std::string> args;  // more chirpd flags
    std::vector<std::string> env;   // "NAME=value" added to chirpd's environment
    std::string redis_url;          // empty: binary_redis()
    std::string name = "chirpd";    // for its log file's name
    bool keep_alive = false;        // test_server::api() reuses one connection
};

// Starts chirpd on the database and waits until it answers /healthz (throws with its log
// when it does not). The process stops (SIGTERM) when the pointer goes away.
std::unique_ptr<chirpd_process> start_chirpd(const fresh_database& db, server_options o = {});

// A fresh database and a chirpd on it, with a REST client and WebSocket shortcuts.
class test_server {
public:
    explicit test_server(server_options o = {});
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

// The fixture base of every suite that talks to one chirpd. Derived may hide
// `static server_options options()` to configure it (flags, environment, Redis, keep-alive).
template <class Derived>
class server_test : public ::testing::Test {
public:
    static server_options options() { return {}; }

    static void SetUpTestSuite() {
        setup_error_.clear();
        try {
            binary_redis().flushall();
            server_ = std::make_unique<test_server>(Derived::options());
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
        // A test may stop chirpd itself (to read its whole log); else it must still run.
        if (!server_->chirpd().stopped()) {
            EXPECT_TRUE(server_->chirpd().running()) << "chirpd died; its log:\n"
                                                     << server_->chirpd().log();
        }
    }

    static test_server& server() { return *server_; }
    static http_client& api() { return server_->api(); }

private:
    static inline std::unique_ptr<test_server> server_;
    static inline std::string setup_error_;
    std::size_t log_mark_ = 0;
};

}  // namespace chirp::test
