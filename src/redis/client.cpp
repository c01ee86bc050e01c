// DESIGN
// hiredis 0.14 has no Asio adapter, so this file is one: hiredis asks for read/write
// interest through ev.addRead/delRead/addWrite/delWrite, and we answer with async_wait on a
// posix::stream_descriptor wrapping its socket. ev.cleanup runs before hiredis closes the fd:
// the descriptor is released (never closed) and the adapter dies with its last pending wait.
// Commands queued in one loop turn leave in one write: pipelining comes for free.
// A subscribed connection takes no other commands, hence two connections. When either drops,
// both are torn down and a reconnect loop brings them back, resubscribes every channel and
// reports the reconnect, so sessions replay from PostgreSQL.
//  - Opening: [AUTH [user] password] [SELECT db] PING, pipelined before anything else; an
//    error answer (WRONGPASS, NOAUTH, LOADING, a bad db) fails the attempt with its reason.
//  - Attempts back off exponentially with jitter (50..100 % of 100 ms .. 2 s); the backoff
//    starts again only after a connection stayed up 5 s, so a server that accepts and drops
//    at once is not hammered. Failure logs: a new reason at once, the same one every 30 s.
//  - Health: every timeout/4 a PING on each connection (on the subscriber connection written
//    raw into hiredis' output buffer: in subscribed mode hiredis 0.14 never hands the pong
//    to a command callback; the pong reaches the subscribe callback, which ignores it). A
//    connection from which nothing was read for `timeout` after a PING is dead (a paused or
//    half-open Redis), unless bytes are waiting in the kernel (our loop was busy). TCP
//    keepalive and TCP_USER_TIMEOUT cover a peer that vanished.
//  - Deadlines: call() completes with nullopt when its deadline expires (the late reply is
//    ignored); subscriptions_settled() waits at most timeout/2.
//  - Bounded: a write is dropped (and counted) when more than queue_bytes wait in hiredis'
//    output buffer. Writes are numbered; a reply on the command connection confirms every
//    write before it; what was unconfirmed when a connection was lost counts as lost_writes.
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <hiredis/sds.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstring>
#include <map>
#include <random>
#include <stdexcept>
#include <unordered_map>

#include "adapter.hpp"
#include "chirp/redis/redis.hpp"
#include "chirp/redis/url.hpp"

namespace asio = boost::asio;

namespace chirp::redis {
namespace {

using detail::adapter;
using detail::convert;
using clock = std::chrono::steady_clock;
using reply_fn = std::function<void(std::optional<reply>)>;

// A command whose reply someone waits for: the write it confirms, and whom to tell.
struct pending_reply {
    std::uint64_t write = 0;
    reply_fn fn;
};

// One hiredis connection; owned by client_impl, torn down on any error.
struct connection {
    redisAsyncContext* ac = nullptr;
    bool connected = false;  // TCP connected
    bool up = false;         // ... and AUTH, SELECT and the first PING answered
    int handshake = 0;       // answers still expected
    clock::time_point ping_sent{};
};

enum handshake_step : std::uintptr_t { step_auth = 1, step_select = 2, step_ping = 3 };

class client_impl final : public client {
public:
    client_impl(asio::io_context& ioc, endpoint ep, callbacks cbs, options opts)
        : ioc_(ioc),
          ep_(std::move(ep)),
          cbs_(std::move(cbs)),
          opts_(opts),
          events_(std::make_shared<std::function<void(event)>>(cbs_.on_event)),
          timer_(ioc),
          rng_(std::random_device{}()) {
        ping_every_ = std::clamp(opts_.timeout / 4, std::chrono::milliseconds(25),
                                 std::chrono::milliseconds(1000));
    }

    ~client_impl() override { teardown(); }

    void start() override {
        running_ = true;
        asio::co_spawn(ioc_, run(), asio::detached);
    }

    void stop() override {
        running_ = false;
        timer_.cancel();
        teardown();
    }

    bool ready() const override { return ready_; }

    std::uint64_t send(std::vector<std::string> argv) override {
        if (!writable()) return 0;
        std::vector<const char*> ptrs;
        std::vector<size_t> lens;
        ptrs.reserve(argv.size());
        lens.reserve(argv.size());
        for (const auto& a : argv) {
            ptrs.push_back(a.data());
            lens.push_back(a.size());
        }
        if (redisAsyncCommandArgv(cmd_.ac, nullptr, nullptr, static_cast<int>(argv.size()),
                                  ptrs.data(), lens.data()) != REDIS_OK)
            return dropped();
        return ++written_;
    }

    void flush() override {
        if (cmd_.ac != nullptr && ready_) redisAsyncHandleWrite(cmd_.ac);
    }

    std::uint64_t publish(std::string_view channel, std::string_view payload) override {
        if (!writable()) return 0;
        const char* args[3] = {"PUBLISH", channel.data(), payload.data()};
        const size_t lens[3] = {7, channel.size(), payload.size()};
        if (redisAsyncCommandArgv(cmd_.ac, nullptr, nullptr, 3, args, lens) != REDIS_OK)
            return dropped();
        return ++written_;
    }

    std::uint64_t confirmed() const override { return confirmed_; }
    std::uint64_t lost_writes() const override { return lost_; }

    asio::awaitable<std::optional<reply>> call(std::vector<std::string> argv) override {
        return call(std::move(argv), opts_.timeout);
    }

    asio::awaitable<std::optional<reply>> call(std::vector<std::string> argv,
                                               std::chrono::milliseconds deadline) override {
        return asio::async_initiate<const asio::use_awaitable_t<>, void(std::optional<reply>)>(
            [this, deadline, argv = std::move(argv)](auto handler) mutable {
                auto h = std::make_shared<decltype(handler)>(std::move(handler));
                auto timer = std::make_shared<asio::steady_timer>(ioc_);
                auto done = std::make_shared<bool>(false);
                // Whichever comes first, the reply or the deadline, answers; once.
                reply_fn finish = [h, timer, done](std::optional<reply> r) {
                    if (*done) return;
                    *done = true;
                    timer->cancel();
                    auto ex = asio::get_associated_executor(*h);
                    asio::post(ex, [h, r = std::move(r)]() mutable { (*h)(std::move(r)); });
                };
                if (!writable()) {
                    finish(std::nullopt);
                    return;
                }
                timer->expires_after(deadline);
                timer->async_wait([finish, events = events_](const boost::system::error_code& ec) {
                    if (ec) return;
                    if (*events) (*events)(event::timeout);
                    finish(std::nullopt);
                });
                issue(argv, finish);
            },
            asio::use_awaitable);
    }

    void subscribe(const std::string& channel) override {
        if (subs_[channel]++ == 0 && ready_) send_sub("SUBSCRIBE", channel);
    }

    void unsubscribe(const std::string& channel) override {
        auto it = subs_.find(channel);
        if (it == subs_.end()) return;
        if (--it->second == 0) {
            subs_.erase(it);
            if (ready_) send_sub("UNSUBSCRIBE", channel);
        }
    }

    asio::awaitable<void> subscriptions_settled() override {
        if (!ready_ || pending_confirms_ == 0) co_return;
        asio::steady_timer t(ioc_);
        t.expires_after(opts_.timeout / 2);
        waiters_.push_back(&t);
        co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
        std::erase(waiters_, &t);
    }

    std::size_t subscription_count() const override { return subs_.size(); }

private:
    void emit(event e) {
        if (*events_) (*events_)(e);
    }

    std::uint64_t dropped() {
        ++lost_;
        emit(event::dropped);
        return 0;
    }

    // Ready, and room in the queue toward Redis; else the write is dropped and counted.
    bool writable() {
        if (cmd_.ac != nullptr && ready_ && sdslen(cmd_.ac->c.obuf) < opts_.queue_bytes)
            return true;
        dropped();
        return false;
    }

    void issue(const std::vector<std::string>& argv, reply_fn fn) {
        std::vector<const char*> ptrs;
        std::vector<size_t> lens;
        ptrs.reserve(argv.size());
        lens.reserve(argv.size());
        for (const auto& a : argv) {
            ptrs.push_back(a.data());
            lens.push_back(a.size());
        }
        auto* p = new pending_reply{++written_, std::move(fn)};
        if (redisAsyncCommandArgv(cmd_.ac, &on_reply, p, static_cast<int>(argv.size()), ptrs.data(),
                                  lens.data()) != REDIS_OK) {
            std::unique_ptr<pending_reply> gone(p);
            gone->fn(std::nullopt);
        }
    }

    static void on_reply(redisAsyncContext* ac, void* r, void* privdata) {
        std::unique_ptr<pending_reply> p(static_cast<pending_reply*>(privdata));
        auto* self = static_cast<client_impl*>(ac->data);
        if (r != nullptr && self != nullptr && self->cmd_.ac == ac)
            self->confirmed_ = std::max(self->confirmed_, p->write);
        if (r == nullptr)
            p->fn(std::nullopt);
        else
            p->fn(convert(static_cast<redisReply*>(r)));
    }

    // The health PING's answer on the command connection: confirms the writes before it.
    static void on_ping(redisAsyncContext* ac, void* r, void* privdata) {
        auto* self = static_cast<client_impl*>(ac->data);
        if (r == nullptr || self == nullptr || self->cmd_.ac != ac) return;
        const auto w = static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(privdata));
        self->confirmed_ = std::max(self->confirmed_, w);
    }

    void send_sub(const char* verb, const std::string& channel) {
        if (sub_.ac == nullptr) return;
        const char* argv[2] = {verb, channel.data()};
        const size_t lens[2] = {std::strlen(verb), channel.size()};
        ++pending_confirms_;
        redisAsyncCommandArgv(sub_.ac, &on_sub_message, this, 2, argv, lens);
    }

    // Every reply on the subscriber connection: confirmations and messages (and pongs).
    static void on_sub_message(redisAsyncContext* ac, void* r, void* privdata) {
        auto* self = static_cast<client_impl*>(privdata);
        auto* rep = static_cast<redisReply*>(r);
        if (rep == nullptr || self->sub_.ac != ac) return;
        if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 3) return;
        const std::string_view kind(rep->element[0]->str, rep->element[0]->len);
        if (kind == "message") {
            const auto* ch = rep->element[1];
            const auto* payload = rep->element[2];
            if (self->cbs_.on_message)
                self->cbs_.on_message(std::string_view(ch->str, ch->len),
                                      std::string_view(payload->str, payload->len));
        } else if (kind == "subscribe" || kind == "unsubscribe") {
            if (self->pending_confirms_ > 0 && --self->pending_confirms_ == 0) self->wake_waiters();
        }
    }

    void wake_waiters() {
        for (auto* t : waiters_) t->cancel();
    }

    connection* of(const redisAsyncContext* ac) {
        if (ac == cmd_.ac) return &cmd_;
        if (ac == sub_.ac) return &sub_;
        return nullptr;
    }

    void keepalive(int fd) const {
        const int on = 1, idle = 1, intvl = 1, cnt = 3;
        const unsigned user_timeout = static_cast<unsigned>(opts_.timeout.count());
        ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
        ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
        ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
        ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
        ::setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout, sizeof user_timeout);
    }

    static void on_connect(const redisAsyncContext* ac, int status) {
        auto* self = static_cast<client_impl*>(ac->data);
        if (self == nullptr) return;
        connection* c = self->of(ac);
        if (c == nullptr) return;
        if (status != REDIS_OK) {
            self->failure_ = ac->errstr[0] != '\0' ? ac->errstr : "connect failed";
            c->ac = nullptr;  // hiredis frees the context after a failed connect
            self->lost("connect failed");
            return;
        }
        c->connected = true;
        self->keepalive(ac->c.fd);
    }

    static void on_handshake(redisAsyncContext* ac, void* r, void* privdata) {
        auto* self = static_cast<client_impl*>(ac->data);
        if (self == nullptr || r == nullptr) return;
        connection* c = self->of(ac);
        if (c == nullptr) return;
        const auto* rep = static_cast<redisReply*>(r);
        if (rep->type == REDIS_REPLY_ERROR) {
            if (!self->failure_.empty()) return;  // the first error says why (AUTH, not PING)
            const auto step = reinterpret_cast<std::uintptr_t>(privdata);
            const std::string what(rep->str, rep->len);
            if (step == step_auth)
                self->failure_ = "AUTH refused (" + what + "): check the password in --redis-url";
            else if (step == step_select)
                self->failure_ =
                    "SELECT " + std::to_string(self->ep_.db) + " refused (" + what + ")";
            else if (what.rfind("NOAUTH", 0) == 0)
                self->failure_ =
                    "Redis requires a password (" + what + "): redis://:PASSWORD@host:port";
            else
                self->failure_ = "PING answered " + what;
            self->timer_.cancel();
            return;
        }
        if (--c->handshake == 0) {
            c->up = true;
            self->timer_.cancel();  // wake the reconnect loop
        }
    }

    static void on_disconnect(const redisAsyncContext* ac, int) {
        auto* self = static_cast<client_impl*>(ac->data);
        if (self == nullptr) return;
        if (self->failure_.empty() && ac->errstr[0] != '\0') self->failure_ = ac->errstr;
        if (ac == self->cmd_.ac) self->cmd_ = {};
        if (ac == self->sub_.ac) self->sub_ = {};
        self->lost("disconnected");
    }

    void lost(const char* why) {
        const bool was_ready = ready_;
        ready_ = false;
        pending_confirms_ = 0;
        wake_waiters();
        teardown();
        if (was_ready) {
            spdlog::warn("redis at {}:{}: connection lost ({})", ep_.host, ep_.port, why);
            if (written_ > confirmed_) lost_ += written_ - confirmed_;
            if (cbs_.on_lost) cbs_.on_lost();
            confirmed_ = written_;
        }
        timer_.cancel();
    }

    void teardown() {
        for (connection* c : {&cmd_, &sub_}) {
            if (c->ac != nullptr) {
                auto* ac = c->ac;
                *c = {};
                ac->data = nullptr;
                redisAsyncFree(ac);  // fires pending callbacks with a null reply
            }
        }
    }

    bool open(connection& c) {
        c = {};
        c.ac = redisAsyncConnect(ep_.host.c_str(), ep_.port);
        if (c.ac == nullptr || c.ac->err) {
            failure_ = c.ac != nullptr ? c.ac->errstr : "out of memory";
            if (c.ac != nullptr) redisAsyncFree(c.ac);
            c.ac = nullptr;
            return false;
        }
        c.ac->data = this;
        adapter::attach(ioc_, c.ac);
        redisAsyncSetConnectCallback(c.ac, &on_connect);
        redisAsyncSetDisconnectCallback(c.ac, &on_disconnect);
        // Queued before anything else: hiredis writes them once connected.
        auto step = [&](handshake_step s, std::vector<std::string> argv) {
            std::vector<const char*> ptrs;
            std::vector<size_t> lens;
            for (const auto& a : argv) {
                ptrs.push_back(a.data());
                lens.push_back(a.size());
            }
            ++c.handshake;
            redisAsyncCommandArgv(c.ac, &on_handshake, reinterpret_cast<void*>(std::uintptr_t{s}),
                                  static_cast<int>(argv.size()), ptrs.data(), lens.data());
        };
        if (!ep_.password.empty()) {
            if (ep_.user.empty())
                step(step_auth, {"AUTH", ep_.password});
            else
                step(step_auth, {"AUTH", ep_.user, ep_.password});
        }
        if (ep_.db != 0) step(step_select, {"SELECT", std::to_string(ep_.db)});
        step(step_ping, {"PING"});
        return true;
    }

    // One PING per interval on each connection; false when one stayed silent too long.
    bool healthy(connection& c, clock::time_point now) {
        if (c.ac == nullptr) return false;
        const auto last_read = adapter::of(c.ac->ev.data).last_read;
        const bool answered = c.ping_sent == clock::time_point{} || last_read >= c.ping_sent;
        if (!answered && now - c.ping_sent > opts_.timeout) {
            int pending = 0;  // bytes waiting for us: the loop was busy, Redis was not
            return ::ioctl(c.ac->c.fd, FIONREAD, &pending) == 0 && pending > 0;
        }
        if (answered && now - c.ping_sent >= ping_every_) {
            c.ping_sent = now;
            if (&c == &cmd_) {
                redisAsyncCommand(c.ac, &on_ping,
                                  reinterpret_cast<void*>(static_cast<std::uintptr_t>(written_)),
                                  "PING");
            } else if ((c.ac->c.flags & REDIS_SUBSCRIBED) != 0 && !subs_.empty()) {
                static constexpr char ping[] = "*1\r\n$4\r\nPING\r\n";
                redisAppendFormattedCommand(&c.ac->c, ping, sizeof ping - 1);
                adapter::add_write(c.ac->ev.data);
            } else {
                redisAsyncCommand(c.ac, nullptr, nullptr, "PING");
            }
        }
        return true;
    }

    void log_failure() {
        const auto now = clock::now();
        const std::string why = failure_.empty() ? "no answer" : failure_;
        ++attempts_;
        if (why == last_failure_ && now - last_log_ < std::chrono::seconds(30)) return;
        spdlog::warn("redis at {}:{} is not available: {}; retrying with backoff ({} attempts)",
                     ep_.host, ep_.port, why, attempts_);
        last_failure_ = why;
        last_log_ = now;
        attempts_ = 0;
    }

    asio::awaitable<void> wait(clock::duration d) {
        timer_.expires_after(d);
        co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
    }

    asio::awaitable<void> run() {
        constexpr auto backoff_min = std::chrono::milliseconds(100);
        constexpr auto backoff_max = std::chrono::milliseconds(2000);
        auto backoff = std::chrono::milliseconds(backoff_min);
        bool first = true;   // no connection ever made
        bool waited = true;  // the first attempt goes at once
        clock::time_point up_since{};
        const auto connect_deadline = std::max(opts_.timeout, std::chrono::milliseconds(500));
        auto jittered = [&] {
            std::uniform_real_distribution<double> d(0.5, 1.0);
            return std::chrono::duration_cast<clock::duration>(backoff * d(rng_));
        };
        while (running_) {
            if (!ready_) {
                if (!std::exchange(waited, false)) {  // after a failure or a loss: back off
                    if (up_since != clock::time_point{} &&
                        clock::now() - up_since > std::chrono::seconds(5))
                        backoff = backoff_min;
                    up_since = {};
                    co_await wait(jittered());
                    if (!running_) break;
                }
                teardown();
                failure_.clear();
                if (open(cmd_) && open(sub_)) {
                    const auto deadline = clock::now() + connect_deadline;
                    while (running_ && cmd_.ac && sub_.ac && failure_.empty() &&
                           !(cmd_.up && sub_.up) && clock::now() < deadline)
                        co_await wait(std::chrono::milliseconds(20));
                }
                if (running_ && cmd_.ac && sub_.ac && cmd_.up && sub_.up) {
                    ready_ = true;
                    up_since = clock::now();
                    attempts_ = 0;
                    last_failure_.clear();
                    for (const auto& [ch, n] : subs_) send_sub("SUBSCRIBE", ch);
                    spdlog::info("redis connected to {}:{}{}", ep_.host, ep_.port,
                                 ep_.db != 0 ? " db " + std::to_string(ep_.db) : "");
                    if (cbs_.on_connected) cbs_.on_connected();
                    if (!first && cbs_.on_reconnected) cbs_.on_reconnected();
                    first = false;
                } else {
                    if (!running_) break;
                    teardown();
                    emit(event::connect_failure);
                    log_failure();
                    backoff = std::min(backoff * 2, backoff_max);
                    continue;
                }
            }
            // Connected: the health check (lost() cancels the timer).
            co_await wait(ping_every_);
            if (!running_ || !ready_) continue;
            const auto now = clock::now();
            for (connection* c : {&cmd_, &sub_}) {
                if (!healthy(*c, now)) {
                    emit(event::health_failure);
                    lost(c == &cmd_ ? "no answer on the command connection"
                                    : "no answer on the subscriber connection");
                    break;
                }
            }
        }
    }

    asio::io_context& ioc_;
    endpoint ep_;
    callbacks cbs_;
    options opts_;
    std::shared_ptr<std::function<void(event)>> events_;  // outlives us in pending timers
    asio::steady_timer timer_;
    std::mt19937 rng_;
    std::chrono::milliseconds ping_every_{500};
    connection cmd_, sub_;
    bool ready_ = false;
    bool running_ = false;
    std::map<std::string, int> subs_;
    int pending_confirms_ = 0;
    std::vector<asio::steady_timer*> waiters_;
    std::uint64_t written_ = 0, confirmed_ = 0, lost_ = 0;
    std::string failure_, last_failure_;
    clock::time_point last_log_{};
    int attempts_ = 0;
};

}  // namespace

std::unique_ptr<client> create_client(asio::io_context& ioc, const std::string& url, callbacks cbs,
                                      options opts) {
    std::string error;
    // A list (--redis-url a,b,c): its first server, the home shard (url.hpp).
    const auto comma = url.find(',');
    auto ep = parse_url(
        comma == std::string::npos ? std::string_view(url) : std::string_view(url).substr(0, comma),
        &error);
    if (!ep) throw std::invalid_argument("--redis-url: " + error);
    return std::make_unique<client_impl>(ioc, std::move(*ep), std::move(cbs), opts);
}

}  // namespace chirp::redis
