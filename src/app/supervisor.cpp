// DESIGN
// The supervisor of `chirpd serve --workers N` (N > 1). It serves nothing and has no event
// loop: one poll() over a signalfd (SIGCHLD, SIGTERM, SIGINT) and each starting worker's
// readiness pipe, with the next restart or the drain deadline as its timeout.
//
// Start: the migrations run here, once, before any worker exists (so workers never race on
// them, and a restarted worker does not re-apply the functions under the others); the address
// is probed with a plain bind (no SO_REUSEPORT: a port held by anyone else, including another
// chirpd's workers, fails here with "cannot listen on", as a single process would, and port
// 0 becomes a real one). Then N fork+execs of /proc/self/exe with the same arguments plus
// `--workers N --worker-index K --worker-ready-fd 3 --port P` (exec rather than a bare fork:
// each worker is a fresh process, which ASan and the libraries' threads need). A worker
// binds its own SO_REUSEPORT socket, so the kernel spreads new connections over the live
// workers; when one dies, its socket closes and new connections go to the others.
//
// Readiness: a worker writes one byte to fd 3 once it listens. A worker of the first start
// that exits before it was ever ready (bad address, database gone) stops the whole server
// (exit 1), as a single process would fail its start. Later exits are crashes: logged with
// the code or signal and the uptime, restarted after restart_backoff (100 ms, doubling for
// quick repeated exits up to 10 s; reset once a worker ran 10 s), and the time from the exit to
// the new worker's readiness is logged.
//
// Shared limits: before the first worker, the supervisor creates the abuse limits' region
// (util/limit_tables.hpp: failed logins, registrations, writes, replays, sessions per user)
// in a memfd that every worker inherits as fd 4 (`--limits-fd 4`) and maps, so that each
// limit holds for the server, not per worker. When a worker exits, its column of session
// counts is zeroed here (the restarted worker does it again at start): a crashed worker's
// sessions do not stay counted.
//
// Stop: SIGTERM or SIGINT sends SIGTERM to every worker (each drains as today: 1001 to its
// WebSockets, requests in flight, the writer queue) and waits for all of them; after 15 s the
// rest get SIGKILL. A second SIGTERM/SIGINT kills at once. Exit code 0 only when every worker
// exited with 0. Workers get PR_SET_PDEATHSIG(SIGTERM): if the supervisor itself is killed,
// they drain and exit too.
#include "chirp/app/supervisor.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cerrno>
#include <cstring>
#include <optional>

#include "chirp/app/app.hpp"
#include "chirp/util/limit_tables.hpp"

namespace chirp::app {
namespace {

using clock_type = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr int ready_fd_in_worker = 3;
constexpr int limits_fd_in_worker = 4;
constexpr auto drain_deadline = std::chrono::seconds(15);

long long ms_since(clock_type::time_point t) {
    return std::chrono::duration_cast<milliseconds>(clock_type::now() - t).count();
}

std::string describe_status(int status) {
    if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status))
        return std::string("was killed by signal ") + std::to_string(WTERMSIG(status)) + " (" +
               ::strsignal(WTERMSIG(status)) + ")";
    return "ended";
}

// Binds (without listening, without SO_REUSEPORT) to see that the address is free; returns
// the port (the kernel's choice for port 0) or an error message.
std::optional<int> probe_port(const config& cfg, std::string& error) {
    boost::system::error_code ec;
    const auto addr = boost::asio::ip::make_address(cfg.bind, ec);
    if (ec) return error = "bad bind address", std::nullopt;
    const boost::asio::ip::tcp::endpoint ep(addr, cfg.port);
    const int fd = ::socket(ep.protocol().family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return error = std::string("socket: ") + std::strerror(errno), std::nullopt;
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    std::optional<int> port;
    if (::bind(fd, ep.data(), static_cast<socklen_t>(ep.size())) != 0) {
        error = std::string("bind: ") + std::strerror(errno);
    } else {
        sockaddr_storage ss{};
        socklen_t len = sizeof ss;
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
        port = ss.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port)
                                        : ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
    }
    ::close(fd);
    return port;
}

std::string self_exe(const std::vector<std::string>& argv) {
    char buf[4096];
    const auto n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n > 0) return std::string(buf, static_cast<std::size_t>(n));
    return argv.empty() ? std::string("chirpd") : argv[0];
}

struct worker {
    int index = 0;
    pid_t pid = -1;
    int ready_pipe = -1;  // read end while the worker starts
    bool ever_ready = false;
    clock_type::time_point started{};
    std::optional<clock_type::time_point> crashed_at;  // since when it is being restarted
    std::optional<clock_type::time_point> restart_at;
    restart_backoff backoff;
};

class supervisor {
public:
    supervisor(const config& cfg, std::vector<std::string> argv, int n, int port,
               std::shared_ptr<util::limits_region> limits, int limits_fd)
        : cfg_(cfg),
          argv_(std::move(argv)),
          exe_(self_exe(argv_)),
          n_(n),
          port_(port),
          limits_(std::move(limits)),
          limits_fd_(limits_fd) {
        workers_.resize(static_cast<std::size_t>(n));
        for (int i = 0; i < n; ++i) workers_[static_cast<std::size_t>(i)].index = i;
    }

    int run() {
        sigset_t set;
        sigemptyset(&set);
        for (int s : {SIGCHLD, SIGTERM, SIGINT}) sigaddset(&set, s);
        if (::sigprocmask(SIG_BLOCK, &set, &old_mask_) != 0) return fail("sigprocmask");
        sigfd_ = ::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
        if (sigfd_ < 0) return fail("signalfd");
        spdlog::info("chirpd supervisor (pid {}): {} workers on http://{}:{}", ::getpid(), n_,
                     cfg_.bind, port_);
        for (auto& w : workers_) spawn(w);
        while (!draining_ || live() > 0) {
            poll_once();
            if (draining_ && clock_type::now() >= drain_until_ && !killed_) {
                spdlog::error("{} workers still running {} s after the drain began: SIGKILL",
                              live(), drain_deadline.count());
                kill_all(SIGKILL);
            }
        }
        ::close(sigfd_);
        spdlog::info("chirpd supervisor stopped");
        return exit_code_;
    }

private:
    int fail(const char* what) {
        spdlog::critical("supervisor: {}: {}", what, std::strerror(errno));
        return 1;
    }

    int live() const {
        int n = 0;
        for (const auto& w : workers_) n += w.pid > 0 ? 1 : 0;
        return n;
    }

    void spawn(worker& w) {
        w.restart_at.reset();
        int fds[2];
        if (::pipe2(fds, O_CLOEXEC) != 0) {
            spdlog::error("worker {}: pipe: {}", w.index, std::strerror(errno));
            w.restart_at = clock_type::now() + w.backoff.next(milliseconds(0));
            return;
        }
        auto args =
            worker_argv(exe_, argv_, w.index, n_, ready_fd_in_worker, port_, limits_fd_in_worker);
        std::vector<char*> c_args;
        for (auto& a : args) c_args.push_back(a.data());
        c_args.push_back(nullptr);
        const pid_t parent = ::getpid();
        const pid_t pid = ::fork();
        if (pid == 0) {
            // Only async-signal-safe calls until exec.
            ::prctl(PR_SET_PDEATHSIG, SIGTERM);
            if (::getppid() != parent) ::_exit(126);
            if (fds[1] != ready_fd_in_worker) {
                if (::dup2(fds[1], ready_fd_in_worker) < 0) ::_exit(126);
            } else {
                ::fcntl(ready_fd_in_worker, F_SETFD, 0);
            }
            // The limits' memfd sits at 64 or above, clear of the pipe and of fds 3 and 4.
            if (::dup2(limits_fd_, limits_fd_in_worker) < 0) ::_exit(126);
            ::syscall(SYS_close_range, limits_fd_in_worker + 1U, ~0U, 0U);
            ::sigprocmask(SIG_SETMASK, &old_mask_, nullptr);
            ::execv(c_args[0], c_args.data());
            static const char msg[] = "chirpd supervisor: exec of a worker failed\n";
            [[maybe_unused]] auto r = ::write(2, msg, sizeof msg - 1);
            ::_exit(127);
        }
        ::close(fds[1]);
        if (pid < 0) {
            ::close(fds[0]);
            spdlog::error("worker {}: fork: {}", w.index, std::strerror(errno));
            w.restart_at = clock_type::now() + w.backoff.next(milliseconds(0));
            return;
        }
        w.pid = pid;
        w.ready_pipe = fds[0];
        w.started = clock_type::now();
    }

    void poll_once() {
        std::vector<pollfd> pfds{{sigfd_, POLLIN, 0}};
        std::vector<worker*> owners{nullptr};
        for (auto& w : workers_)
            if (w.ready_pipe >= 0) {
                pfds.push_back({w.ready_pipe, POLLIN, 0});
                owners.push_back(&w);
            }
        auto wake = clock_type::now() + std::chrono::seconds(60);
        if (draining_) wake = std::min(wake, drain_until_);
        for (const auto& w : workers_)
            if (w.restart_at) wake = std::min(wake, *w.restart_at);
        const auto timeout = std::max<long long>(
            0, std::chrono::duration_cast<milliseconds>(wake - clock_type::now()).count() + 1);
        const int r = ::poll(pfds.data(), pfds.size(), static_cast<int>(timeout));
        if (r < 0 && errno != EINTR) {
            spdlog::error("supervisor: poll: {}", std::strerror(errno));
            return;
        }
        for (std::size_t i = 1; i < pfds.size(); ++i)
            if (pfds[i].revents != 0) on_ready_pipe(*owners[i]);
        if (pfds[0].revents & POLLIN) on_signals();
        for (auto& w : workers_)
            if (w.restart_at && clock_type::now() >= *w.restart_at && !draining_) spawn(w);
    }

    void on_ready_pipe(worker& w) {
        char c = 0;
        const auto n = ::read(w.ready_pipe, &c, 1);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
        ::close(w.ready_pipe);
        w.ready_pipe = -1;
        if (n != 1) return;  // it exited before it was ready: SIGCHLD tells
        w.ever_ready = true;
        if (w.crashed_at) {
            spdlog::warn("worker {} (pid {}) restarted: ready {} ms after the previous one exited",
                         w.index, w.pid, ms_since(*w.crashed_at));
            w.crashed_at.reset();
        } else {
            spdlog::info("worker {} (pid {}) ready in {} ms", w.index, w.pid, ms_since(w.started));
        }
    }

    void on_signals() {
        signalfd_siginfo info{};
        while (::read(sigfd_, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
            if (info.ssi_signo == SIGCHLD) {
                reap();
            } else if (!draining_) {
                spdlog::info("signal {}: draining {} workers", info.ssi_signo, live());
                begin_drain();
            } else if (!killed_) {
                spdlog::warn("signal {} again: killing the workers", info.ssi_signo);
                kill_all(SIGKILL);
            }
        }
        reap();  // SIGCHLDs coalesce: reap whatever has exited
    }

    void begin_drain() {
        draining_ = true;
        drain_until_ = clock_type::now() + drain_deadline;
        for (auto& w : workers_) w.restart_at.reset();
        kill_all(SIGTERM);
    }

    void kill_all(int sig) {
        if (sig == SIGKILL) killed_ = true;
        for (const auto& w : workers_)
            if (w.pid > 0) ::kill(w.pid, sig);
    }

    void reap() {
        for (;;) {
            int status = 0;
            const pid_t pid = ::waitpid(-1, &status, WNOHANG);
            if (pid <= 0) return;
            for (auto& w : workers_)
                if (w.pid == pid) on_exit(w, status);
        }
    }

    void on_exit(worker& w, int status) {
        const auto uptime = std::chrono::duration_cast<milliseconds>(clock_type::now() - w.started);
        const pid_t pid = w.pid;
        w.pid = -1;
        if (w.ready_pipe >= 0) {
            ::close(w.ready_pipe);
            w.ready_pipe = -1;
        }
        // Its sessions are gone with it: forget them in the shared session counts.
        if (const auto n = limits_->clear_sessions_of(static_cast<std::uint32_t>(w.index)); n > 0)
            spdlog::info("worker {}: {} sessions of it no longer count toward the per-user cap",
                         w.index, n);
        const bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
        if (draining_) {
            if (clean) {
                spdlog::info("worker {} (pid {}) {} ({} still running)", w.index, pid,
                             describe_status(status), live());
            } else {
                exit_code_ = 1;
                spdlog::warn("worker {} (pid {}) {} ({} still running)", w.index, pid,
                             describe_status(status), live());
            }
            return;
        }
        if (!w.ever_ready) {
            // The first start failed (its log says why): fail like a single process would.
            spdlog::critical("worker {} (pid {}) {} before it was ready: stopping", w.index, pid,
                             describe_status(status));
            exit_code_ = 1;
            begin_drain();
            return;
        }
        const auto delay = w.backoff.next(uptime);
        if (!w.crashed_at) w.crashed_at = clock_type::now();
        w.restart_at = clock_type::now() + delay;
        spdlog::error("worker {} (pid {}) {} after {:.1f} s; restarting it in {} ms ({} in a row)",
                      w.index, pid, describe_status(status), uptime.count() / 1000.0, delay.count(),
                      w.backoff.consecutive());
    }

    const config& cfg_;
    std::vector<std::string> argv_;
    std::string exe_;
    int n_, port_;
    std::vector<worker> workers_;
    std::shared_ptr<util::limits_region> limits_;
    int limits_fd_;  // a close-on-exec duplicate >= 64 of the region's memfd
    sigset_t old_mask_{};
    int sigfd_ = -1;
    bool draining_ = false, killed_ = false;
    clock_type::time_point drain_until_{};
    int exit_code_ = 0;
};

}  // namespace

int supervise(const config& cfg, const std::vector<std::string>& argv) {
    const int n = resolve_workers(cfg.workers, available_cpus());
    if (!migrate_with_retry(cfg.database_url)) return 1;
    std::string error;
    const auto port = probe_port(cfg, error);
    if (!port) {
        spdlog::critical("cannot listen on {}:{}: {}", cfg.bind, cfg.port, error);
        return 1;
    }
    std::shared_ptr<util::limits_region> limits;
    try {
        limits = util::limits_region::create_shared({.workers = static_cast<std::uint32_t>(n)});
    } catch (const std::exception& e) {
        spdlog::critical("cannot create the shared limits: {}", e.what());
        return 1;
    }
    const int limits_fd = ::fcntl(limits->fd(), F_DUPFD_CLOEXEC, 64);
    if (limits_fd < 0) {
        spdlog::critical("cannot create the shared limits: fcntl: {}", std::strerror(errno));
        return 1;
    }
    supervisor s(cfg, argv, n, *port, limits, limits_fd);
    const int rc = s.run();
    ::close(limits_fd);
    return rc;
}

}  // namespace chirp::app
