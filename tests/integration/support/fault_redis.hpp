// A redis-server for one fault test: started with more flags (a password: then command()
// sends AUTH first), frozen with SIGSTOP and thawed with SIGCONT, killed (SIGKILL, by its PID)
// when the object goes. Separate from the binary's shared Redis (redis_server.hpp), which other
// suites use and which a test must not leave frozen or password-protected.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace chirp::test {

class fault_redis {
public:
    explicit fault_redis(std::vector<std::string> extra_args = {});
    ~fault_redis();
    fault_redis(const fault_redis&) = delete;
    fault_redis& operator=(const fault_redis&) = delete;

    void pause();   // SIGSTOP: connections stay open, nothing is answered
    void resume();  // SIGCONT
    // A command (synchronous hiredis, 2 s timeout); throws when Redis does not answer or
    // answers an error. Arrays: one element a line.
    std::string command(const std::vector<std::string>& argv);

    std::uint16_t port() const { return port_; }
    pid_t pid() const { return pid_; }
    std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }

private:
    std::string dir_, password_;
    std::uint16_t port_ = 0;
    pid_t pid_ = -1;
};

}  // namespace chirp::test
