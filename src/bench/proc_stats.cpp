// /proc readers for chirp-bench: see proc_stats.hpp.
#include "proc_stats.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

namespace chirp::bench {

namespace {

// Socket inodes listening on `port`, from /proc/net/tcp and tcp6 (state 0A = LISTEN).
std::vector<std::string> listening_inodes(int port) {
    std::vector<std::string> inodes;
    for (const char* file : {"/proc/net/tcp", "/proc/net/tcp6"}) {
        std::ifstream in(file);
        std::string line;
        std::getline(in, line);  // header
        while (std::getline(in, line)) {
            std::istringstream ls(line);
            std::string sl, local, remote, state, txrx, trtm, retr, uid, timeout, inode;
            ls >> sl >> local >> remote >> state >> txrx >> trtm >> retr >> uid >> timeout >> inode;
            if (state != "0A") continue;
            auto colon = local.rfind(':');
            if (colon == std::string::npos) continue;
            if (std::stoi(local.substr(colon + 1), nullptr, 16) == port) inodes.push_back(inode);
        }
    }
    return inodes;
}

}  // namespace

std::optional<int> find_pid_by_port(int port) {
    const auto inodes = listening_inodes(port);
    if (inodes.empty()) return std::nullopt;
    namespace fs = std::filesystem;
    std::error_code ec;
    for (const auto& proc : fs::directory_iterator("/proc", ec)) {
        const auto name = proc.path().filename().string();
        if (name.empty() || !std::all_of(name.begin(), name.end(), ::isdigit)) continue;
        std::error_code fec;
        for (const auto& fd : fs::directory_iterator(proc.path() / "fd", fec)) {
            std::error_code lec;
            const auto target = fs::read_symlink(fd.path(), lec).string();
            if (lec || target.rfind("socket:[", 0) != 0) continue;
            const auto inode = target.substr(8, target.size() - 9);
            if (std::find(inodes.begin(), inodes.end(), inode) != inodes.end())
                return std::stoi(name);
        }
    }
    return std::nullopt;
}

namespace {

std::optional<proc_sample> sample_one(int pid) {
    proc_sample s;
    {
        std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
        std::string content;
        if (!std::getline(in, content)) return std::nullopt;
        // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
        auto close = content.rfind(')');
        if (close == std::string::npos) return std::nullopt;
        std::istringstream fs(content.substr(close + 2));
        std::vector<std::string> f;
        std::string tok;
        while (fs >> tok) f.push_back(tok);
        if (f.size() < 18) return std::nullopt;
        const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
        s.cpu_seconds = (std::stod(f[11]) + std::stod(f[12])) / ticks;  // fields 14, 15
        s.threads = std::stoi(f[17]);                                   // field 20
    }
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind("VmRSS:", 0) == 0) {
            s.rss_bytes = std::stoull(line.substr(6)) * 1024;  // "VmRSS:   1234 kB"
            break;
        }
    }
    return s;
}

// The pids of the process's children (the workers of a `chirpd --workers N` supervisor).
std::vector<int> children_of(int pid) {
    std::vector<int> out;
    const std::string dir = "/proc/" + std::to_string(pid) + "/task/";
    std::error_code ec;
    for (const auto& task : std::filesystem::directory_iterator(dir, ec)) {
        std::ifstream in(task.path() / "children");
        for (int child = 0; in >> child;) out.push_back(child);
    }
    return out;
}

}  // namespace

std::optional<proc_sample> sample_process(int pid) {
    auto s = sample_one(pid);
    if (!s) return s;
    for (const int child : children_of(pid))
        if (const auto c = sample_one(child)) {
            s->rss_bytes += c->rss_bytes;
            s->cpu_seconds += c->cpu_seconds;
            s->threads += c->threads;
        }
    return s;
}

std::uint64_t raise_fd_limit(std::uint64_t wanted) {
    rlimit lim{};
    getrlimit(RLIMIT_NOFILE, &lim);
    if (lim.rlim_cur >= wanted) return lim.rlim_cur;
    rlimit want = lim;
    want.rlim_cur = wanted;
    if (want.rlim_max < wanted) want.rlim_max = wanted;  // works as root (CAP_SYS_RESOURCE)
    if (setrlimit(RLIMIT_NOFILE, &want) != 0) {
        want.rlim_cur = lim.rlim_max;
        want.rlim_max = lim.rlim_max;
        setrlimit(RLIMIT_NOFILE, &want);
    }
    getrlimit(RLIMIT_NOFILE, &lim);
    return lim.rlim_cur;
}

std::uint64_t self_rss_bytes() {
    auto s = sample_process(static_cast<int>(getpid()));
    return s ? s->rss_bytes : 0;
}

}  // namespace chirp::bench
