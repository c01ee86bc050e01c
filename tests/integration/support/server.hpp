// A test server: a fresh database and a chirpd on it, and a gtest fixture base that shares
// one per test suite (starting chirpd once per suite keeps the run fast). When a test fails,
// the part of chirpd's log written during that test is printed; at the end of the suite
// chirpd must shut down cleanly on SIGTERM (exit code 0, which under ASan also means no leak).
#pragma once

#include <gtest/gtest.h>

#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "support/api.hpp"
#include "support/database.hpp"
#include "support/http_client.hpp"
#include "support/process.hpp"

namespace chirp::test {

class test_server {
public:
    explicit test_server(std::vector<std::string> extra_args = {}, std::string redis_url = "",
                         std::vector<std::string> extra_env = {});
    fresh_database& db() { return *db_; }
    chirpd_process& chirpd() { return *chirpd_; }
    http_client& client() { return client_; }
    std::uint16_t port() const { return chirpd_->port(); }

private:
    std::unique_ptr<fresh_database> db_;
    std::unique_ptr<chirpd_process> chirpd_;
    http_client client_;
};

// Derived may define `static std::vector<std::string> extra_args()` (more chirpd flags) and
// `static std::vector<std::string> extra_env()` ("NAME=value" for chirpd's environment).
template <class Derived>
class server_test : public ::testing::Test {
public:
    static std::vector<std::string> extra_args() { return {}; }
    static std::vector<std::string> extra_env() { return {}; }

    static void SetUpTestSuite() {
        setup_error_.clear();
        try {
            server_ =
                std::make_unique<test_server>(Derived::extra_args(), "", Derived::extra_env());
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
        if (!server_->chirpd().stopped()) {
            EXPECT_TRUE(server_->chirpd().running()) << "chirpd died; its log:\n"
                                                     << server_->chirpd().log();
        }
    }

    static test_server& server() { return *server_; }
    static http_client& api() { return server_->client(); }

private:
    static inline std::unique_ptr<test_server> server_;
    static inline std::string setup_error_;
    std::size_t log_mark_ = 0;
};

}  // namespace chirp::test
