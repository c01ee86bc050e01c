// A redis-server of the test binary's own. chirpd's Redis channels and keys
// (notifications:<user id>, messages:<user id>, chirp:online, ...) are not namespaced by
// database, and every test binary works on a fresh database whose user ids start at 1 again:
// two chirpd on different databases sharing one Redis would see each other's events. So every
// test chirpd (support/server.hpp) uses this binary's private redis-server, flushed between
// suites; it is also the one the Redis-outage tests may kill, never any other Redis.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace chirp::test {

// A redis-server on a free port in a temporary directory, started with
// `redis-server --bind 127.0.0.1 --port P --dir D --save '' --appendonly no` plus
// `extra_args` as our child process (not daemonized: it dies with the test binary even when
// that crashes). kill() sends SIGKILL to that process only, never to any other Redis on the
// machine. A fault test starts its own (for example with `--requirepass`: command() then
// sends AUTH first) and may freeze it; it never freezes or protects the binary's shared one.
class redis_server {
public:
    explicit redis_server(std::vector<std::string> extra_args = {});  // starts it
    ~redis_server();  // kills it, removes the directory
    redis_server(const redis_server&) = delete;
    redis_server& operator=(const redis_server&) = delete;

    void start();   // on the same port (after kill)
    void kill();    // SIGKILL, waits until it is gone
    void pause();   // SIGSTOP: connections stay open, nothing is answered
    void resume();  // SIGCONT
    bool ping();
    // Runs a command (hiredis, synchronous); throws when Redis does not answer. Arrays come
    // back as their elements, one a line.
    std::string command(const std::vector<std::string>& argv);
    void flushall() { command({"FLUSHALL"}); }

    std::uint16_t port() const { return port_; }
    std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }
    std::string log() const;
    // Its process (to pause it with SIGSTOP / SIGCONT).
    pid_t pid() const { return pid_; }

private:
    std::string binary_, dir_, password_;
    std::vector<std::string> extra_args_;
    std::uint16_t port_ = 0;
    pid_t pid_ = -1;
};

// One private Redis per test binary, started on first use and stopped at exit.
redis_server& binary_redis();

}  // namespace chirp::test
