// The hiredis <-> Asio adapter and the reply conversion (private to redis/; see client.cpp).
// hiredis asks for read/write interest through ev.addRead/delRead/addWrite/delWrite, and we
// answer with async_wait on a posix::stream_descriptor wrapping its socket. ev.cleanup runs
// before hiredis closes the fd: the descriptor is released (never closed) and the adapter
// dies with its last pending wait.
#pragma once

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <sys/ioctl.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <chrono>
#include <memory>

#include "chirp/redis/redis.hpp"

namespace chirp::redis::detail {

namespace asio = boost::asio;

using clock = std::chrono::steady_clock;

struct adapter : std::enable_shared_from_this<adapter> {
    asio::posix::stream_descriptor sd;
    clock::time_point last_read{};  // the health check's evidence that the peer is alive
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
                self->last_read = clock::now();
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

inline reply convert(const redisReply* r) {
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

}  // namespace chirp::redis::detail
