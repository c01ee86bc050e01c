// Reading another process's resource use from /proc (Linux only): resident set size and CPU
// time of chirpd, found by pid or by the TCP port it listens on; and raising our fd limit.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace chirp::bench {

struct proc_sample {
    std::uint64_t rss_bytes = 0;
    double cpu_seconds = 0;  // user + system, all threads
    int threads = 0;
};

// The pid of the process listening on 127.0.0.1/0.0.0.0/[::]:port, if we can see it.
std::optional<int> find_pid_by_port(int port);
// The process and its children together (a `chirpd --workers N` supervisor and its workers;
// a single process has none): RSS, CPU time and threads summed.
std::optional<proc_sample> sample_process(int pid);
// Raises RLIMIT_NOFILE to at least `wanted` when allowed; returns the resulting soft limit.
std::uint64_t raise_fd_limit(std::uint64_t wanted);
// Resident set size of this process.
std::uint64_t self_rss_bytes();

}  // namespace chirp::bench
