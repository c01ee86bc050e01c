// Unit tests of the REST abuse limits (http/limits.hpp) on an injected clock: the failed-login
// policy (per handle+address, per address, per handle; normalized handles), bounded memory
// (least recently used keys evicted), token buckets; and the log escaping of util/.
#include "chirp/http/limits.hpp"

#include <gtest/gtest.h>

#include <string>

#include "chirp/util/log_escape.hpp"

namespace {

using chirp::http::login_limiter;
using chirp::http::lru_map;
using chirp::http::normalize_handle;
using chirp::http::token_buckets;

constexpr std::int64_t t0 = 1'900'000'000;

TEST(LoginLimiter, CaseVariantsOfAHandleCountTogether) {
    login_limiter l;
    EXPECT_EQ(normalize_handle("AlIcE_9"), "alice_9");
    for (const char* h : {"alice", "ALICE", "Alice", "aLiCe", "alicE"}) l.failed(h, "10.0.0.1", t0);
    EXPECT_GT(l.retry_after("alice", "10.0.0.1", t0), 0);
    EXPECT_GT(l.retry_after("ALICE", "10.0.0.1", t0 + 1), 0);
}

TEST(LoginLimiter, OneAddressCannotLockTheOwnerOut) {
    login_limiter l;
    // An attacker at one address fails as often as it is let through, and more.
    for (int i = 0; i < 200; ++i)
        if (l.retry_after("victim", "10.0.0.66", t0) == 0) l.failed("victim", "10.0.0.66", t0);
    EXPECT_GT(l.retry_after("victim", "10.0.0.66", t0), 0);
    // The owner, elsewhere, is not throttled.
    EXPECT_EQ(l.retry_after("victim", "192.0.2.7", t0), 0);
    EXPECT_EQ(l.retry_after("Victim", "192.0.2.7", t0), 0);
}

TEST(LoginLimiter, AnAddressIsLimitedAcrossHandles) {
    login_limiter l;
    for (int i = 0; i < login_limiter::per_address; ++i)
        l.failed("user" + std::to_string(i), "10.0.0.9", t0);
    const int wait = l.retry_after("someone", "10.0.0.9", t0 + 10);
    EXPECT_EQ(wait, 50);
    EXPECT_EQ(l.retry_after("someone", "10.0.0.10", t0 + 10), 0);
    // The window ends.
    EXPECT_EQ(l.retry_after("someone", "10.0.0.9", t0 + login_limiter::window_seconds), 0);
}

TEST(LoginLimiter, ManyAddressesReachTheHandleLimit) {
    login_limiter l;
    const int addresses = login_limiter::per_handle / login_limiter::per_pair;
    for (int a = 0; a < addresses; ++a)
        for (int i = 0; i < login_limiter::per_pair; ++i)
            l.failed("victim", "10.1.0." + std::to_string(a), t0);
    EXPECT_GT(l.retry_after("victim", "192.0.2.7", t0), 0);
    EXPECT_EQ(l.retry_after("other", "192.0.2.7", t0), 0);
}

TEST(LoginLimiter, SuccessClearsThePairAndTheHandle) {
    login_limiter l;
    for (int i = 0; i < 4; ++i) l.failed("bob", "10.0.0.1", t0);
    l.succeeded("BOB", "10.0.0.1");
    for (int i = 0; i < 4; ++i) l.failed("bob", "10.0.0.1", t0);
    EXPECT_EQ(l.retry_after("bob", "10.0.0.1", t0), 0);
}

TEST(LoginLimiter, MemoryIsBounded) {
    login_limiter l(1000);
    for (int i = 0; i < 50000; ++i) l.failed("h" + std::to_string(i), "a" + std::to_string(i), t0);
    EXPECT_LE(l.entries(), 3000u);
}

TEST(LruMap, EvictsTheLeastRecentlyTouchedKey) {
    lru_map<int> m(3);
    m.get("a") = 1;
    m.get("b") = 2;
    m.get("c") = 3;
    ASSERT_NE(m.find("a"), nullptr);  // touches a: b is now the oldest
    m.get("d") = 4;
    EXPECT_EQ(m.size(), 3u);
    EXPECT_EQ(m.find("b"), nullptr);
    EXPECT_EQ(*m.find("a"), 1);
    EXPECT_EQ(*m.find("d"), 4);
    m.erase("a");
    EXPECT_EQ(m.size(), 2u);
}

TEST(TokenBuckets, BurstThenRateWithRetryAfter) {
    token_buckets b(2, 4);  // 2 a second, burst 4
    for (int i = 0; i < 4; ++i) EXPECT_EQ(b.take("u1", 100.0), 0) << i;
    EXPECT_EQ(b.take("u1", 100.0), 1);
    EXPECT_EQ(b.take("u2", 100.0), 0);  // keys are independent
    EXPECT_EQ(b.take("u1", 100.5), 0);  // one token back after half a second
    EXPECT_GE(b.take("u1", 100.5), 1);
    // Slow registrations: 3 a minute, burst 3: the wait is up to 20 s.
    token_buckets r(3 / 60.0, 3);
    for (int i = 0; i < 3; ++i) EXPECT_EQ(r.take("10.0.0.1", 0), 0);
    const int wait = r.take("10.0.0.1", 0);
    EXPECT_GE(wait, 19);
    EXPECT_LE(wait, 20);
}

TEST(TokenBuckets, RateZeroIsOffAndMemoryIsBounded) {
    token_buckets off(0, 0);
    EXPECT_FALSE(off.enabled());
    for (int i = 0; i < 1000; ++i) EXPECT_EQ(off.take("u", 0), 0);
    EXPECT_EQ(off.entries(), 0u);
    token_buckets on(1, 1, 100);
    for (int i = 0; i < 10000; ++i) on.take(std::to_string(i), 0);
    EXPECT_EQ(on.entries(), 100u);
}

TEST(LogEscape, ControlCharactersCannotBreakOrForgeALine) {
    using chirp::util::log_escaped;
    EXPECT_EQ(log_escaped("GET /x\n2026-01-01 00:00:00.000 info  forged"),
              "GET /x\\x0a2026-01-01 00:00:00.000 info  forged");
    EXPECT_EQ(log_escaped(std::string("a\rb\tc\x1b[31md\x7f", 12)), "a\\x0db\\x09c\\x1b[31md\\x7f");
    EXPECT_EQ(log_escaped(std::string("nul\0x", 5)), "nul\\x00x");
    EXPECT_EQ(log_escaped("back\\x0a"), "back\\\\x0a");  // a literal backslash stays unambiguous
    EXPECT_EQ(log_escaped("caf\xc3\xa9 ok"), "caf\xc3\xa9 ok");  // UTF-8 untouched
}

}  // namespace
