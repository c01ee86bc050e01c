// Unit tests of config parsing: defaults, flags and CHIRP_* variables (flags win), bad values
// (ok=false with one line), --help, commands, and the JWT secret rule outside dev mode.
#include "chirp/config/config.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace {

using chirp::parse_config;
using chirp::parse_result;
using env_map = std::map<std::string, std::string>;

const std::string good_secret = "0123456789abcdef0123";

parse_result parse(std::vector<std::string> args, const env_map& env = {}) {
    args.insert(args.begin(), "chirpd");
    std::vector<const char*> argv;
    for (const auto& a : args) argv.push_back(a.c_str());
    argv.push_back(nullptr);
    return parse_config(static_cast<int>(args.size()), argv.data(), [&](const char* name) {
        auto it = env.find(name);
        return it == env.end() ? nullptr : it->second.c_str();
    });
}

// A failed parse: ok=false, a single line naming the culprit.
void expect_error(const parse_result& r, const std::string& mentions) {
    EXPECT_FALSE(r.ok);
    EXPECT_FALSE(r.help);
    EXPECT_FALSE(r.message.empty());
    EXPECT_EQ(r.message.find('\n'), std::string::npos) << r.message;
    EXPECT_NE(r.message.find(mentions), std::string::npos) << r.message;
}

TEST(Config, DefaultsInDevMode) {
    const auto r = parse({"--dev"});
    ASSERT_TRUE(r.ok) << r.message;
    EXPECT_FALSE(r.help);
    EXPECT_EQ(r.cfg.command, "serve");
    EXPECT_EQ(r.cfg.port, 8000);
    EXPECT_EQ(r.cfg.bind, "0.0.0.0");
    EXPECT_EQ(r.cfg.log_level, "info");
    EXPECT_EQ(r.cfg.log_format, "text");
    EXPECT_TRUE(r.cfg.dev);
    EXPECT_FALSE(r.cfg.fast_password_hash);
    EXPECT_FALSE(r.cfg.jwt_secret.empty()) << "dev mode gets a fixed secret";
    EXPECT_EQ(r.cfg.jwt_ttl, std::chrono::seconds(86400));
}

TEST(Config, FlagsSetEveryKindOfValue) {
    const auto r = parse({"--port",
                          "9001",
                          "--bind=127.0.0.1",
                          "--database-url",
                          "postgresql://u@h:1/db",
                          "--redis-url",
                          "redis://h:2",
                          "--jwt-secret",
                          good_secret,
                          "--web-root",
                          "/srv/web",
                          "--log-level",
                          "warn",
                          "--log-format",
                          "json",
                          "--jwt-ttl-seconds",
                          "60",
                          "--db-threads",
                          "3",
                          "--fast-password-hash",
                          "--allowed-origins",
                          "http://a,,http://b",
                          "--heartbeat-ms",
                          "1500",
                          "--writer-max-batch",
                          "10"});
    ASSERT_TRUE(r.ok) << r.message;
    EXPECT_EQ(r.cfg.port, 9001);
    EXPECT_EQ(r.cfg.bind, "127.0.0.1");
    EXPECT_EQ(r.cfg.database_url, "postgresql://u@h:1/db");
    EXPECT_EQ(r.cfg.redis_url, "redis://h:2");
    EXPECT_EQ(r.cfg.jwt_secret, good_secret);
    EXPECT_EQ(r.cfg.web_root, "/srv/web");
    EXPECT_EQ(r.cfg.log_level, "warn");
    EXPECT_EQ(r.cfg.log_format, "json");
    EXPECT_EQ(r.cfg.jwt_ttl, std::chrono::seconds(60));
    EXPECT_EQ(r.cfg.db_threads, 3);
    EXPECT_TRUE(r.cfg.fast_password_hash);
    EXPECT_EQ(r.cfg.allowed_origins, (std::vector<std::string>{"http://a", "http://b"}));
    EXPECT_EQ(r.cfg.heartbeat, std::chrono::milliseconds(1500));
    EXPECT_EQ(r.cfg.writer_max_batch, 10u);
    EXPECT_FALSE(r.cfg.dev);
}

TEST(Config, EnvironmentVariablesAreRead) {
    const auto r = parse({}, {{"CHIRP_PORT", "9100"},
                              {"CHIRP_JWT_SECRET", good_secret},
                              {"CHIRP_DATABASE_URL", "postgres://x@y/z"},
                              {"CHIRP_LOG_FORMAT", "json"},
                              {"CHIRP_FAST_PASSWORD_HASH", "true"}});
    ASSERT_TRUE(r.ok) << r.message;
    EXPECT_EQ(r.cfg.port, 9100);
    EXPECT_EQ(r.cfg.jwt_secret, good_secret);
    EXPECT_EQ(r.cfg.database_url, "postgres://x@y/z");
    EXPECT_EQ(r.cfg.log_format, "json");
    EXPECT_TRUE(r.cfg.fast_password_hash);
}

TEST(Config, FlagsBeatEnvironment) {
    const env_map env = {{"CHIRP_PORT", "9100"},
                         {"CHIRP_LOG_LEVEL", "debug"},
                         {"CHIRP_JWT_SECRET", "env-secret-0123456789"},
                         {"CHIRP_DEV", "true"}};
    const auto r = parse(
        {"--port", "9200", "--log-level=error", "--jwt-secret", good_secret, "--dev=false"}, env);
    ASSERT_TRUE(r.ok) << r.message;
    EXPECT_EQ(r.cfg.port, 9200);
    EXPECT_EQ(r.cfg.log_level, "error");
    EXPECT_EQ(r.cfg.jwt_secret, good_secret);
    EXPECT_FALSE(r.cfg.dev);
}

TEST(Config, InvalidEnvironmentIsReportedEvenWhenAFlagOverridesIt) {
    // A valid environment value is overridden; an invalid one is still reported (it is bad
    // configuration), naming the variable.
    expect_error(parse({"--port", "9200", "--dev"}, {{"CHIRP_PORT", "nope"}}), "CHIRP_PORT");
}

TEST(Config, BadValuesGiveOneLine) {
    expect_error(parse({"--dev", "--port", "abc"}), "--port");
    expect_error(parse({"--dev", "--port", "0"}), "--port");
    expect_error(parse({"--dev", "--port", "65536"}), "--port");
    expect_error(parse({"--dev", "--port", "-1"}), "--port");
    expect_error(parse({"--dev", "--port", "80x"}), "--port");
    expect_error(parse({"--dev", "--port", ""}), "--port");
    expect_error(parse({"--dev", "--bind", ""}), "--bind");
    expect_error(parse({"--dev", "--database-url", "mysql://x"}), "--database-url");
    expect_error(parse({"--dev", "--redis-url", "http://x"}), "--redis-url");
    expect_error(parse({"--dev", "--log-level", "verbose"}), "--log-level");
    expect_error(parse({"--dev", "--log-format", "xml"}), "--log-format");
    expect_error(parse({"--dev", "--jwt-ttl-seconds", "0"}), "--jwt-ttl-seconds");
    expect_error(parse({"--dev", "--db-threads", "1000"}), "--db-threads");
    expect_error(parse({"--dev", "--heartbeat-ms", "5"}), "--heartbeat-ms");
    expect_error(parse({"--dev=maybe"}), "--dev");
    expect_error(parse({"--dev", "--port"}), "--port");  // missing value
    expect_error(parse({"--dev", "--no-such-option"}), "no-such-option");
    expect_error(parse({"--dev", "stray"}), "stray");
    expect_error(parse({"launch-rockets"}), "launch-rockets");
    expect_error(parse({}, {{"CHIRP_DEV", "1"}, {"CHIRP_LOG_FORMAT", "yaml"}}), "CHIRP_LOG_FORMAT");
    expect_error(parse({}, {{"CHIRP_DEV", "perhaps"}}), "CHIRP_DEV");
}

TEST(Config, HelpListsEveryOption) {
    const auto r = parse({"--help"});
    EXPECT_TRUE(r.ok);
    EXPECT_TRUE(r.help);
    for (const char* s :
         {"--port", "CHIRP_PORT", "--database-url", "CHIRP_DATABASE_URL", "--redis-url",
          "CHIRP_REDIS_URL", "--jwt-secret", "CHIRP_JWT_SECRET", "--web-root", "--log-level",
          "--log-format", "--bind", "--dev", "rebuild-projections", "migrate"})
        EXPECT_NE(r.message.find(s), std::string::npos) << s;
    // -h too, and --help wins over bad configuration after it is seen.
    EXPECT_TRUE(parse({"-h"}).help);
    EXPECT_TRUE(parse({"serve", "--help"}).help);
}

TEST(Config, JwtSecretIsRequiredOutsideDevMode) {
    expect_error(parse({}), "CHIRP_JWT_SECRET");
    expect_error(parse({"serve", "--port", "9000"}), "CHIRP_JWT_SECRET");
    expect_error(parse({"--jwt-secret", "short"}), "16");
    EXPECT_TRUE(parse({"--jwt-secret", good_secret}).ok);
    EXPECT_TRUE(parse({}, {{"CHIRP_JWT_SECRET", good_secret}}).ok);
    EXPECT_TRUE(parse({"--dev"}).ok);
    EXPECT_TRUE(parse({}, {{"CHIRP_DEV", "1"}}).ok);
    // Dev mode with a short secret is allowed (it is dev mode).
    const auto dev_short = parse({"--dev", "--jwt-secret", "short"});
    EXPECT_TRUE(dev_short.ok);
    EXPECT_EQ(dev_short.cfg.jwt_secret, "short");
}

TEST(Config, EmptyEnvironmentVariablesAreUnset) {
    // `CHIRP_DEV=` (as left by `CHIRP_DEV: ${CHIRP_DEV}` in a compose file) must not switch on
    // dev mode and its publicly known JWT secret, nor the cheap password hash.
    const auto r = parse({}, {{"CHIRP_DEV", ""}, {"CHIRP_FAST_PASSWORD_HASH", ""}});
    expect_error(r, "CHIRP_JWT_SECRET");
    const auto s = parse({}, {{"CHIRP_JWT_SECRET", good_secret},
                              {"CHIRP_DEV", ""},
                              {"CHIRP_FAST_PASSWORD_HASH", ""},
                              {"CHIRP_PORT", ""},
                              {"CHIRP_BIND", ""}});
    ASSERT_TRUE(s.ok) << s.message;
    EXPECT_FALSE(s.cfg.dev);
    EXPECT_FALSE(s.cfg.fast_password_hash);
    EXPECT_EQ(s.cfg.port, 8000);
    EXPECT_EQ(s.cfg.bind, "0.0.0.0");
}

TEST(Config, MaintenanceCommandsNeedNoSecret) {
    for (const char* cmd : {"migrate", "rebuild-projections", "seed"}) {
        const auto r = parse({cmd, "--database-url", "postgresql://chirp@127.0.0.1:5/x"});
        ASSERT_TRUE(r.ok) << cmd << ": " << r.message;
        EXPECT_EQ(r.cfg.command, cmd);
        EXPECT_EQ(r.cfg.database_url, "postgresql://chirp@127.0.0.1:5/x");
    }
    const auto serve = parse({"serve", "--dev"});
    ASSERT_TRUE(serve.ok);
    EXPECT_EQ(serve.cfg.command, "serve");
}

TEST(Config, SwitchesAcceptBooleanSpellings) {
    for (const char* yes : {"1", "true", "yes", "on"}) {
        const auto r = parse({std::string("--dev=") + yes});
        ASSERT_TRUE(r.ok) << yes;
        EXPECT_TRUE(r.cfg.dev) << yes;
    }
    for (const char* no : {"0", "false", "no", "off"}) {
        const auto r = parse({std::string("--dev=") + no, "--jwt-secret", good_secret});
        ASSERT_TRUE(r.ok) << no;
        EXPECT_FALSE(r.cfg.dev) << no;
    }
}

TEST(Config, LastFlagWins) {
    const auto r = parse({"--dev", "--port", "9001", "--port", "9002"});
    ASSERT_TRUE(r.ok);
    EXPECT_EQ(r.cfg.port, 9002);
}

}  // namespace

namespace {

// Issue 10: the secret published in docker-compose.yml (and the built-in dev secret) sign
// tokens anyone can forge: refused unless --dev, with a message saying what to do.
TEST(Config, PublicDevelopmentSecretsAreRefusedOutsideDevMode) {
    for (const std::string& secret : {std::string(chirp::compose_dev_secret),
                                      std::string("chirp-dev-secret-not-for-production")}) {
        const auto r = parse({"--jwt-secret", secret});
        expect_error(r, "public development secret");
        EXPECT_NE(r.message.find("--dev"), std::string::npos) << r.message;
        expect_error(parse({}, {{"CHIRP_JWT_SECRET", secret}}), "docker-compose.yml");
        EXPECT_TRUE(parse({"--jwt-secret", secret, "--dev"}).ok);
        EXPECT_TRUE(parse({}, {{"CHIRP_JWT_SECRET", secret}, {"CHIRP_DEV", "1"}}).ok);
        // Maintenance commands sign nothing.
        EXPECT_TRUE(parse({"migrate", "--jwt-secret", secret}).ok);
    }
}

TEST(Config, AbuseLimitDefaultsAndFlags) {
    auto r = parse({"--dev"});
    ASSERT_TRUE(r.ok) << r.message;
    EXPECT_EQ(r.cfg.write_rate_limit, 100);
    EXPECT_EQ(r.cfg.register_rate_limit, 20);
    EXPECT_EQ(r.cfg.password_queue, 32);
    EXPECT_EQ(r.cfg.idempotency_purge_seconds, 600);
    r = parse({"--dev", "--write-rate-limit", "0", "--register-rate-limit", "5", "--password-queue",
               "8", "--idempotency-purge-seconds", "1"});
    ASSERT_TRUE(r.ok) << r.message;
    EXPECT_EQ(r.cfg.write_rate_limit, 0);
    EXPECT_EQ(r.cfg.register_rate_limit, 5);
    EXPECT_EQ(r.cfg.password_queue, 8);
    EXPECT_EQ(r.cfg.idempotency_purge_seconds, 1);
    expect_error(parse({"--dev", "--password-queue", "2"}), "--password-queue");
    expect_error(parse({"--dev", "--write-rate-limit", "-1"}), "--write-rate-limit");
}

}  // namespace
