// Unit tests of the supervisor's pure decisions (app/supervisor.hpp): --workers / CHIRP_WORKERS
// parsing, how many workers, when a supervisor runs, the restart backoff, and a worker's
// command line (which parses back into the same configuration plus the worker fields).
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "chirp/app/supervisor.hpp"
#include "chirp/config/config.hpp"

namespace {

using chirp::parse_result;
using namespace chirp::app;
using ms = std::chrono::milliseconds;

parse_result parse(const std::vector<std::string>& args,
                   const std::map<std::string, std::string>& env = {}) {
    std::vector<const char*> argv;
    for (const auto& a : args) argv.push_back(a.c_str());
    argv.push_back(nullptr);
    return chirp::parse_config(static_cast<int>(args.size()), argv.data(), [&](const char* n) {
        auto it = env.find(n);
        return it == env.end() ? nullptr : it->second.c_str();
    });
}

TEST(Workers, OptionDefaultsToOnePerCpu) {
    const auto r = parse({"chirpd", "--dev"});
    ASSERT_TRUE(r.ok) << r.message;
    EXPECT_EQ(r.cfg.workers, 0);
    EXPECT_EQ(r.cfg.worker_index, -1);
    EXPECT_EQ(r.cfg.worker_ready_fd, -1);
    EXPECT_EQ(resolve_workers(r.cfg.workers, 8), 8);
    EXPECT_EQ(resolve_workers(r.cfg.workers, 1), 1);
    EXPECT_EQ(resolve_workers(0, 0), 1);
}

TEST(Workers, FlagAndEnvironment) {
    auto r = parse({"chirpd", "--dev", "--workers", "3"});
    ASSERT_TRUE(r.ok) << r.message;
    EXPECT_EQ(r.cfg.workers, 3);
    r = parse({"chirpd", "--dev"}, {{"CHIRP_WORKERS", "5"}});
    ASSERT_TRUE(r.ok) << r.message;
    EXPECT_EQ(r.cfg.workers, 5);
    r = parse({"chirpd", "--dev", "--workers=2"}, {{"CHIRP_WORKERS", "5"}});  // flags win
    ASSERT_TRUE(r.ok) << r.message;
    EXPECT_EQ(r.cfg.workers, 2);
    EXPECT_EQ(resolve_workers(r.cfg.workers, 16), 2);
}

TEST(Workers, BadValuesAreRefused) {
    for (const char* bad : {"-1", "x", "1025", ""}) {
        const auto r = parse({"chirpd", "--dev", "--workers", bad});
        EXPECT_FALSE(r.ok) << bad;
        EXPECT_NE(r.message.find("--workers"), std::string::npos) << r.message;
    }
    EXPECT_FALSE(parse({"chirpd", "--dev"}, {{"CHIRP_WORKERS", "many"}}).ok);
    EXPECT_FALSE(parse({"chirpd", "--dev", "--worker-ready-fd", "1"}).ok);  // never stdio
}

TEST(Workers, SupervisorOnlyForServeWithSeveralWorkers) {
    auto r = parse({"chirpd", "--dev", "--workers", "1"});
    EXPECT_FALSE(wants_supervisor(r.cfg, 8));  // --workers 1: today's single process
    r = parse({"chirpd", "--dev"});
    EXPECT_TRUE(wants_supervisor(r.cfg, 2));
    EXPECT_FALSE(wants_supervisor(r.cfg, 1));  // one CPU: one process
    r = parse({"chirpd", "--dev", "--workers", "4", "--worker-index", "2"});
    EXPECT_FALSE(wants_supervisor(r.cfg, 8));  // a worker never supervises
    r = parse({"chirpd", "migrate", "--workers", "4"});
    EXPECT_FALSE(wants_supervisor(r.cfg, 8));
}

TEST(Workers, BackoffDoublesForQuickExitsUpToTheMaximum) {
    restart_backoff b(ms(100), ms(1000), ms(10000));
    const std::vector<long long> want = {100, 200, 400, 800, 1000, 1000};
    for (auto w : want) EXPECT_EQ(b.next(ms(50)).count(), w);
    EXPECT_EQ(b.consecutive(), 6);
}

TEST(Workers, BackoffResetsAfterAStableRun) {
    restart_backoff b(ms(100), ms(10000), ms(10000));
    EXPECT_EQ(b.next(ms(10)).count(), 100);
    EXPECT_EQ(b.next(ms(10)).count(), 200);
    EXPECT_EQ(b.next(ms(10)).count(), 400);
    EXPECT_EQ(b.next(ms(10000)).count(), 100);  // ran long enough: a fresh start
    EXPECT_EQ(b.consecutive(), 1);
    EXPECT_EQ(b.next(ms(9999)).count(), 200);
}

TEST(Workers, BackoffBoundsTheRestartRate) {
    // A worker that always crashes at once: after the ramp every restart waits the maximum, so
    // a minute holds at most a handful of restarts.
    restart_backoff b;  // 100 ms .. 10 s
    long long waited = 0;
    int restarts = 0;
    while (waited < 60000) {
        waited += b.next(ms(0)).count();
        ++restarts;
    }
    EXPECT_LE(restarts, 14);
    EXPECT_EQ(b.next(ms(0)).count(), 10000);
}

TEST(Workers, WorkerCommandLineParsesBackWithTheWorkerFields) {
    const std::vector<std::string> argv = {"./chirpd",  "serve", "--dev",       "--port", "8000",
                                           "--workers", "3",     "--log-level", "warn"};
    const auto args = worker_argv("/opt/chirp/chirpd", argv, 2, 3, 3, 8123);
    ASSERT_FALSE(args.empty());
    EXPECT_EQ(args.front(), "/opt/chirp/chirpd");
    const auto r = parse(args);
    ASSERT_TRUE(r.ok) << r.message;
    EXPECT_EQ(r.cfg.command, "serve");
    EXPECT_EQ(r.cfg.worker_index, 2);
    EXPECT_EQ(r.cfg.workers, 3);
    EXPECT_EQ(r.cfg.worker_ready_fd, 3);
    EXPECT_EQ(r.cfg.port, 8123);  // the probed port wins over the original flag
    EXPECT_EQ(r.cfg.log_level, "warn");
    EXPECT_FALSE(wants_supervisor(r.cfg, 64));
}

TEST(Workers, AvailableCpusIsPositive) {
    EXPECT_GE(available_cpus(), 1);
}

}  // namespace
