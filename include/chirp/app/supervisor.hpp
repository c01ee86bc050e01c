// A process per core (issue 12, item 1): `chirpd serve --workers N` runs a supervisor that
// applies the migrations once, then fork+execs N copies of itself as workers (each a whole
// single-threaded chirpd on its own SO_REUSEPORT socket of the same port), restarts a worker
// that exits (with backoff), and on SIGTERM/SIGINT drains them all. The pure pieces (how many
// workers, the restart backoff, a worker's command line) are here for the unit tests; see
// supervisor.cpp and docs/architecture.md "Processes".
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "chirp/config/config.hpp"

namespace chirp::app {

// The CPUs this process may run on (sched_getaffinity: `taskset` and cpusets count), >= 1.
int available_cpus();

// Worker processes for a configured --workers value: 0 means one per CPU; at least 1.
int resolve_workers(int configured, int cpus);

// True when `cfg` asks for a supervisor: `serve`, not itself a worker, more than one worker.
bool wants_supervisor(const config& cfg, int cpus);

// The delay before a crashed worker is started again. Consecutive quick crashes double it
// (initial, 2x, 4x ... up to max), so a worker that cannot start is retried at most once per
// `max`; a worker that ran at least `stable` before it exited starts again after `initial`.
class restart_backoff {
public:
    using ms = std::chrono::milliseconds;
    explicit restart_backoff(ms initial = ms(100), ms max = ms(10000), ms stable = ms(10000))
        : initial_(initial), max_(max), stable_(stable) {}
    // The delay for a worker that exited after running `uptime`.
    ms next(ms uptime);
    int consecutive() const { return consecutive_; }

private:
    ms initial_, max_, stable_;
    int consecutive_ = 0;  // quick exits in a row
};

// A worker's command line: the supervisor's own arguments (argv[0] replaced by `exe`) and then
// the worker flags, which win over any earlier occurrence (the last value of a flag counts).
// limits_fd >= 0 adds `--limits-fd` (the shared limits' memory).
std::vector<std::string> worker_argv(const std::string& exe, const std::vector<std::string>& argv,
                                     int index, int workers, int ready_fd, int port,
                                     int limits_fd = -1);

// Runs the supervisor; returns the process exit code (0 when every worker drained cleanly).
int supervise(const config& cfg, const std::vector<std::string>& argv);

}  // namespace chirp::app
