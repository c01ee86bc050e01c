// A redis-server for one fault test: see fault_redis.hpp.
#include "support/fault_redis.hpp"

#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <thread>

#include "support/env.hpp"
#include "support/process.hpp"

namespace chirp::test {

fault_redis::fault_redis(std::vector<std::string> extra_args) {
    for (std::size_t i = 0; i + 1 < extra_args.size(); ++i)
        if (extra_args[i] == "--requirepass") password_ = extra_args[i + 1];
    dir_ = env().tmpdir + "/fault-redis-" + std::to_string(::getpid()) + "-" + random_token(6);
    std::filesystem::create_directories(dir_);
    port_ = free_port();
    std::vector<std::string> args = {
        "redis-server", "--bind",    "127.0.0.1",        "--port", std::to_string(port_),
        "--dir",        dir_,        "--save",           "",       "--appendonly",
        "no",           "--logfile", dir_ + "/redis.log"};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork: " + std::string(std::strerror(errno)));
    if (pid_ == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) ::_exit(126);
        const int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null >= 0) {
            ::dup2(null, 0);
            ::dup2(null, 1);
            ::dup2(null, 2);
        }
        ::setpgid(0, 0);
        ::execvp(argv[0], argv.data());
        ::_exit(127);
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
        try {
            if (command({"PING"}) == "PONG") return;
        } catch (const std::exception&) {
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    throw std::runtime_error("the fault test's redis-server did not start");
}

fault_redis::~fault_redis() {
    if (pid_ > 0) {
        ::kill(pid_, SIGKILL);  // also when stopped
        int status = 0;
        while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
        }
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
}

void fault_redis::pause() {
    ::kill(pid_, SIGSTOP);
}

void fault_redis::resume() {
    ::kill(pid_, SIGCONT);
}

std::string fault_redis::command(const std::vector<std::string>& argv) {
    timeval tv{2, 0};
    redisContext* c = redisConnectWithTimeout("127.0.0.1", port_, tv);
    if (c == nullptr || c->err) {
        const std::string err = c != nullptr ? c->errstr : "out of memory";
        if (c != nullptr) redisFree(c);
        throw std::runtime_error("redis: " + err);
    }
    redisSetTimeout(c, tv);
    if (!password_.empty()) {
        auto* a = static_cast<redisReply*>(redisCommand(c, "AUTH %s", password_.c_str()));
        if (a != nullptr) freeReplyObject(a);
    }
    std::vector<const char*> ptrs;
    std::vector<size_t> lens;
    for (const auto& a : argv) {
        ptrs.push_back(a.data());
        lens.push_back(a.size());
    }
    auto* r = static_cast<redisReply*>(
        redisCommandArgv(c, static_cast<int>(argv.size()), ptrs.data(), lens.data()));
    if (r == nullptr) {
        const std::string err = c->errstr;
        redisFree(c);
        throw std::runtime_error("redis command failed: " + err);
    }
    std::string out;
    if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS ||
        r->type == REDIS_REPLY_ERROR)
        out.assign(r->str, r->len);
    else if (r->type == REDIS_REPLY_INTEGER)
        out = std::to_string(r->integer);
    else if (r->type == REDIS_REPLY_ARRAY)
        for (std::size_t i = 0; i < r->elements; ++i) {
            if (i > 0) out += '\n';
            if (r->element[i]->str != nullptr) out.append(r->element[i]->str, r->element[i]->len);
        }
    const bool error = r->type == REDIS_REPLY_ERROR;
    freeReplyObject(r);
    redisFree(c);
    if (error) throw std::runtime_error("redis error: " + out);
    return out;
}

}  // namespace chirp::test
