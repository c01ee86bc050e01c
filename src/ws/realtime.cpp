// DESIGN
// The hub: which local sessions belong to which user, and the Redis side of real time.
//  - Every process subscribes chirp:timeline (all timeline events), chirp:follows and
//    chirp:presence at start.
//  - First session of user U here: SUBSCRIBE notifications:U messages:U, mark U online
//    (sorted set chirp:online with expiry scores, refreshed every 20 s, plus a chirp:presence
//    message so other processes learn it at once), and subscribe author:A for every celebrity
//    A that U follows. Last session gone: the reverse.
//  - Fan-out (on_committed, on the loop, never suspends): a committed tweet is published ONCE
//    to chirp:timeline with its recipient list (the author and every online follower); each
//    process hands it to the sessions of the recipients it has. One Redis message per event
//    and process instead of one per follower: Redis, the subscriber socket and hiredis carry
//    1/F of the traffic, and the frame is copied once per process, not once per follower.
//    Celebrity authors (followers > threshold) publish once to author:A instead, delivered to
//    the local followers each process knows. Notifications go to notifications:U, messages to
//    messages:U. Payload = "<seq> <commit_us>\n[<recipients>\n]<frame>", the frame serialized
//    once by the event writer.
//  - Redis messages are turned into one shared live_event and enqueued on each local session.
//  - GET /api/timeline is answered from this process's memory (home_timeline.cpp), kept
//    coherent by the chirp:tweets broadcast; there is no per-user home list in Redis.
//  - A write is answered once its publishes are in Redis: when other chirpd processes share
//    this Redis (they say hello on chirp:nodes), only after Redis executed them (a PING behind
//    them), so that an answered write's event cannot reach Redis after the next one's, written
//    through another process; alone, as soon as they are written to Redis' socket.
//  - Redis lost and back: every session replays from the log (nothing published meanwhile is
//    trusted), follower caches are dropped.
#include "chirp/ws/realtime.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <charconv>
#include <deque>
#include <nlohmann/json.hpp>
#include <random>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "chirp/config/config.hpp"
#include "chirp/metrics/metrics.hpp"
#include "chirp/redis/redis.hpp"
#include "chirp/store/store.hpp"
#include "chirp/util/strings.hpp"
#include "home_timeline.hpp"
#include "session.hpp"

namespace asio = boost::asio;
using json = nlohmann::json;

namespace chirp::rt {
namespace {

constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);
// Every process subscribes; see publish_timeline().
constexpr std::string_view timeline_channel = "chirp:timeline";
// Hellos of the chirpd processes sharing this Redis (see answer_when_in_redis()).
constexpr std::string_view nodes_channel = "chirp:nodes";
constexpr auto node_ttl = std::chrono::seconds(15);

class realtime_impl final : public service, public hub {
public:
    realtime_impl(asio::io_context& ioc, const config& cfg, metrics::registry& m,
                  store::event_store& st, auth::jwt_codec& jwt)
        : ioc_(ioc),
          cfg_(cfg),
          metrics_(m),
          store_(st),
          deps_{ioc, cfg, m, st, jwt, *this, &all_, &stopping_},
          timer_(ioc) {
        redis::callbacks cbs;
        cbs.on_message = [this](std::string_view ch, std::string_view payload) {
            on_message(ch, payload);
        };
        cbs.on_reconnected = [this] { on_redis_back(); };
        cbs.on_connected = [this] { say_hello(); };
        cbs.on_lost = [this] {
            spdlog::warn("live updates paused until Redis is back; sessions will replay");
        };
        redis_ = redis::create_client(ioc, cfg.redis_url, std::move(cbs));
        home_ = create_home_timeline(ioc, cfg, st, *redis_);
    }

    // --- service -----------------------------------------------------------------------------

    void start() override {
        redis_->subscribe("chirp:follows");
        redis_->subscribe("chirp:presence");
        redis_->subscribe(std::string(timeline_channel));
        redis_->subscribe(std::string(nodes_channel));
        redis_->start();
        home_->start();
        asio::co_spawn(ioc_, housekeeping(), asio::detached);
    }

    http::server_hooks hooks() override {
        http::server_hooks h;
        h.websocket = [this](boost::beast::tcp_stream s, http::beast_request req, std::string ip) {
            run_websocket(deps_, std::move(s), std::move(req), std::move(ip));
        };
        h.sse = [this](boost::beast::tcp_stream& s, const http::beast_request& breq,
                       http::request& req) { return run_sse(deps_, s, breq, req); };
        return h;
    }

    asio::awaitable<void> shutdown() override {
        stopping_ = true;
        for (auto& w : all_)
            if (auto s = w.lock()) s->go_away();
        asio::steady_timer t(ioc_);
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(1500);
        while (metrics_.connections.load() > 0 && std::chrono::steady_clock::now() < deadline) {
            t.expires_after(std::chrono::milliseconds(20));
            co_await t.async_wait(tuple_awaitable);
        }
        timer_.cancel();
        home_->stop();
        redis_->stop();
    }

    bool redis_ready() const override { return redis_->ready(); }

    void stats_fields(std::string& out) const override {
        out += ",\"redis\":\"" + std::string(redis_->ready() ? "up" : "down") + "\"";
        out += ",\"localUsers\":" + std::to_string(local_.size());
        out += ",\"redisSubscriptions\":" + std::to_string(redis_->subscription_count());
        out += home_->stats();
    }

    // Served from this process's memory (home_timeline.cpp); nullopt: PostgreSQL answers.
    asio::awaitable<std::optional<std::string>> cached_timeline(long long user, long long before,
                                                                int limit) override {
        co_return co_await home_->page(user, before, limit);
    }

    void on_committed(const store::write_result& r, std::function<void()> resume) override {
        home_->on_committed(r);  // timeline cache coherence, flushed below with the fan-out
        for (const auto& d : r.deliveries) {
            if (d.follow_change) {
                follow_changed(d.author, d.actor, true);
                continue;
            }
            if (d.channel == store::channel_kind::timeline) {
                fanout_timeline(d, r.committed_unix_us);
                continue;
            }
            const auto payload = message(d, r.committed_unix_us, {});
            const char* prefix =
                d.channel == store::channel_kind::notifications ? "notifications:" : "messages:";
            for (auto u : d.users) publish(prefix + std::to_string(u), payload);
            if (d.channel == store::channel_kind::messages) typing_stopped(d);
        }
        // The writer's answer waits until Redis has executed this write's publishes (and the
        // timeline cache's broadcast): else a client could get the answer, write through
        // another process, and have that process's event reach Redis first (and a read on
        // another process could miss the write).
        if (timeline_published_ == timeline_enqueued_) {
            answer_when_in_redis(std::move(resume));
        } else {
            timeline_waiters_.emplace_back(timeline_enqueued_, std::move(resume));
        }
    }

    // Runs `resume` once Redis has executed every command queued so far: a PING queued behind
    // them on the same connection is answered after them. The answers of one loop turn (a
    // group commit) share one PING. With Redis down, at once: the write stands, and sessions
    // replay from the log when Redis is back.
    void answer_when_in_redis(std::function<void()> resume) {
        if (!redis_->ready() || stopping_ || !other_processes()) {
            // Alone: nobody else can publish in between; the answer leaves with the publishes
            // written to Redis' socket (a PING would wait behind the fan-out's socket writes).
            redis_->flush();
            resume();
            return;
        }
        ack_waiting_.push_back(std::move(resume));
        if (ack_scheduled_) return;
        ack_scheduled_ = true;
        asio::post(ioc_, [this] {
            ack_scheduled_ = false;
            asio::co_spawn(ioc_, ack_ping(std::exchange(ack_waiting_, {})), asio::detached);
        });
    }

    asio::awaitable<void> ack_ping(std::vector<std::function<void()>> waiting) {
        auto ping = util::strings("PING");
        co_await redis_->call(std::move(ping));  // nullopt (connection lost) resumes all the same
        for (auto& f : waiting) f();
    }

    // The follower list of an author about to tweet is loaded while the tweet commits (a cold
    // list would otherwise hold the fan-out queue, and every answer behind it, for a query).
    void prepare_fanout(long long author) override {
        if (followers_fresh(author)) return;
        auto& e = followers_[author];
        if (e.loading) return;
        e.loading = true;
        asio::co_spawn(ioc_, load_followers(author), asio::detached);
    }

    // --- hub ---------------------------------------------------------------------------------

    asio::awaitable<void> attach(session_base* s) override {
        const long long u = s->user_id();
        auto& list = local_[u];
        list.push_back(s);
        if (list.size() == 1) {
            const auto id = std::to_string(u);
            redis_->subscribe("notifications:" + id);
            redis_->subscribe("messages:" + id);
            redis_->send(util::strings("ZADD", "chirp:online", std::to_string(now_s() + 60), id));
            redis_->send(util::strings("PUBLISH", "chirp:presence", "+" + id));
            co_await load_celebrities(u);
        }
        co_await redis_->subscriptions_settled();
    }

    void detach(session_base* s) override {
        const long long u = s->user_id();
        auto it = local_.find(u);
        if (it == local_.end()) return;
        std::erase(it->second, s);
        if (!it->second.empty()) return;
        local_.erase(it);
        const auto id = std::to_string(u);
        redis_->unsubscribe("notifications:" + id);
        redis_->unsubscribe("messages:" + id);
        redis_->send(util::strings("ZREM", "chirp:online", id));
        redis_->send(util::strings("PUBLISH", "chirp:presence", "-" + id));
        drop_celebrities(u);
        // Sessions register in all_ (for shutdown) and leave expired entries behind: prune
        // when it doubled since the last prune, so 10,000 detaches cost O(n), not O(n^2).
        if (all_.size() >= 2 * all_pruned_size_ + 64) {
            std::erase_if(all_, [](const std::weak_ptr<session_base>& w) { return w.expired(); });
            all_pruned_size_ = all_.size();
        }
    }

    asio::awaitable<std::string> typing(long long user, const std::string& user_ref,
                                        long long conv) override {
        auto members = co_await conversation_members(conv);
        if (std::find(members.begin(), members.end(), user) == members.end())
            co_return std::string("you are not in this conversation");
        const auto key = std::to_string(user) + ":" + std::to_string(conv);
        const auto now = std::chrono::steady_clock::now();
        auto& last = typing_last_[key];
        if (last.time_since_epoch().count() != 0 && now - last < std::chrono::seconds(2)) {
            metrics_.typing_dropped.fetch_add(1, std::memory_order_relaxed);
            co_return std::string();
        }
        last = now;
        const auto frame = R"({"type":"typing","conversation":")" + std::to_string(conv) +
                           R"(","user":)" + user_ref + R"(,"expiresInMs":5000})";
        for (auto m : members)
            if (m != user) publish_ephemeral(m, frame);
        co_return std::string();
    }

private:
    static std::int64_t now_s() { return now_us() / 1000000; }

    bool is_online(long long u) const {
        return local_.count(u) != 0 || online_remote_.count(u) != 0;
    }

    void publish(std::string_view channel, std::string_view payload) {
        redis_->publish(channel, payload);
    }

    // Typing frames reach the messages:U channel with seq 0 (ephemeral, never replayed).
    void publish_ephemeral(long long user, const std::string& frame) {
        if (!redis_->ready()) {
            // Redis down: at least the sessions of this process get it.
            if (auto it = local_.find(user); it != local_.end()) {
                auto f = std::make_shared<const std::string>(frame);
                for (auto* s : it->second) s->deliver_ephemeral(f);
            }
            return;
        }
        publish("messages:" + std::to_string(user), "0 0\n" + frame);
    }

    void typing_stopped(const store::delivery& d) {
        typing_last_.erase(std::to_string(d.actor) + ":" + std::to_string(d.conversation));
        std::string ref = "null";
        // The sender's reference is inside the message frame; keep it simple: id only.
        ref = R"({"id":")" + std::to_string(d.actor) + R"("})";
        const auto frame = R"({"type":"typing","conversation":")" + std::to_string(d.conversation) +
                           R"(","user":)" + ref + R"(,"expiresInMs":0})";
        for (auto u : d.users)
            if (u != d.actor) publish_ephemeral(u, frame);
    }

    struct follower_entry {
        bool loaded = false;
        bool loading = false;
        bool invalidated = false;  // a follow changed while loading: load again
        long long count = 0;
        std::vector<long long> ids;
        std::chrono::steady_clock::time_point fetched{};
    };

    // Timeline fan-out keeps commit order across authors: one queue for the process. Only
    // when the author at its head needs its follower list loaded does it wait (and everything
    // behind it, and the answers to those writes). Publishing one author's event ahead of an
    // earlier one of another author reached followers out of seq order.
    struct pending_timeline {
        store::delivery d;
        std::int64_t commit_us = 0;
    };

    // A Redis message: "<seq> <commit_us>\n[<recipients>\n]<frame>" (the frame copied once).
    static std::string message(const store::delivery& d, std::int64_t commit_us,
                               std::string_view recipients) {
        std::string m;
        m.reserve(d.frame->size() + recipients.size() + 40);
        m += std::to_string(d.seq);
        m += ' ';
        m += std::to_string(commit_us);
        m += '\n';
        if (!recipients.empty()) {
            m += recipients;
            m += '\n';
        }
        m += *d.frame;
        return m;
    }

    bool followers_fresh(long long author) const {
        auto it = followers_.find(author);
        return it != followers_.end() && it->second.loaded &&
               std::chrono::steady_clock::now() - it->second.fetched < std::chrono::seconds(60);
    }

    void fanout_timeline(const store::delivery& d, std::int64_t commit_us) {
        ++timeline_enqueued_;
        timeline_queue_.push_back({d, commit_us});
        drain_timeline(0);
    }

    // Publishes from the head of the queue while follower lists are at hand; `loaded` is an
    // author whose load just ended (published even if it failed: its own stream gets it, the
    // followers catch up by replay).
    void drain_timeline(long long loaded) {
        while (!timeline_queue_.empty()) {
            auto& head = timeline_queue_.front();
            const long long author = head.d.author;
            if (!followers_fresh(author) && author != loaded) {
                auto& e = followers_[author];
                if (!e.loading) {
                    e.loading = true;
                    asio::co_spawn(ioc_, load_followers(author), asio::detached);
                }
                return;
            }
            publish_timeline(head.d, head.commit_us, followers_[author]);
            timeline_queue_.pop_front();
            ++timeline_published_;
            while (!timeline_waiters_.empty() &&
                   timeline_waiters_.front().first <= timeline_published_) {
                answer_when_in_redis(std::move(timeline_waiters_.front().second));
                timeline_waiters_.pop_front();
            }
        }
    }

    asio::awaitable<void> load_followers(long long author) {
        auto r = co_await store_.followers_of(author);
        auto& e = followers_[author];
        e.loading = false;
        if (e.invalidated) {
            e.invalidated = false;
            drain_timeline(0);  // loads again
            co_return;
        }
        if (r) {
            e.count = r->count;
            e.ids = std::move(r->ids);
            e.loaded = true;
            e.fetched = std::chrono::steady_clock::now();
        }
        drain_timeline(author);
    }

    // One PUBLISH per event, whatever the number of followers: chirp:timeline reaches every
    // process, and its recipient list (the author and the online followers) tells each which of
    // its sessions get it. Per-follower channels cost a Redis message (and a parse, an
    // allocation and a copy of the frame) per delivery; this costs one per process.
    void publish_timeline(const store::delivery& d, std::int64_t commit_us,
                          const follower_entry& e) {
        const bool celebrity =
            e.loaded && static_cast<std::size_t>(e.count) > cfg_.celebrity_threshold;
        std::string recipients = std::to_string(d.author);
        if (e.loaded && !celebrity) {
            recipients.reserve(e.ids.size() * 8 + 16);
            for (auto f : e.ids) {
                if (!is_online(f)) continue;
                recipients += ',';
                recipients += std::to_string(f);
            }
        }
        publish(timeline_channel, message(d, commit_us, recipients));
        if (celebrity)  // fan-out on read
            publish("author:" + std::to_string(d.author), message(d, commit_us, {}));
    }

    void follow_changed(long long followee, long long follower, bool local_commit) {
        ++follow_gen_;
        celeb_cache_.erase(follower);
        if (auto it = followers_.find(followee); it != followers_.end()) {
            if (it->second.loading)
                it->second.invalidated = true;
            else
                followers_.erase(it);
        }
        if (local_commit) {
            publish("chirp:follows", std::to_string(followee) + " " + std::to_string(follower));
        }
        if (local_.count(follower) != 0) {
            drop_celebrities(follower);
            asio::co_spawn(ioc_, load_celebrities(follower), asio::detached);
        }
    }

    // The celebrities a user follows, remembered for a minute after the user left, so that a
    // reconnect (10,000 at once after a network cut) costs no query: follow changes drop the
    // entry (here and, through chirp:follows, in every process).
    struct celeb_entry {
        std::chrono::steady_clock::time_point fetched;
        std::vector<long long> ids;
    };

    asio::awaitable<void> load_celebrities(long long user) {
        std::vector<long long> ids;
        const auto now = std::chrono::steady_clock::now();
        if (auto c = celeb_cache_.find(user);
            c != celeb_cache_.end() && now - c->second.fetched < std::chrono::seconds(60)) {
            ids = c->second.ids;
        } else {
            const auto gen = follow_gen_;
            auto r = co_await store_.celebrity_followees(user, cfg_.celebrity_threshold);
            if (r) ids = std::move(*r);
            if (r && gen == follow_gen_) {
                if (celeb_cache_.size() >= 100000) celeb_cache_.clear();
                celeb_cache_[user] = celeb_entry{now, ids};
            }
        }
        if (local_.count(user) == 0) co_return;  // left meanwhile
        auto& mine = user_celebs_[user];
        for (auto a : ids) {
            if (std::find(mine.begin(), mine.end(), a) != mine.end()) continue;
            mine.push_back(a);
            if (celeb_local_[a].insert(user).second && celeb_local_[a].size() == 1)
                redis_->subscribe("author:" + std::to_string(a));
        }
    }

    void drop_celebrities(long long user) {
        auto it = user_celebs_.find(user);
        if (it == user_celebs_.end()) return;
        for (auto a : it->second) {
            auto& set = celeb_local_[a];
            set.erase(user);
            if (set.empty()) {
                celeb_local_.erase(a);
                redis_->unsubscribe("author:" + std::to_string(a));
            }
        }
        user_celebs_.erase(it);
    }

    asio::awaitable<std::vector<long long>> conversation_members(long long conv) {
        auto now = std::chrono::steady_clock::now();
        if (auto it = conv_members_.find(conv);
            it != conv_members_.end() && now - it->second.first < std::chrono::seconds(30))
            co_return it->second.second;
        auto r = co_await store_.conversation_members(conv);
        std::vector<long long> ids;
        if (r) ids = std::move(*r);
        if (r) conv_members_[conv] = {now, ids};
        if (conv_members_.size() > 10000) conv_members_.clear();
        co_return ids;
    }

    void on_message(std::string_view channel, std::string_view payload) {
        if (channel == "chirp:follows") {
            const auto sp = payload.find(' ');
            if (sp != std::string_view::npos)
                follow_changed(std::atoll(std::string(payload.substr(0, sp)).c_str()),
                               std::atoll(std::string(payload.substr(sp + 1)).c_str()), false);
            return;
        }
        if (channel == nodes_channel) {
            std::uint64_t node = 0;
            std::from_chars(payload.data(), payload.data() + payload.size(), node);
            if (node == 0 || node == node_id_) return;
            const auto now = std::chrono::steady_clock::now();
            auto [it, fresh] = nodes_.try_emplace(node, now);
            const bool stale = now - it->second > node_ttl;
            it->second = now;
            // A newcomer (or one back from silence) learns about this process at once.
            if (fresh || stale) say_hello();
            return;
        }
        if (channel == "chirp:presence") {
            if (payload.size() > 1 && payload[0] == '+')
                online_remote_.insert(std::atoll(std::string(payload.substr(1)).c_str()));
            return;
        }
        const auto colon = channel.find(':');
        if (colon == std::string_view::npos) return;
        const auto kind = channel.substr(0, colon);
        const long long id = std::atoll(std::string(channel.substr(colon + 1)).c_str());
        const auto nl = payload.find('\n');
        if (nl == std::string_view::npos) return;
        live_event ev;
        {
            const auto head = payload.substr(0, nl);
            const auto sp = head.find(' ');
            ev.seq = std::atoll(std::string(head.substr(0, sp)).c_str());
            if (sp != std::string_view::npos)
                ev.commit_us = std::atoll(std::string(head.substr(sp + 1)).c_str());
        }
        if (channel == timeline_channel) {
            // "<seq> <commit_us>\n<recipient>,<recipient>,...\n<frame>"
            const auto nl2 = payload.find('\n', nl + 1);
            if (nl2 == std::string_view::npos) return;
            const auto list = payload.substr(nl + 1, nl2 - nl - 1);
            ev.frame = std::make_shared<const std::string>(payload.substr(nl2 + 1));
            const char* p = list.data();
            const char* const end = p + list.size();
            while (p < end) {
                long long u = 0;
                auto [next, ec] = std::from_chars(p, end, u);
                if (ec != std::errc()) break;
                deliver_to(u, stream::timeline, ev);
                p = next + 1;  // past the comma
            }
            return;
        }
        ev.frame = std::make_shared<const std::string>(payload.substr(nl + 1));
        if (kind == "author") {
            auto it = celeb_local_.find(id);
            if (it == celeb_local_.end()) return;
            for (auto u : it->second) deliver_to(u, stream::timeline, ev);
            return;
        }
        if (kind != "notifications" && kind != "messages") return;
        const stream s = kind == "notifications" ? stream::notifications : stream::messages;
        deliver_to(id, s, ev);
    }

    void deliver_to(long long user, stream s, const live_event& ev) {
        auto it = local_.find(user);
        if (it == local_.end()) return;
        for (auto* sess : it->second) {
            if (ev.seq == 0)
                sess->deliver_ephemeral(ev.frame);
            else
                sess->deliver(s, ev);
        }
    }

    void on_redis_back() {
        metrics_.redis_reconnects.fetch_add(1, std::memory_order_relaxed);
        followers_.clear();
        celeb_cache_.clear();  // chirp:follows messages of the outage are lost
        for (auto& [u, list] : local_) {
            redis_->send(util::strings("ZADD", "chirp:online", std::to_string(now_s() + 60),
                                       std::to_string(u)));
            // Tell the other processes at once: Redis came back empty, and until their next
            // presence refresh they would not publish to this user (a silent gap after the
            // replay below).
            redis_->send(util::strings("PUBLISH", "chirp:presence", "+" + std::to_string(u)));
            for (auto* s : list) s->resync_from_log();
        }
    }

    // Other chirpd processes on this Redis: each says hello on chirp:nodes whenever it connects
    // to Redis and every 5 s (housekeeping); one that hears a new process answers at once.
    bool other_processes() {
        const auto now = std::chrono::steady_clock::now();
        std::erase_if(nodes_, [&](const auto& n) { return now - n.second > node_ttl; });
        return !nodes_.empty();
    }

    void say_hello() { publish(nodes_channel, std::to_string(node_id_)); }

    // Presence refresh (every 20 s) and the stats channel (every 5 s).
    asio::awaitable<void> housekeeping() {
        int tick = 0;
        while (!stopping_) {
            timer_.expires_after(std::chrono::seconds(5));
            auto [ec] = co_await timer_.async_wait(tuple_awaitable);
            if (ec || stopping_) break;
            if (redis_->ready()) {
                say_hello();
                if (tick % 4 == 0 && !local_.empty()) {
                    std::vector<std::string> zadd = util::strings("ZADD", "chirp:online");
                    const auto score = std::to_string(now_s() + 60);
                    for (const auto& [u, list] : local_) {
                        zadd.push_back(score);
                        zadd.push_back(std::to_string(u));
                    }
                    redis_->send(std::move(zadd));
                }
                redis_->send(util::strings("ZREMRANGEBYSCORE", "chirp:online", "-inf",
                                           std::to_string(now_s())));
                auto r = co_await redis_->call(util::strings("ZRANGEBYSCORE", "chirp:online",
                                                             std::to_string(now_s()), "+inf"));
                if (r && r->type == redis::reply::kind::array) {
                    std::unordered_set<long long> online;
                    for (const auto& e : r->elements) online.insert(std::atoll(e.str.c_str()));
                    metrics_.online_users.store(static_cast<std::int64_t>(online.size()));
                    online_remote_ = std::move(online);
                }
            } else {
                metrics_.online_users.store(static_cast<std::int64_t>(local_.size()));
            }
            ++tick;
            co_await push_stats();
        }
    }

    asio::awaitable<void> push_stats() {
        bool any = false;
        for (const auto& [u, list] : local_)
            for (auto* s : list) any = any || s->wants_stats();
        if (!any) co_return;
        auto r = co_await store_.counts();
        auto body = http::stats_json(metrics_, r ? &*r : nullptr, this);
        auto frame =
            std::make_shared<const std::string>(R"({"type":"stats","stats":)" + body + "}");
        for (const auto& [u, list] : local_)
            for (auto* s : list)
                if (s->wants_stats()) s->deliver_ephemeral(frame);
    }

    asio::io_context& ioc_;
    const config& cfg_;
    metrics::registry& metrics_;
    store::event_store& store_;
    std::vector<std::weak_ptr<session_base>> all_;
    std::size_t all_pruned_size_ = 0;
    bool stopping_ = false;
    session_deps deps_;
    asio::steady_timer timer_;
    std::unique_ptr<redis::client> redis_;
    std::unique_ptr<home_timeline> home_;
    std::unordered_map<long long, std::vector<session_base*>> local_;
    std::unordered_set<long long> online_remote_;
    std::unordered_map<long long, follower_entry> followers_;
    std::deque<pending_timeline> timeline_queue_;
    std::uint64_t timeline_enqueued_ = 0, timeline_published_ = 0;
    std::deque<std::pair<std::uint64_t, std::function<void()>>> timeline_waiters_;
    std::vector<std::function<void()>> ack_waiting_;
    const std::uint64_t node_id_ =
        std::random_device{}() | (std::uint64_t{std::random_device{}()} << 32) | 1;
    std::unordered_map<std::uint64_t, std::chrono::steady_clock::time_point> nodes_;
    bool ack_scheduled_ = false;
    std::unordered_map<long long, std::vector<long long>> user_celebs_;
    std::unordered_map<long long, celeb_entry> celeb_cache_;
    std::uint64_t follow_gen_ = 0;
    std::unordered_map<long long, std::unordered_set<long long>> celeb_local_;
    std::unordered_map<std::string, std::chrono::steady_clock::time_point> typing_last_;
    std::unordered_map<long long,
                       std::pair<std::chrono::steady_clock::time_point, std::vector<long long>>>
        conv_members_;
};

}  // namespace

std::unique_ptr<service> create_realtime(asio::io_context& ioc, const config& cfg,
                                         metrics::registry& metrics, store::event_store& store,
                                         auth::jwt_codec& jwt) {
    return std::make_unique<realtime_impl>(ioc, cfg, metrics, store, jwt);
}

}  // namespace chirp::rt
