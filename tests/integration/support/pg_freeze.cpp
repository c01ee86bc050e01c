// postgres_freeze: see pg_freeze.hpp.
#include "support/pg_freeze.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <pqxx/pqxx>
#include <sstream>
#include <stdexcept>
#include <string>

#include "support/env.hpp"

namespace chirp::test {

pid_t parent_of(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string stat;
    std::getline(in, stat);
    // pid (comm) state ppid ...: comm may hold spaces and parentheses, so parse after the last ')'.
    const auto close = stat.rfind(')');
    if (close == std::string::npos) return -1;
    std::istringstream rest(stat.substr(close + 1));
    std::string state;
    pid_t ppid = -1;
    rest >> state >> ppid;
    return ppid;
}

postgres_freeze::postgres_freeze(std::chrono::seconds at_most) {
    pid_t backend = -1;
    {
        pqxx::connection conn(env().admin_url);
        pqxx::nontransaction tx(conn);
        backend = tx.exec("SELECT pg_backend_pid()")[0][0].as<int>();
    }
    const pid_t postmaster = parent_of(backend);
    if (postmaster <= 1) throw std::runtime_error("cannot find the postmaster");
    if (::kill(postmaster, SIGSTOP) != 0) throw std::runtime_error("cannot SIGSTOP the postmaster");
    stopped_.push_back(postmaster);
    for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
        const auto name = entry.path().filename().string();
        if (name.empty() || !std::all_of(name.begin(), name.end(), ::isdigit)) continue;
        const pid_t pid = std::stoi(name);
        if (parent_of(pid) == postmaster && ::kill(pid, SIGSTOP) == 0) stopped_.push_back(pid);
    }
    // The guard: thaws after at_most whatever happens to this process (only kill/nanosleep/
    // _exit in the child of a threaded process).
    const auto pids_copy = stopped_;
    guard_ = ::fork();
    if (guard_ == 0) {
        timespec t{static_cast<time_t>(at_most.count()), 0};
        while (::nanosleep(&t, &t) != 0) {
        }
        for (pid_t p : pids_copy) ::kill(p, SIGCONT);
        ::_exit(0);
    }
}

postgres_freeze::~postgres_freeze() {
    thaw();
}

void postgres_freeze::thaw() {
    // Children first, the postmaster last (it would start new children at once).
    for (auto it = stopped_.rbegin(); it != stopped_.rend(); ++it) ::kill(*it, SIGCONT);
    stopped_.clear();
    if (guard_ > 0) {
        ::kill(guard_, SIGKILL);
        ::waitpid(guard_, nullptr, 0);
        guard_ = -1;
    }
}

}  // namespace chirp::test
