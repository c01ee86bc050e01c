// fork/exec of chirpd and of one-shot commands. The child gets PR_SET_PDEATHSIG so that a
// crashed test binary never leaves a server behind, and an environment without the CHIRP_*
// settings of whoever runs the tests (so only our flags configure it).
#include "support/process.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "support/env.hpp"
#include "support/http_client.hpp"

extern char** environ;

namespace chirp::test {

std::uint16_t free_port() {
    // Never hand out the same port twice in this process: a port is free again as soon as
    // the probing socket closes, and two servers started together must not both get it.
    static std::mutex mu;
    static std::set<std::uint16_t> handed_out;
    std::lock_guard lk(mu);
    std::vector<int> held;
    std::uint16_t port = 0;
    for (int attempt = 0; attempt < 64 && port == 0; ++attempt) {
        const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) break;
        held.push_back(fd);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        addr.sin_port = 0;
        socklen_t len = sizeof addr;
        if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
            ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
            break;
        const auto p = ntohs(addr.sin_port);
        if (handed_out.insert(p).second) port = p;
    }
    for (int fd : held) ::close(fd);
    if (port == 0) throw std::runtime_error("no free port: " + std::string(std::strerror(errno)));
    return port;
}

bool listens_on(pid_t pid, std::uint16_t port) {
    // Inodes of the sockets listening on the port (state 0A) ...
    std::set<std::string> inodes;
    for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
        std::ifstream in(table);
        std::string line;
        std::getline(in, line);  // header
        while (std::getline(in, line)) {
            std::istringstream fields(line);
            std::string sl, local, remote, state, queues, timer, retr, uid, timeout, inode;
            fields >> sl >> local >> remote >> state >> queues >> timer >> retr >> uid >> timeout >>
                inode;
            const auto colon = local.rfind(':');
            if (state != "0A" || colon == std::string::npos) continue;
            if (std::stoul(local.substr(colon + 1), nullptr, 16) == port) inodes.insert(inode);
        }
    }
    if (inodes.empty()) return false;
    // ... and whether one of them is an open descriptor of the process.
    const std::string dir = "/proc/" + std::to_string(pid) + "/fd";
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
        const auto target = std::filesystem::read_symlink(entry.path(), ec);
        if (ec) continue;
        const auto t = target.string();
        if (t.rfind("socket:[", 0) == 0 && inodes.count(t.substr(8, t.size() - 9))) return true;
    }
    return false;
}

std::vector<pid_t> child_pids(pid_t pid) {
    std::vector<pid_t> out;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
        const auto name = entry.path().filename().string();
        if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
        std::ifstream in(entry.path() / "stat");
        std::string stat;
        if (!std::getline(in, stat)) continue;
        // "pid (comm) state ppid ...": the command may hold spaces and parentheses.
        const auto close = stat.rfind(')');
        if (close == std::string::npos) continue;
        std::istringstream rest(stat.substr(close + 1));
        std::string state;
        long ppid = 0;
        if (rest >> state >> ppid && ppid == pid) out.push_back(std::stoi(name));
    }
    return out;
}

namespace {

// Environment for children: ours minus CHIRP_* (CHIRP_TEST_* stays, chirpd ignores it).
std::vector<std::string> child_environment() {
    std::vector<std::string> out;
    for (char** e = environ; *e != nullptr; ++e) {
        const std::string_view v(*e);
        if (v.rfind("CHIRP_", 0) == 0 && v.rfind("CHIRP_TEST_", 0) != 0) continue;
        out.emplace_back(v);
    }
    return out;
}

std::vector<char*> c_strings(std::vector<std::string>& v) {
    std::vector<char*> out;
    for (auto& s : v) out.push_back(s.data());
    out.push_back(nullptr);
    return out;
}

// Forks and execs argv with stdout and stderr appended to `log`. Only async-signal-safe
// calls happen between fork and exec.
pid_t spawn_here(std::vector<std::string> argv, const std::string& log,
                 const std::vector<std::string>& extra_env) {
    auto envv = child_environment();
    for (const auto& e : extra_env) {  // replaces an inherited variable of the same name
        const auto name = e.substr(0, e.find('=') + 1);
        std::erase_if(envv, [&](const std::string& v) { return v.rfind(name, 0) == 0; });
        envv.push_back(e);
    }
    auto c_argv = c_strings(argv);
    auto c_env = c_strings(envv);
    const pid_t parent = ::getpid();
    const long max_fd = std::min(::sysconf(_SC_OPEN_MAX), 1L << 16);
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork(): " + std::string(std::strerror(errno)));
    if (pid == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) ::_exit(126);
        const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        const int in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (out < 0 || in < 0) ::_exit(126);
        ::dup2(in, 0);
        ::dup2(out, 1);
        ::dup2(out, 2);
        // Nothing else of ours leaks into the child: sockets that other threads hold right
        // now (a probed port, a client connection) would otherwise stay open in chirpd.
        if (::syscall(SYS_close_range, 3U, ~0U, 0U) != 0)
            for (long fd = 3; fd < max_fd; ++fd) ::close(static_cast<int>(fd));
        ::setpgid(0, 0);  // its own process group: a Ctrl-C of the test run is ours to handle
        ::execve(c_argv[0], c_argv.data(), c_env.data());
        static const char msg[] = "exec failed\n";
        [[maybe_unused]] auto n = ::write(2, msg, sizeof msg - 1);
        ::_exit(127);
    }
    return pid;
}

// PR_SET_PDEATHSIG fires when the *thread* that forked exits, not the process: so every
// fork happens on one thread that lives as long as the test binary.
class spawner {
public:
    pid_t spawn(std::vector<std::string> argv, const std::string& log,
                const std::vector<std::string>& extra_env) {
        std::packaged_task<pid_t()> task([&] { return spawn_here(argv, log, extra_env); });
        auto result = task.get_future();
        {
            std::lock_guard lk(mu_);
            jobs_.push_back(std::move(task));
        }
        cv_.notify_one();
        return result.get();
    }

    static spawner& instance() {
        static spawner* s = new spawner;  // never destroyed: its thread runs until exit
        return *s;
    }

private:
    spawner() {
        std::thread([this] {
            for (;;) {
                std::packaged_task<pid_t()> job;
                {
                    std::unique_lock lk(mu_);
                    cv_.wait(lk, [&] { return !jobs_.empty(); });
                    job = std::move(jobs_.front());
                    jobs_.pop_front();
                }
                job();
            }
        }).detach();
    }

    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<std::packaged_task<pid_t()>> jobs_;
};

pid_t spawn(std::vector<std::string> argv, const std::string& log,
            const std::vector<std::string>& extra_env = {}) {
    return spawner::instance().spawn(std::move(argv), log, extra_env);
}

int decode_status(int status) {
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return -1;
}

// Waits for pid up to the timeout; -2 when it is still running.
int wait_for(pid_t pid, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        int status = 0;
        const pid_t r = ::waitpid(pid, &status, WNOHANG);
        if (r == pid) return decode_status(status);
        if (r < 0 && errno != EINTR) return -1;
        if (std::chrono::steady_clock::now() >= deadline) return -2;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

std::string read_file(const std::string& path, std::size_t from = 0) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return {};
    in.seekg(static_cast<std::streamoff>(from));
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string temp_path(const std::string& stem) {
    return env().tmpdir + "/" + stem + "-" + std::to_string(::getpid()) + "-" + random_token(6) +
           ".log";
}

}  // namespace

command_result run_command(const std::vector<std::string>& argv, std::chrono::seconds timeout,
                           const std::vector<std::string>& extra_env) {
    const auto path = temp_path("cmd");
    const pid_t pid = spawn(argv, path, extra_env);
    command_result r;
    r.exit_code = wait_for(pid, timeout);
    if (r.exit_code == -2) {
        ::kill(pid, SIGKILL);
        r.exit_code = wait_for(pid, std::chrono::seconds(10));
        r.output = "(killed after the timeout)\n";
    }
    r.output += read_file(path);
    ::unlink(path.c_str());
    return r;
}

chirpd_process::chirpd_process(options opts) : opts_(std::move(opts)) {
    if (opts_.redis_url.empty()) opts_.redis_url = env().redis_url;
}

chirpd_process::~chirpd_process() {
    stop();
    if (!log_path_.empty() && !env().keep_logs) ::unlink(log_path_.c_str());
}

void chirpd_process::start() {
    if (pid_ > 0) throw std::logic_error("chirpd already started");
    if (log_path_.empty()) log_path_ = temp_path(opts_.name);
    std::string last_error;
    for (int attempt = 0; attempt < 3; ++attempt) {
        port_ = free_port();
        std::vector<std::string> argv = {env().chirpd, "--dev", "--bind", "127.0.0.1", "--port",
                                         std::to_string(port_), "--database-url",
                                         opts_.database_url, "--redis-url", opts_.redis_url,
                                         "--fast-password-hash", "--log-level", "warn",
                                         // The abuse limits are off for test servers (they
                                         // register and write from one address and user at
                                         // full speed); limits_test.cpp switches them on.
                                         "--write-rate-limit", "0", "--register-rate-limit", "0",
                                         // One process (no supervisor) unless a test asks
                                         // for workers (workers_test.cpp).
                                         "--workers", "1"};
        argv.insert(argv.end(), opts_.extra_args.begin(), opts_.extra_args.end());
        const auto log_start = log_size();
        pid_ = spawn(argv, log_path_, opts_.extra_env);
        exit_code_ = -1;
        stopped_ = false;
        http_client probe(port_, false, std::chrono::seconds(5));
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
        while (std::chrono::steady_clock::now() < deadline) {
            const int rc = wait_for(pid_, std::chrono::milliseconds(0));
            if (rc != -2) {
                pid_ = -1;
                exit_code_ = rc;
                break;
            }
            try {
                // The answer must come from our process, not from whoever else took the port.
                if (probe.get("/healthz").status == 200) {
                    if (listens_on(pid_, port_)) return;
                    for (const pid_t child : child_pids(pid_))  // a supervisor's workers
                        if (listens_on(child, port_)) return;
                    // Ours will exit with "address in use": then another port is tried.
                    last_error =
                        "port " + std::to_string(port_) + " is answered by another process";
                }
            } catch (const std::exception& e) {
                last_error = e.what();
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        const auto log_text = log(log_start);
        if (pid_ > 0) {
            stop();
            throw std::runtime_error("chirpd did not answer /healthz on port " +
                                     std::to_string(port_) + " (" + last_error + "); its log:\n" +
                                     log_text);
        }
        // Lost a race for the port: try another one.
        if (log_text.find("cannot listen") != std::string::npos ||
            log_text.find("in use") != std::string::npos)
            continue;
        throw std::runtime_error("chirpd exited with code " + std::to_string(exit_code_) +
                                 " during start; its log:\n" + log_text);
    }
    throw std::runtime_error("chirpd could not get a free port: " + log());
}

int chirpd_process::stop() {
    if (pid_ <= 0) return exit_code_;
    stopped_ = true;
    ::kill(pid_, SIGTERM);
    int rc = wait_for(pid_, std::chrono::seconds(30));
    if (rc == -2) {
        ::kill(pid_, SIGKILL);
        rc = wait_for(pid_, std::chrono::seconds(10));
        if (rc >= 0) rc = 128 + SIGKILL;
    }
    pid_ = -1;
    exit_code_ = rc;
    return rc;
}

bool chirpd_process::running() {
    if (pid_ <= 0) return false;
    const int rc = wait_for(pid_, std::chrono::milliseconds(0));
    if (rc == -2) return true;
    pid_ = -1;
    exit_code_ = rc;
    return false;
}

std::size_t chirpd_process::log_size() const {
    struct stat st {};
    if (log_path_.empty() || ::stat(log_path_.c_str(), &st) != 0) return 0;
    return static_cast<std::size_t>(st.st_size);
}

std::string chirpd_process::log(std::size_t from) const {
    return log_path_.empty() ? std::string() : read_file(log_path_, from);
}

}  // namespace chirp::test
