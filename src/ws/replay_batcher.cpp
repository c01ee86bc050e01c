// Replays of many sessions in one read per stream (event_store::replay, store/typed_reads.cpp):
// after a reconnect storm thousands of sessions replay within a second, and one query each
// queued them behind each other on the reader threads (and built every missed event's JSON
// once per follower). Requests wait up to 2 ms for company, or until one of the (at most
// two) batches of their stream in flight is back; a batch takes up to 2,000 requests.
#include "replay_batcher.hpp"

#include <array>
#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <unordered_map>

#include "chirp/store/store.hpp"

namespace asio = boost::asio;

namespace chirp::ws {

namespace {

class batcher final : public replay_batcher, public std::enable_shared_from_this<batcher> {
public:
    batcher(asio::io_context& ioc, store::event_store& st, std::size_t limit)
        : ioc_(ioc), store_(st), limit_(limit), lanes_{lane(ioc), lane(ioc), lane(ioc)} {}

    asio::awaitable<replay_frames> replay(stream st, long long user, long long since) override {
        return asio::async_initiate<const asio::use_awaitable_t<>, void(replay_frames)>(
            [this, st, user, since](auto handler) {
                // Held by pointer: Boost 1.81's any_completion_handler wraps itself again on
                // every move (its converting constructor takes itself), so it is moved never.
                add(st, user, since, std::make_unique<handler_type>(std::move(handler)));
            },
            asio::use_awaitable);
    }

private:
    using handler_type = asio::any_completion_handler<void(replay_frames)>;
    static constexpr std::size_t batch_max = 2000;
    static constexpr int in_flight_max = 2;

    struct request {
        long long user = 0;
        long long since = 0;
        std::unique_ptr<handler_type> done;
    };
    struct lane {
        explicit lane(asio::io_context& ioc) : timer(ioc) {}
        std::vector<request> pending;
        int in_flight = 0;
        bool armed = false;
        asio::steady_timer timer;
    };

    void add(stream st, long long user, long long since, std::unique_ptr<handler_type> done) {
        auto& l = lanes_[static_cast<std::size_t>(st)];
        l.pending.push_back({user, since, std::move(done)});
        if (l.armed || l.in_flight >= in_flight_max) return;  // flushed by the timer or a batch
        l.armed = true;
        l.timer.expires_after(std::chrono::milliseconds(2));
        l.timer.async_wait([self = shared_from_this(), st](const boost::system::error_code&) {
            self->lanes_[static_cast<std::size_t>(st)].armed = false;
            self->flush(st);
        });
    }

    void flush(stream st) {
        auto& l = lanes_[static_cast<std::size_t>(st)];
        while (!l.pending.empty() && l.in_flight < in_flight_max) {
            std::vector<request> batch;
            if (l.pending.size() <= batch_max) {
                batch.swap(l.pending);
            } else {
                auto first = l.pending.begin();
                auto last = first + static_cast<std::ptrdiff_t>(batch_max);
                batch.assign(std::make_move_iterator(first), std::make_move_iterator(last));
                l.pending.erase(first, last);
            }
            ++l.in_flight;
            asio::co_spawn(ioc_, run(shared_from_this(), st, std::move(batch)), asio::detached);
        }
    }

    static asio::awaitable<void> run(std::shared_ptr<batcher> self, stream st,
                                     std::vector<request> batch) {
        const auto ch = st == stream::timeline        ? domain::channel::timeline
                        : st == stream::notifications ? domain::channel::notifications
                                                      : domain::channel::messages;
        std::vector<store::replay_request> requests;
        requests.reserve(batch.size());
        for (const auto& b : batch) requests.push_back({b.user, b.since});
        auto r =
            co_await self->store_.replay(ch, std::move(requests), static_cast<int>(self->limit_));
        std::vector<replay_frames> results(batch.size());
        if (!r) {
            for (auto& x : results) x.code = r.error();
        } else {
            // A frame is shared by every request that replays its event: read its envelope
            // once per batch, not once per session.
            std::unordered_map<const std::string*, live_event> located;
            for (std::size_t i = 0; i < results.size(); ++i) {
                results[i].head = r->head;
                results[i].over = i < r->over.size() && r->over[i] != 0;
            }
            for (std::size_t i = 0; i < results.size() && i < r->frames.size(); ++i) {
                auto& events = results[i].events;
                events.reserve(r->frames[i].size());
                for (auto& f : r->frames[i]) {
                    auto [it, fresh] = located.try_emplace(f.get());
                    if (fresh) it->second = event_from_frame(std::move(f));
                    events.push_back(it->second);
                }
            }
        }
        auto& l = self->lanes_[static_cast<std::size_t>(st)];
        --l.in_flight;
        for (std::size_t i = 0; i < batch.size(); ++i)
            asio::post(self->ioc_,
                       [h = std::move(batch[i].done), res = std::move(results[i])]() mutable {
                           std::move (*h)(std::move(res));
                       });
        // Whatever queued meanwhile has waited long enough: next batch now.
        if (!l.armed) self->flush(st);
    }

    asio::io_context& ioc_;
    store::event_store& store_;
    std::size_t limit_;
    std::array<lane, stream_count> lanes_;
};

}  // namespace

std::shared_ptr<replay_batcher> create_replay_batcher(asio::io_context& ioc, store::event_store& st,
                                                      std::size_t limit) {
    return std::make_shared<batcher>(ioc, st, limit);
}

}  // namespace chirp::ws
