// A follower's timeline that survives its connections, for the multi-process tests (two chirpd
// on one Redis, three on three Redis servers, `chirpd --workers 3`): a thread of its own reads
// the WebSocket "timeline" stream and records every TweetCreated event (tweet id and seq).
// When the connection ends (the server closed it, or connecting failed), and with `hop` set
// also every `hop` on its own, it connects again, to the next of `ports`, and resubscribes
// with since = the last seq it saw. Records the worker (X-Chirp-Worker) of each connection.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "support/api.hpp"

namespace chirp::test {

struct follower_reader_options {
    std::vector<std::uint16_t> ports;  // connects to these in turn
    // > 0: leaves each connection (a normal close) after this long and connects again at
    // once: a user hopping between processes while tweets are in flight.
    std::chrono::milliseconds hop{0};
    // Subscribes with since = "0" on the first connection too (a replay of the whole stream,
    // and the settling replay after it), not only when resuming.
    bool since_from_start = false;
    // The pause before connecting again after a connection ended or failed.
    std::chrono::milliseconds reconnect_delay{100};
};

class follower_reader {
public:
    // One port, no hops, the first subscribe without `since`.
    follower_reader(std::uint16_t port, test_user user);
    follower_reader(test_user user, follower_reader_options opts);
    ~follower_reader();
    follower_reader(const follower_reader&) = delete;
    follower_reader& operator=(const follower_reader&) = delete;

    // Blocks until at least n tweets arrived; false at the timeout.
    bool wait_for(std::size_t n, std::chrono::milliseconds timeout);
    // The tweets received (ids, and their seqs), in arrival order, duplicates included.
    std::vector<std::string> ids();
    std::vector<long long> seqs();
    // The worker of each subscribed connection, in order ("" from a single process).
    std::vector<std::string> connection_workers();
    // The worker of the first connection, once subscribed ("" if none within the timeout).
    std::string first_worker(std::chrono::milliseconds timeout = std::chrono::seconds(20));
    // Connections that got as far as "subscribed".
    int connections() const { return connections_; }
    // Subscribed at least once.
    bool ready() const { return connections_ > 0; }
    const test_user& user() const { return user_; }

private:
    void run();

    const test_user user_;
    const follower_reader_options opts_;
    std::atomic<bool> stop_{false};
    std::atomic<int> connections_{0};
    std::mutex mu_;
    std::condition_variable cv_;
    std::vector<std::string> ids_, workers_;
    std::vector<long long> seqs_;
    std::thread thread_;
};

}  // namespace chirp::test
