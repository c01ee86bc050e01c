// Unit tests of the limits' tables (util/limit_tables.hpp): bounded tables that evict the
// least recently touched key of a probe window; one region seen by two "processes" (two
// mappings of one memfd, and a real fork) holding one limit between them; session counts per
// worker column, a dead worker's column cleared; a process killed while holding a table's
// robust mutex does not wedge the others; a descriptor that is not a region is refused.
#include "chirp/util/limit_tables.hpp"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stdexcept>
#include <string>

#include "chirp/http/limits.hpp"
#include "chirp/util/rate_limit.hpp"

namespace {

using chirp::http::login_limiter;
using chirp::util::limit_table;
using chirp::util::limits_region;
using chirp::util::token_buckets;

constexpr std::int64_t t0 = 1'900'000'000;

struct counter {
    std::int64_t n;
};

bool has(limits_region& r, limit_table t, const std::string& key) {
    return r.update<counter>(t, key, false, [](counter&, bool) { return true; });
}

// Waits for a forked child; true when it exited with 0.
bool child_ok(pid_t pid) {
    int status = 0;
    return ::waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

TEST(LimitTables, BoundedAndTheRecentlyTouchedKeyStays) {
    auto r = limits_region::create_private({.slots = 100, .session_slots = 16, .workers = 1});
    auto add = [&](const std::string& k) {
        r->update<counter>(limit_table::writes, k, true, [](counter& c, bool fresh) {
            c.n = fresh ? 1 : c.n + 1;
            return true;
        });
    };
    add("keep");
    for (int i = 0; i < 10000; ++i) {
        add("k" + std::to_string(i));
        EXPECT_TRUE(has(*r, limit_table::writes, "keep")) << i;  // touched: never the oldest
    }
    EXPECT_EQ(r->entries(limit_table::writes), 100u);
    EXPECT_TRUE(has(*r, limit_table::writes, "k9999"));
    EXPECT_FALSE(has(*r, limit_table::writes, "k0"));
    EXPECT_EQ(r->entries(limit_table::replays), 0u) << "tables are separate";
    // Returning false erases; erase() too.
    r->update<counter>(limit_table::writes, "keep", false, [](counter&, bool) { return false; });
    EXPECT_FALSE(has(*r, limit_table::writes, "keep"));
    r->erase(limit_table::writes, "k9999");
    EXPECT_FALSE(has(*r, limit_table::writes, "k9999"));
    EXPECT_EQ(r->entries(limit_table::writes), 98u);
}

TEST(LimitTables, TwoMappingsOfOneMemfdShareEveryLimit) {
    auto a = limits_region::create_shared({.slots = 1000, .session_slots = 64, .workers = 2});
    auto b = limits_region::attach(::dup(a->fd()));  // as a worker maps its inherited fd
    // Token buckets: burst 5 in all, whichever mapping takes.
    token_buckets wa(1, 5, a, limit_table::writes), wb(1, 5, b, limit_table::writes);
    for (int i = 0; i < 3; ++i) EXPECT_EQ(wa.take("42", 100.0), 0);
    for (int i = 0; i < 2; ++i) EXPECT_EQ(wb.take("42", 100.0), 0);
    EXPECT_EQ(wa.take("42", 100.0), 1);
    EXPECT_EQ(wb.take("42", 100.0), 1);
    EXPECT_EQ(wb.entries(), 1u);
    // Failed logins: 5 for the pair in all.
    login_limiter la(a), lb(b);
    for (int i = 0; i < 3; ++i) la.failed("alice", "10.0.0.1", t0);
    EXPECT_EQ(lb.retry_after("alice", "10.0.0.1", t0), 0);
    for (int i = 0; i < 2; ++i) lb.failed("ALICE", "10.0.0.1", t0);
    EXPECT_EQ(la.retry_after("alice", "10.0.0.1", t0 + 10), 50);
    EXPECT_EQ(lb.retry_after("alice", "10.0.0.1", t0 + 10), 50);
    la.succeeded("alice", "10.0.0.1");
    EXPECT_EQ(lb.retry_after("alice", "10.0.0.1", t0 + 10), 0);
    // Sessions: the cap counts both workers' columns; a cleared column no longer counts.
    EXPECT_TRUE(a->admit_session(7, 0, 4));
    EXPECT_TRUE(a->admit_session(7, 0, 4));
    EXPECT_TRUE(b->admit_session(7, 1, 4));
    EXPECT_TRUE(b->admit_session(7, 1, 4));
    EXPECT_FALSE(a->admit_session(7, 0, 4));
    EXPECT_FALSE(b->admit_session(7, 1, 4));
    EXPECT_EQ(a->sessions_of(7), 4);
    EXPECT_EQ(a->clear_sessions_of(1), 2);  // worker 1 died
    EXPECT_EQ(b->sessions_of(7), 2);
    EXPECT_TRUE(b->admit_session(7, 1, 4));
    a->release_session(7, 0);
    a->release_session(7, 0);
    b->release_session(7, 1);
    EXPECT_EQ(a->sessions_of(7), 0);
    EXPECT_EQ(a->session_entries(), 0u) << "a user without sessions takes no slot";
}

TEST(LimitTables, AForkedProcessCountsInTheSameLimits) {
    auto r = limits_region::create_shared({.slots = 1000, .session_slots = 64, .workers = 2});
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        login_limiter l(r);
        for (int i = 0; i < 5; ++i) l.failed("bob", "10.0.0.2", t0);
        const bool admitted = r->admit_session(9, 1, 2) && r->admit_session(9, 1, 2);
        ::_exit(admitted ? 0 : 1);
    }
    ASSERT_TRUE(child_ok(pid));
    login_limiter l(r);
    EXPECT_GT(l.retry_after("bob", "10.0.0.2", t0), 0);
    EXPECT_FALSE(r->admit_session(9, 0, 2));
}

TEST(LimitTables, AProcessKilledHoldingTheLockDoesNotWedgeTheOthers) {
    auto r = limits_region::create_shared({.slots = 1000, .session_slots = 64, .workers = 2});
    token_buckets w(1, 2, r, limit_table::writes);
    EXPECT_EQ(w.take("u", 0), 0);
    for (int table : {static_cast<int>(limit_table::writes), chirp::util::limit_table_count}) {
        const pid_t pid = ::fork();
        ASSERT_GE(pid, 0);
        if (pid == 0) {
            limits_region::guard g(*r, table);
            ::_exit(g.ok() ? 0 : 1);  // dies holding the mutex
        }
        ASSERT_TRUE(child_ok(pid));
    }
    EXPECT_EQ(w.take("u", 0), 0);  // would hang on a mutex that is not robust
    EXPECT_EQ(w.take("u", 0), 1);
    EXPECT_EQ(w.entries(), 1u) << "recounted";
    EXPECT_TRUE(r->admit_session(3, 0, 1));
    EXPECT_EQ(r->recovered_locks(), 2u);
}

TEST(LimitTables, ADescriptorThatIsNotARegionIsRefused) {
    const int fd = ::memfd_create("not-limits", MFD_CLOEXEC);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::ftruncate(fd, 1 << 20), 0);
    EXPECT_THROW(limits_region::attach(fd), std::runtime_error);
    ::close(fd);
    EXPECT_THROW(limits_region::create_private({.slots = 10, .session_slots = 1, .workers = 0}),
                 std::invalid_argument);
}

}  // namespace
