// Reads and checks CHIRP_TEST_*; registers a global test environment so that a binary run
// without them fails at once with one clear message instead of failing every test.
#include "support/env.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <mutex>
#include <random>
#include <stdexcept>

namespace chirp::test {
namespace {

std::string missing_message(const char* name) {
    return std::string(name) +
           " is not set. The integration tests need the PostgreSQL, Redis and chirpd that "
           "scripts/test.sh provides; run scripts/test.sh, or export CHIRP_TEST_DATABASE_URL "
           "(role chirp), CHIRP_TEST_ADMIN_URL (a superuser), CHIRP_TEST_REDIS_URL and "
           "CHIRP_TEST_CHIRPD (absolute path of chirpd) yourself.";
}

std::string read_var(const char* name, bool required) {
    const char* v = std::getenv(name);
    if (v == nullptr || *v == '\0') {
        if (required) throw std::runtime_error(missing_message(name));
        return {};
    }
    return v;
}

test_env load() {
    test_env e;
    e.database_url = read_var("CHIRP_TEST_DATABASE_URL", true);
    e.admin_url = read_var("CHIRP_TEST_ADMIN_URL", true);
    e.redis_url = read_var("CHIRP_TEST_REDIS_URL", true);
    e.chirpd = read_var("CHIRP_TEST_CHIRPD", true);
    e.tmpdir = read_var("CHIRP_TEST_TMPDIR", false);
    e.keep_logs = !e.tmpdir.empty();
    if (e.tmpdir.empty()) e.tmpdir = read_var("TMPDIR", false);
    if (e.tmpdir.empty()) e.tmpdir = "/tmp";
    ::mkdir(e.tmpdir.c_str(), 0755);  // usually there already
    if (e.chirpd.empty() || e.chirpd[0] != '/')
        throw std::runtime_error("CHIRP_TEST_CHIRPD must be an absolute path, got '" + e.chirpd +
                                 "'");
    if (::access(e.chirpd.c_str(), X_OK) != 0)
        throw std::runtime_error("CHIRP_TEST_CHIRPD=" + e.chirpd + " is not an executable file");
    return e;
}

class env_check final : public ::testing::Environment {
public:
    void SetUp() override {
        try {
            (void)env();
        } catch (const std::exception& e) {
            // A fatal failure here stops every test of the binary and fails it.
            GTEST_FAIL() << e.what();
        }
    }
};

[[maybe_unused]] auto* const registered = ::testing::AddGlobalTestEnvironment(new env_check);

}  // namespace

const test_env& env() {
    static const test_env e = load();  // a throw leaves it uninitialized: retried next call
    return e;
}

std::string random_token(std::size_t n) {
    static std::mutex mu;
    static std::mt19937_64 rng{std::random_device{}() ^
                               (static_cast<std::uint64_t>(::getpid()) << 32)};
    static constexpr char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    std::lock_guard lk(mu);
    std::uniform_int_distribution<std::size_t> pick(0, sizeof alphabet - 2);
    std::string out;
    for (std::size_t i = 0; i < n; ++i) out += alphabet[pick(rng)];
    return out;
}

}  // namespace chirp::test
