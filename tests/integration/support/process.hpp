// Child processes for the integration tests: chirpd servers (fork/exec, wait for /healthz,
// SIGTERM + waitpid at teardown, stderr captured to a file) and one-shot commands such as
// `chirpd rebuild-projections`.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace chirp::test {

// A TCP port on 127.0.0.1 that nobody listens on right now.
std::uint16_t free_port();

// True when the process holds a socket listening on the port (from /proc).
bool listens_on(pid_t pid, std::uint16_t port);

// The processes whose parent is `pid` (from /proc): a `chirpd --workers N` supervisor's workers.
std::vector<pid_t> child_pids(pid_t pid);

struct command_result {
    int exit_code = -1;  // the exit status, or 128 + signal
    std::string output;  // stdout and stderr together
};

// Runs argv[0] (an absolute path) with argv and waits for it (killed after the timeout).
// CHIRP_* variables of the test environment (except CHIRP_TEST_*) are not passed on.
// extra_env: "NAME=value" entries added to the child's environment.
command_result run_command(const std::vector<std::string>& argv,
                           std::chrono::seconds timeout = std::chrono::seconds(120),
                           const std::vector<std::string>& extra_env = {});

class chirpd_process {
public:
    struct options {
        std::string database_url;
        std::string redis_url;  // empty: CHIRP_TEST_REDIS_URL
        std::vector<std::string> extra_args;
        std::string name = "chirpd";         // for the log file name
        std::vector<std::string> extra_env;  // "NAME=value" added to its environment
    };

    explicit chirpd_process(options opts);
    ~chirpd_process();  // stops the process if it still runs and removes the log
    chirpd_process(const chirpd_process&) = delete;
    chirpd_process& operator=(const chirpd_process&) = delete;

    // Starts `chirpd --dev --port P --database-url ... --redis-url ... --fast-password-hash
    // --log-level warn --workers 1 <extra>` and waits until /healthz answers; throws (with the
    // log) when it exits or does not answer in time. With `--workers N` in extra, the process
    // is the supervisor and the answer comes from one of its workers.
    void start();
    // SIGTERM, then waitpid (SIGKILL after 30 s). Returns the exit code (128 + signal when
    // killed); 0 means a clean shutdown. Idempotent.
    int stop();
    bool running();
    // True after stop() was called (as opposed to the process dying by itself).
    bool stopped() const { return stopped_; }

    std::uint16_t port() const { return port_; }
    pid_t pid() const { return pid_; }
    const std::string& log_path() const { return log_path_; }
    std::size_t log_size() const;
    std::string log(std::size_t from = 0) const;

private:
    options opts_;
    std::uint16_t port_ = 0;
    pid_t pid_ = -1;
    int exit_code_ = -1;
    bool stopped_ = false;
    std::string log_path_;
};

}  // namespace chirp::test
