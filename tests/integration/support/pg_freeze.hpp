// Freezing the test PostgreSQL server (SIGSTOP/SIGCONT by PID), for the fault tests.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <vector>

namespace chirp::test {

// Freezes the PostgreSQL server of CHIRP_TEST_ADMIN_URL: SIGSTOP to the postmaster (found as
// the parent of a backend), then to every child of it (backends and auxiliary processes), so
// nothing answers while the kernel still accepts connections and bytes. thaw() (and the
// destructor) sends SIGCONT to all of them. A forked guard process thaws them by itself after
// `at_most`, should the test die before: the server is never left frozen.
class postgres_freeze {
public:
    explicit postgres_freeze(std::chrono::seconds at_most = std::chrono::seconds(25));
    ~postgres_freeze();
    postgres_freeze(const postgres_freeze&) = delete;
    postgres_freeze& operator=(const postgres_freeze&) = delete;

    void thaw();
    const std::vector<pid_t>& stopped() const { return stopped_; }

private:
    std::vector<pid_t> stopped_;
    pid_t guard_ = -1;
};

// The parent PID of a process (from /proc), -1 when it is gone.
pid_t parent_of(pid_t pid);

}  // namespace chirp::test
