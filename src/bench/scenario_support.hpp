// What the chirp-bench scenarios share: a run's target and identity (`common`), sampling the
// server (`server_probe`), the ledger of marked tweets and their deliveries (`delivery_book`),
// open-loop pacing and draining, and the JSON every result reports latencies and failures in.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "client.hpp"
#include "histogram.hpp"
#include "net.hpp"
#include "options.hpp"
#include "proc_stats.hpp"
#include "setup.hpp"

namespace chirp::bench::support {

using std::chrono::milliseconds;

std::string random_run_id();
// count, p50, p90, p99, p99.9, max and mean in milliseconds.
json latency_json(const latency_histogram& h);
std::vector<std::string> split(const std::string& s, char sep = ',');
// Option `key` in (fractional) seconds.
milliseconds seconds_opt(const options& opts, const std::string& key, double def);
// The "channel" of a frame, or empty.
std::string_view channel_of(std::string_view frame);

// The answers to a group of requests: the latency of the 2xx ones, a count per other status
// (0: a transport error).
struct answer_tally {
    latency_histogram http;
    std::map<unsigned, std::uint64_t> statuses;

    // Records one answer; returns the request's state: 1 answered 2xx, 2 failed.
    std::uint8_t record(unsigned status, time_point sent, time_point now);
    // {"<status>" or "transport": count} of the failed ones.
    json statuses_json() const;
};

// Everything a scenario shares: where the server is, how to set up, who to sample.
struct common {
    target t;
    setup_options so;
    bool relay = false;
    std::optional<int> pid;
    std::string run = random_run_id();
    std::size_t connect_concurrency = 256;
    std::size_t source_ips = 1;
    milliseconds connect_timeout{60000};
    std::vector<std::string> failures;

    explicit common(const options& opts);
    json header(const std::string& scenario) const;
};

// Samples the server's CPU and RSS over a window, with a background poll for the peak RSS.
class server_probe {
public:
    explicit server_probe(std::optional<int> pid) : state_(std::make_shared<state>()) {
        state_->pid = pid;
    }
    ~server_probe() { state_->stopped = true; }

    void start(asio::any_io_executor ex);
    void begin();
    std::optional<proc_sample> now() const {
        return state_->pid ? sample_process(*state_->pid) : std::nullopt;
    }
    json end() const;

private:
    struct state {
        std::optional<int> pid;
        std::optional<proc_sample> begin;
        time_point begin_at{};
        std::uint64_t peak_rss = 0;
        bool stopped = false;
    };
    std::shared_ptr<state> state_;
};

// Expected and received deliveries of marked tweets ("bench <run> <n>"), grouped by step.
class delivery_book {
public:
    explicit delivery_book(const std::string& run) : needle_("bench " + run + " ") {}

    std::string content(std::uint64_t n) const { return needle_ + std::to_string(n); }
    std::size_t groups() const { return groups_.size(); }
    void add_group() { groups_.emplace_back(std::make_unique<group>()); }

    std::uint64_t add(time_point sent, std::uint32_t expected);

    void on_response(std::uint64_t n, unsigned status, time_point now);
    // A frame on the timeline channel; returns whether it carried one of our markers.
    bool on_frame(ws_conn& c, std::string_view frame, time_point now);

    std::uint64_t received_in(std::size_t gi) const { return groups_[gi]->received; }
    std::uint64_t expected_in(std::size_t gi) const;

    // Totals of a group: lost = expected deliveries of acknowledged tweets never received.
    json summary(std::size_t gi, std::vector<std::string>& failures,
                 const std::string& label) const;

    time_point last_delivery(std::size_t gi) const { return groups_[gi]->last; }

private:
    struct group {
        latency_histogram latency;
        answer_tally answers;
        std::uint64_t received = 0, duplicates = 0;
        time_point first{}, last{};
    };
    std::string needle_;
    std::vector<time_point> sent_at_;
    std::vector<std::uint32_t> expected_, received_;
    std::vector<std::uint8_t> status_;
    std::vector<std::uint16_t> group_of_;
    std::vector<std::unique_ptr<group>> groups_;
};

// Waits until `received()` reaches `expected()` (both re-read as replies arrive), or nothing
// new arrived for `quiet`, or `timeout`.
asio::awaitable<void> drain(std::function<std::uint64_t()> received,
                            std::function<std::uint64_t()> expected,
                            std::function<bool()> replies_done, milliseconds quiet,
                            milliseconds timeout);

// Sends `count` requests at `rate` per second starting at `start` (open loop: never waits for
// an answer); make(i, scheduled) sends request i. Returns the largest lateness of a send.
asio::awaitable<double> paced(double rate, std::uint64_t count, time_point start,
                              std::function<void(std::uint64_t, time_point)> make);

// Adds "<label>: N of M connections failed to subscribe" when any did.
void connect_failures(const connect_report& r, std::vector<std::string>& failures,
                      const std::string& label);

// The result with its "failures" and "ok".
json finish(json result, const std::vector<std::string>& failures);

}  // namespace chirp::bench::support
