// The PostgreSQL connection string of the pool connections and the watchdog that bounds a
// blocking call (store/guard.hpp), without a server: a socket pair stands in for libpq's.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "../../src/store/guard.hpp"
#include "chirp/config/config.hpp"

namespace chirp::store {
namespace {

using namespace std::chrono_literals;

TEST(PgConninfo, AddsTimeoutAndKeepalivesUnlessTheUrlSetsThem) {
    EXPECT_EQ(conninfo("postgresql://chirp@127.0.0.1:5432/chirp", 2),
              "postgresql://chirp@127.0.0.1:5432/chirp?connect_timeout=2&keepalives=1&"
              "keepalives_idle=5&keepalives_interval=2&keepalives_count=3");
    EXPECT_EQ(conninfo("postgresql://h/db?sslmode=disable&keepalives_idle=30&connect_timeout=9", 2),
              "postgresql://h/db?sslmode=disable&keepalives_idle=30&connect_timeout=9&"
              "keepalives=1&keepalives_interval=2&keepalives_count=3");
}

TEST(PgConninfo, LimitsFollowTheConfiguration) {
    config c;
    c.db_statement_timeout = 1500ms;
    c.db_queue_timeout = 700ms;
    c.db_connect_timeout_s = 4;
    const auto l = limits_of(c);
    EXPECT_EQ(l.statement, 1500ms);
    EXPECT_EQ(l.call, 2000ms);
    EXPECT_EQ(l.queue, 700ms);
    EXPECT_NE(l.conninfo.find("connect_timeout=4"), std::string::npos);
}

TEST(PgWatchdog, ShutsABlockedSocketDownAtItsDeadline) {
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    watchdog wd;
    auto armed = wd.arm(sv[0], steady::now() + 100ms);
    char c = 0;
    // Nothing is ever written: only the watchdog ends this read (EOF after shutdown).
    EXPECT_EQ(::read(sv[0], &c, 1), 0);
    EXPECT_TRUE(armed.disarm());
    // Disarmed in time: nothing happens to the socket.
    auto calm = wd.arm(sv[1], steady::now() + 10s);
    EXPECT_FALSE(calm.disarm());
    wd.stop();
    ::close(sv[0]);
    ::close(sv[1]);
}

TEST(PgWatchdog, StopCutsEveryDeadlineToTheGrace) {
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    watchdog wd;
    auto armed = wd.arm(sv[0], steady::now() + 1h);
    EXPECT_FALSE(wd.past_stop());
    wd.begin_stop(50ms);
    char c = 0;
    EXPECT_EQ(::read(sv[0], &c, 1), 0);
    EXPECT_TRUE(armed.disarm());
    EXPECT_TRUE(wd.past_stop());
    wd.stop();
    ::close(sv[0]);
    ::close(sv[1]);
}

TEST(PgWatchdog, RunsTheSweepsOnEveryTick) {
    watchdog wd;
    std::atomic<int> ticks{0};
    wd.add_sweep([&](steady::time_point) { ++ticks; });
    const auto end = steady::now() + 5s;
    while (ticks.load() < 3 && steady::now() < end) std::this_thread::sleep_for(10ms);
    EXPECT_GE(ticks.load(), 3);
    wd.stop();
}

}  // namespace
}  // namespace chirp::store
