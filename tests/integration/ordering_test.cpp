// ARCHITECTURE guarantee 3, commit order = seq order, across processes: two chirpd on the same
// fresh database take concurrent writes from many threads while a tailing reader polls
// `SELECT seq FROM events WHERE seq > $last ORDER BY seq`. If any event with seq <= S committed
// after the tailer had moved past S, the tailer would never see it; so at the end the tailer's
// sequence must equal the whole log, strictly increasing: no skip, no repeat, no reordering.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "support/server.hpp"

namespace chirp::test {
namespace {

using json = nlohmann::json;

constexpr int writers_per_process = 4;
constexpr int min_ops_per_writer = 60;
constexpr int max_ops_per_writer = 600;
constexpr long long min_tail_steps = 30;  // polls that found new events while writers ran

struct writer_result {
    int tweets = 0;
    int likes = 0;
    std::vector<std::string> tweet_ids;
    std::string error;
};

void run_workload(fresh_database& db, chirpd_process& a, chirpd_process& b) {
    // Users, registered through both processes.
    std::vector<test_user> users;
    {
        http_client ca(a.port()), cb(b.port());
        for (int i = 0; i < 2 * writers_per_process; ++i)
            users.push_back(register_user(i % 2 ? cb : ca, "ord"));
    }

    // The tailer.
    std::atomic<bool> writers_done{false};
    std::atomic<long long> tail_steps{0};
    std::vector<long long> seen;
    std::string tail_error;
    std::thread tailer([&] {
        try {
            pqxx::connection conn(db.url());
            conn.prepare("tail", "SELECT seq FROM events WHERE seq > $1 ORDER BY seq");
            long long last = 0;
            for (;;) {
                // Read the flag before polling: the poll after the writers finished sees all.
                const bool done = writers_done.load();
                pqxx::nontransaction tx(conn);
                const auto r = tx.exec_prepared("tail", last);
                for (const auto& row : r) {
                    const auto s = row[0].as<long long>();
                    seen.push_back(s);
                    last = s;
                }
                if (!r.empty() && !done) ++tail_steps;
                if (done) break;
            }
        } catch (const std::exception& e) {
            tail_error = e.what();
        }
    });

    // The writers: half on each process, tweeting and liking.
    std::vector<writer_result> results(users.size());
    std::vector<std::thread> writers;
    for (std::size_t w = 0; w < users.size(); ++w) {
        writers.emplace_back([&, w] {
            auto& res = results[w];
            try {
                http_client c(w % 2 ? b.port() : a.port(), true);
                std::mt19937 rng(static_cast<unsigned>(w));
                for (int op = 0; op < max_ops_per_writer; ++op) {
                    if (op >= min_ops_per_writer && tail_steps.load() >= min_tail_steps) break;
                    if (op % 4 == 3 && !res.tweet_ids.empty()) {
                        // Like somebody's tweet (ours; others' ids are in other threads).
                        const auto& id = res.tweet_ids[rng() % res.tweet_ids.size()];
                        const auto r = c.post_empty("/api/tweets/" + id + "/like",
                                                    users[(w + 1) % users.size()].token);
                        if (r.status != 200) throw std::runtime_error("like: " + r.describe());
                        ++res.likes;
                    } else {
                        const auto r = c.post("/api/tweets",
                                              {{"content", "ordered " + std::to_string(w) + "/" +
                                                               std::to_string(op)}},
                                              users[w].token);
                        if (r.status != 201) throw std::runtime_error("tweet: " + r.describe());
                        res.tweet_ids.push_back(r.json().at("id").get<std::string>());
                        ++res.tweets;
                    }
                }
            } catch (const std::exception& e) {
                res.error = e.what();
            }
        });
    }
    for (auto& t : writers) t.join();
    writers_done = true;
    tailer.join();

    for (std::size_t w = 0; w < results.size(); ++w)
        EXPECT_EQ(results[w].error, "") << "writer " << w;
    ASSERT_EQ(tail_error, "");
    EXPECT_GE(tail_steps.load(), min_tail_steps)
        << "the tailer must have followed the log while it grew";

    // The tailer saw a strictly increasing sequence...
    for (std::size_t i = 1; i < seen.size(); ++i)
        ASSERT_LT(seen[i - 1], seen[i]) << "repeat or reordering at position " << i;
    // ...that is the whole log: nothing committed behind it.
    pqxx::connection conn(db.url());
    std::vector<long long> all;
    for (const auto& row : query_rows(conn, "SELECT seq FROM events ORDER BY seq"))
        all.push_back(std::stoll(row[0]));
    EXPECT_EQ(seen.size(), all.size());
    if (seen != all) {
        std::set<long long> s(seen.begin(), seen.end());
        std::vector<long long> missed;
        for (auto x : all)
            if (!s.count(x)) missed.push_back(x);
        std::string list;
        for (std::size_t i = 0; i < missed.size() && i < 20; ++i)
            list += std::to_string(missed[i]) + " ";
        ADD_FAILURE() << missed.size() << " events committed behind the tailer, e.g. seq " << list;
    }

    // Every acknowledged write is in the log, once.
    int tweets = 0, likes = 0;
    for (const auto& r : results) {
        tweets += r.tweets;
        likes += r.likes;
    }
    const auto counts = query_rows(conn,
                                   "SELECT count(*) FILTER (WHERE type = 'TweetCreated'), "
                                   "count(*) FILTER (WHERE type = 'TweetLiked'), "
                                   "count(*) FILTER (WHERE type = 'UserRegistered') FROM events");
    EXPECT_EQ(std::stoi(counts[0][0]), tweets);
    EXPECT_LE(std::stoi(counts[0][1]), likes) << "a repeated like appends nothing";
    EXPECT_GE(std::stoi(counts[0][1]), 1);
    EXPECT_EQ(std::stoi(counts[0][2]), static_cast<int>(users.size()));
    EXPECT_GE(tweets, 2 * writers_per_process * min_ops_per_writer / 2);
}

TEST(Ordering, TwoProcessesNeverCommitBehindATailingReader) {
    fresh_database db;
    // Start both at once: they also race to apply the migrations.
    std::unique_ptr<chirpd_process> pb;
    std::thread start_b([&] { pb = start_chirpd(db, {.name = "chirpd-b"}); });
    auto pa = start_chirpd(db, {.name = "chirpd-a"});
    start_b.join();
    auto& a = *pa;
    auto& b = *pb;
    ASSERT_TRUE(a.running()) << a.log();
    ASSERT_TRUE(b.running()) << b.log();

    try {
        run_workload(db, a, b);
    } catch (const std::exception& e) {
        ADD_FAILURE() << e.what() << "\n--- chirpd a (running: " << a.running() << ") ---\n"
                      << a.log() << "--- chirpd b (running: " << b.running() << ") ---\n"
                      << b.log();
    }
    // Both processes shut down cleanly.
    EXPECT_EQ(a.stop(), 0) << a.log();
    EXPECT_EQ(b.stop(), 0) << b.log();
}

}  // namespace
}  // namespace chirp::test
