// DESIGN
// hiredis 0.14 has no Asio adapter, so this file is one: hiredis asks for read/write
// interest through ev.addRead/delRead/addWrite/delWrite, and we answer with async_wait on a
// posix::stream_descriptor wrapping its socket. ev.cleanup runs before hiredis closes the fd:
// the descriptor is released (never closed) and the adapter dies with its last pending wait.
// Commands queued in one loop turn leave in one write: pipelining comes for free.
// A subscribed connection takes no other commands, hence two connections. When either drops,
// both are torn down and a reconnect loop (backoff 100 ms .. 2 s) brings them back,
// resubscribes every channel and reports the reconnect, so sessions replay from PostgreSQL.
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <map>
#include <unordered_map>

#include "chirp/redis/redis.hpp"

namespace asio = boost::asio;

namespace chirp::redis {
namespace {

struct adapter : std::enable_shared_from_this<adapter> {
    asio::posix::stream_descriptor sd;
    redisAsyncContext* ac;
    bool want_read = false, want_write = false;
    bool read_waiting = false, write_waiting = false;
    bool dead = false;

    adapter(asio::io_context& ioc, redisAsyncContext* c) : sd(ioc, c->c.fd), ac(c) {}

    void arm_read() {
        if (dead || read_waiting || !want_read) return;
        read_waiting = true;
        sd.async_wait(
            asio::posix::stream_descriptor::wait_read,
            [self = shared_from_this()](const boost::system::error_code& ec) {
                self->read_waiting = false;
                if (ec || self->dead) return;
                // hiredis reads at most 16 KiB per call: drain what the kernel has
                // (bounded), or a busy subscriber falls behind Redis' output buffer
                // limit and gets disconnected.
                for (int i = 0; i < 256 && self->want_read && !self->dead; ++i) {
                    redisAsyncHandleRead(self->ac);
                    if (self->dead || !self->want_read) break;
                    int pending = 0;
                    if (::ioctl(self->sd.native_handle(), FIONREAD, &pending) != 0 || pending <= 0)
                        break;
                }
                self->arm_read();
            });
    }
    void arm_write() {
        if (dead || write_waiting || !want_write) return;
        write_waiting = true;
        sd.async_wait(asio::posix::stream_descriptor::wait_write,
                      [self = shared_from_this()](const boost::system::error_code& ec) {
                          self->write_waiting = false;
                          if (ec || self->dead) return;
                          if (self->want_write) redisAsyncHandleWrite(self->ac);
                          self->arm_write();
                      });
    }

    static adapter& of(void* p) { return **static_cast<std::shared_ptr<adapter>*>(p); }
    static void add_read(void* p) {
        auto& a = of(p);
        a.want_read = true;
        a.arm_read();
    }
    static void del_read(void* p) { of(p).want_read = false; }
    static void add_write(void* p) {
        auto& a = of(p);
        a.want_write = true;
        a.arm_write();
    }
    static void del_write(void* p) { of(p).want_write = false; }
    static void cleanup(void* p) {
        auto* holder = static_cast<std::shared_ptr<adapter>*>(p);
        auto& a = **holder;
        a.dead = true;
        a.want_read = a.want_write = false;
        boost::system::error_code ec;
        a.sd.cancel(ec);
        a.sd.release();  // hiredis closes the fd itself
        delete holder;
    }

    static void attach(asio::io_context& ioc, redisAsyncContext* ac) {
        auto a = std::make_shared<adapter>(ioc, ac);
        ac->ev.data = new std::shared_ptr<adapter>(a);
        ac->ev.addRead = add_read;
        ac->ev.delRead = del_read;
        ac->ev.addWrite = add_write;
        ac->ev.delWrite = del_write;
        ac->ev.cleanup = cleanup;
    }
};

reply convert(const redisReply* r) {
    reply out;
    if (r == nullptr) return out;
    switch (r->type) {
        case REDIS_REPLY_INTEGER:
            out.type = reply::kind::integer;
            out.integer = r->integer;
            break;
        case REDIS_REPLY_STRING:
        case REDIS_REPLY_STATUS:
            out.type = reply::kind::string;
            out.str.assign(r->str, r->len);
            break;
        case REDIS_REPLY_ERROR:
            out.type = reply::kind::error;
            out.str.assign(r->str, r->len);
            break;
        case REDIS_REPLY_ARRAY:
            out.type = reply::kind::array;
            out.elements.reserve(r->elements);
            for (std::size_t i = 0; i < r->elements; ++i)
                out.elements.push_back(convert(r->element[i]));
            break;
        default:
            break;
    }
    return out;
}

using reply_fn = std::function<void(std::optional<reply>)>;

class client_impl;

// One hiredis connection; owned by client_impl, torn down on any error.
struct connection {
    redisAsyncContext* ac = nullptr;
    bool connected = false;
};

class client_impl final : public client {
public:
    client_impl(asio::io_context& ioc, std::string host, int port, callbacks cbs)
        : ioc_(ioc), host_(std::move(host)), port_(port), cbs_(std::move(cbs)), timer_(ioc) {}

    ~client_impl() override { teardown(); }

    void start() override {
        running_ = true;
        asio::co_spawn(ioc_, reconnect_loop(), asio::detached);
    }

    void stop() override {
        running_ = false;
        timer_.cancel();
        teardown();
    }

    bool ready() const override { return ready_; }

    void send(std::vector<std::string> argv) override { issue(cmd_.ac, argv, nullptr); }

    void flush() override {
        if (cmd_.ac != nullptr && ready_) redisAsyncHandleWrite(cmd_.ac);
    }

    void publish(std::string_view channel, std::string_view payload) override {
        if (cmd_.ac == nullptr || !ready_) return;
        const char* args[3] = {"PUBLISH", channel.data(), payload.data()};
        const size_t lens[3] = {7, channel.size(), payload.size()};
        redisAsyncCommandArgv(cmd_.ac, nullptr, nullptr, 3, args, lens);
    }

    asio::awaitable<std::optional<reply>> call(std::vector<std::string> argv) override {
        return asio::async_initiate<const asio::use_awaitable_t<>, void(std::optional<reply>)>(
            [this, argv = std::move(argv)](auto handler) mutable {
                auto h = std::make_shared<decltype(handler)>(std::move(handler));
                auto fn = std::make_unique<reply_fn>([h](std::optional<reply> r) {
                    auto ex = asio::get_associated_executor(*h);
                    asio::post(ex, [h, r = std::move(r)]() mutable { (*h)(std::move(r)); });
                });
                if (!ready_) {
                    (*fn)(std::nullopt);
                    return;
                }
                issue(cmd_.ac, argv, std::move(fn));
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
        t.expires_at(asio::steady_timer::time_point::max());
        waiters_.push_back(&t);
        co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
        std::erase(waiters_, &t);
    }

    std::size_t subscription_count() const override { return subs_.size(); }

private:
    void issue(redisAsyncContext* ac, const std::vector<std::string>& argv,
               std::unique_ptr<reply_fn> fn) {
        if (ac == nullptr || !ready_) {
            if (fn) (*fn)(std::nullopt);
            return;
        }
        std::vector<const char*> ptrs;
        std::vector<size_t> lens;
        ptrs.reserve(argv.size());
        lens.reserve(argv.size());
        for (const auto& a : argv) {
            ptrs.push_back(a.data());
            lens.push_back(a.size());
        }
        reply_fn* raw = fn.release();
        if (redisAsyncCommandArgv(ac, raw ? &on_reply : nullptr, raw, static_cast<int>(argv.size()),
                                  ptrs.data(), lens.data()) != REDIS_OK) {
            if (raw) {
                (*raw)(std::nullopt);
                delete raw;
            }
        }
    }

    static void on_reply(redisAsyncContext*, void* r, void* privdata) {
        std::unique_ptr<reply_fn> fn(static_cast<reply_fn*>(privdata));
        if (r == nullptr)
            (*fn)(std::nullopt);
        else
            (*fn)(convert(static_cast<redisReply*>(r)));
    }

    void send_sub(const char* verb, const std::string& channel) {
        if (sub_.ac == nullptr) return;
        const char* argv[2] = {verb, channel.data()};
        const size_t lens[2] = {std::strlen(verb), channel.size()};
        ++pending_confirms_;
        redisAsyncCommandArgv(sub_.ac, &on_sub_message, this, 2, argv, lens);
    }

    // Every reply on the subscriber connection: confirmations and messages.
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

    static void on_connect(const redisAsyncContext* ac, int status) {
        auto* self = static_cast<client_impl*>(ac->data);
        if (self == nullptr) return;
        connection& c = ac == self->cmd_.ac ? self->cmd_ : self->sub_;
        if (status != REDIS_OK) {
            c.ac = nullptr;  // hiredis frees the context after a failed connect
            self->lost();
            return;
        }
        c.connected = true;
        self->timer_.cancel();  // wake the reconnect loop
    }

    static void on_disconnect(const redisAsyncContext* ac, int) {
        auto* self = static_cast<client_impl*>(ac->data);
        if (self == nullptr) return;
        if (ac == self->cmd_.ac) self->cmd_ = {};
        if (ac == self->sub_.ac) self->sub_ = {};
        self->lost();
    }

    void lost() {
        const bool was_ready = ready_;
        ready_ = false;
        pending_confirms_ = 0;
        wake_waiters();
        teardown();
        if (was_ready) {
            spdlog::warn("redis connection lost");
            if (cbs_.on_lost) cbs_.on_lost();
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
        c.connected = false;
        c.ac = redisAsyncConnect(host_.c_str(), port_);
        if (c.ac == nullptr || c.ac->err) {
            if (c.ac != nullptr) redisAsyncFree(c.ac);
            c.ac = nullptr;
            return false;
        }
        c.ac->data = this;
        adapter::attach(ioc_, c.ac);
        redisAsyncSetConnectCallback(c.ac, &on_connect);
        redisAsyncSetDisconnectCallback(c.ac, &on_disconnect);
        return true;
    }

    asio::awaitable<void> reconnect_loop() {
        auto backoff = std::chrono::milliseconds(100);
        bool first = true;
        while (running_) {
            if (!ready_) {
                teardown();
                if (open(cmd_) && open(sub_)) {
                    // Wait for both connect callbacks (or a failure) for up to 2 s.
                    const auto deadline =
                        std::chrono::steady_clock::now() + std::chrono::seconds(2);
                    while (running_ && cmd_.ac && sub_.ac && !(cmd_.connected && sub_.connected) &&
                           std::chrono::steady_clock::now() < deadline) {
                        timer_.expires_after(std::chrono::milliseconds(20));
                        co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
                    }
                }
                if (cmd_.ac && sub_.ac && cmd_.connected && sub_.connected) {
                    ready_ = true;
                    backoff = std::chrono::milliseconds(100);
                    for (const auto& [ch, n] : subs_) send_sub("SUBSCRIBE", ch);
                    spdlog::info("redis connected to {}:{}", host_, port_);
                    if (cbs_.on_connected) cbs_.on_connected();
                    if (!first && cbs_.on_reconnected) cbs_.on_reconnected();
                    first = false;
                } else {
                    teardown();
                    if (first)
                        spdlog::warn("redis at {}:{} is not reachable; retrying", host_, port_);
                    timer_.expires_after(backoff);
                    co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
                    backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
                    continue;
                }
            }
            // Connected: sleep until something changes (lost() cancels the timer).
            timer_.expires_after(std::chrono::seconds(1));
            co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
        }
    }

    asio::io_context& ioc_;
    std::string host_;
    int port_;
    callbacks cbs_;
    asio::steady_timer timer_;
    connection cmd_, sub_;
    bool ready_ = false;
    bool running_ = false;
    std::map<std::string, int> subs_;
    int pending_confirms_ = 0;
    std::vector<asio::steady_timer*> waiters_;
};

}  // namespace

std::unique_ptr<client> create_client(asio::io_context& ioc, const std::string& url,
                                      callbacks cbs) {
    std::string rest = url.substr(std::string_view("redis://").size());
    if (auto slash = rest.find('/'); slash != std::string::npos) rest = rest.substr(0, slash);
    if (auto at = rest.rfind('@'); at != std::string::npos) rest = rest.substr(at + 1);
    std::string host = rest;
    int port = 6379;
    if (auto colon = rest.rfind(':'); colon != std::string::npos) {
        host = rest.substr(0, colon);
        port = std::atoi(rest.c_str() + colon + 1);
    }
    if (host.empty() || host == "localhost") host = "127.0.0.1";
    return std::make_unique<client_impl>(ioc, host, port, std::move(cbs));
}

}  // namespace chirp::redis
