// The supervisor's pure decisions (supervisor.hpp): worker count, restart backoff, a worker's
// command line. No process is touched here; unit-tested in tests/unit/workers_test.cpp.
#include <sched.h>

#include <algorithm>

#include "chirp/app/supervisor.hpp"

namespace chirp::app {

int available_cpus() {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (::sched_getaffinity(0, sizeof set, &set) != 0) return 1;
    return std::max(1, CPU_COUNT(&set));
}

int resolve_workers(int configured, int cpus) {
    if (configured > 0) return configured;
    return std::max(1, cpus);
}

bool wants_supervisor(const config& cfg, int cpus) {
    return cfg.command == "serve" && cfg.worker_index < 0 && resolve_workers(cfg.workers, cpus) > 1;
}

restart_backoff::ms restart_backoff::next(ms uptime) {
    if (uptime >= stable_) consecutive_ = 0;
    ms delay = initial_;
    for (int i = 0; i < consecutive_ && delay < max_; ++i) delay *= 2;
    ++consecutive_;
    return std::min(delay, max_);
}

std::vector<std::string> worker_argv(const std::string& exe, const std::vector<std::string>& argv,
                                     int index, int workers, int ready_fd, int port,
                                     int limits_fd) {
    std::vector<std::string> out;
    out.push_back(exe);
    if (argv.size() > 1) out.insert(out.end(), argv.begin() + 1, argv.end());
    for (const auto& [flag, value] : {std::pair<const char*, int>{"--workers", workers},
                                      {"--worker-index", index},
                                      {"--worker-ready-fd", ready_fd},
                                      {"--port", port}}) {
        out.emplace_back(flag);
        out.push_back(std::to_string(value));
    }
    if (limits_fd >= 0) {
        out.emplace_back("--limits-fd");
        out.push_back(std::to_string(limits_fd));
    }
    return out;
}

}  // namespace chirp::app
