// A follower's timeline that survives its connections: see follower_reader.hpp.
#include "support/follower_reader.hpp"

#include <optional>

#include "support/ws_client.hpp"

namespace chirp::test {

namespace {

bool is_tweet(const nlohmann::json& f) {
    return f.value("type", "") == "event" && f.at("event").value("type", "") == "TweetCreated";
}

}  // namespace

follower_reader::follower_reader(std::uint16_t port, test_user user)
    : follower_reader(std::move(user), follower_reader_options{.ports = {port}}) {}

follower_reader::follower_reader(test_user user, follower_reader_options opts)
    : user_(std::move(user)), opts_(std::move(opts)) {
    if (opts_.ports.empty()) throw std::invalid_argument("follower_reader: no port");
    thread_ = std::thread([this] { run(); });
}

follower_reader::~follower_reader() {
    stop_ = true;
    thread_.join();
}

bool follower_reader::wait_for(std::size_t n, std::chrono::milliseconds timeout) {
    std::unique_lock lk(mu_);
    return cv_.wait_for(lk, timeout, [&] { return ids_.size() >= n; });
}

std::vector<std::string> follower_reader::ids() {
    std::lock_guard lk(mu_);
    return ids_;
}

std::vector<long long> follower_reader::seqs() {
    std::lock_guard lk(mu_);
    return seqs_;
}

std::vector<std::string> follower_reader::connection_workers() {
    std::lock_guard lk(mu_);
    return workers_;
}

std::string follower_reader::first_worker(std::chrono::milliseconds timeout) {
    std::unique_lock lk(mu_);
    cv_.wait_for(lk, timeout, [&] { return !workers_.empty(); });
    return workers_.empty() ? std::string() : workers_.front();
}

void follower_reader::run() {
    std::size_t next = 0;
    while (!stop_) {
        bool hopped = false;
        try {
            ws_client c(opts_.ports[next++ % opts_.ports.size()]);
            c.auth(user_.token);
            std::optional<std::string> since;
            if (opts_.since_from_start) since = "0";
            {
                std::lock_guard lk(mu_);
                if (!seqs_.empty()) since = std::to_string(seqs_.back());
            }
            c.subscribe({"timeline"}, since);
            {
                std::lock_guard lk(mu_);
                workers_.push_back(c.worker());
                ++connections_;
                cv_.notify_all();
            }
            const auto until = std::chrono::steady_clock::now() + opts_.hop;
            while (!stop_) {
                if (opts_.hop.count() > 0 && std::chrono::steady_clock::now() >= until) {
                    hopped = true;
                    c.close();
                    break;
                }
                auto f = c.next(std::chrono::milliseconds(50));
                if (!f) {
                    if (!c.open()) break;
                    continue;
                }
                if (!is_tweet(*f)) continue;
                std::lock_guard lk(mu_);
                seqs_.push_back(seq_of(*f));
                ids_.push_back(f->at("event").at("payload").at("tweet").at("id"));
                cv_.notify_all();
            }
        } catch (const std::exception&) {
            // Refused, or the server went away mid-handshake, for a moment: connect again.
        }
        if (!stop_ && !hopped) std::this_thread::sleep_for(opts_.reconnect_delay);
    }
}

}  // namespace chirp::test
