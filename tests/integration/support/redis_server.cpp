// The test binary's private redis-server: see redis_server.hpp.
#include "support/redis_server.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "support/env.hpp"
#include "support/process.hpp"

namespace chirp::test {

namespace {

// The redis-server binary: the first word of CHIRP_TEST_REDIS_CMD (the command scripts/test.sh
// uses), else redis-server; looked up in PATH when it is not absolute.
std::string find_redis_binary() {
    std::string name = "redis-server";
    if (const char* cmd = std::getenv("CHIRP_TEST_REDIS_CMD"); cmd != nullptr && *cmd != '\0') {
        std::istringstream in(cmd);
        std::string first;
        in >> first;
        if (first.find("redis-server") != std::string::npos) name = first;
    }
    if (name.find('/') != std::string::npos) return name;
    const char* path = std::getenv("PATH");
    std::istringstream dirs(path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin");
    std::string dir;
    while (std::getline(dirs, dir, ':')) {
        const auto candidate = dir + "/" + name;
        if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    }
    throw std::runtime_error(
        "redis-server not found in PATH: the real-time tests start their own redis-server");
}

std::string read_text(const std::string& path) {
    std::ifstream in(path);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

}  // namespace

redis_server::redis_server(std::vector<std::string> extra_args)
    : binary_(find_redis_binary()), extra_args_(std::move(extra_args)) {
    for (std::size_t i = 0; i + 1 < extra_args_.size(); ++i)
        if (extra_args_[i] == "--requirepass") password_ = extra_args_[i + 1];
    dir_ = env().tmpdir + "/rt-redis-" + std::to_string(::getpid()) + "-" + random_token(6);
    std::filesystem::create_directories(dir_);
    port_ = free_port();
    start();
}

redis_server::~redis_server() {
    try {
        kill();
    } catch (const std::exception& e) {
        std::cerr << "warning: stopping the test redis-server: " << e.what() << "\n";
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
}

void redis_server::start() {
    if (pid_ > 0) throw std::logic_error("redis-server already running");
    std::vector<std::string> args = {
        binary_, "--bind",    "127.0.0.1",        "--port", std::to_string(port_),
        "--dir", dir_,        "--save",           "",       "--appendonly",
        "no",    "--logfile", dir_ + "/redis.log"};
    args.insert(args.end(), extra_args_.begin(), extra_args_.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork: " + std::string(std::strerror(errno)));
    if (pid == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) ::_exit(126);
        const int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null >= 0) {
            ::dup2(null, 0);
            ::dup2(null, 1);
            ::dup2(null, 2);
        }
        ::setpgid(0, 0);
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }
    pid_ = pid;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
        if (ping()) return;
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            throw std::runtime_error("redis-server exited at start; its log:\n" + log());
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    throw std::runtime_error("redis-server on port " + std::to_string(port_) +
                             " did not answer PING; its log:\n" + log());
}

void redis_server::kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
}

void redis_server::pause() {
    if (pid_ > 0) ::kill(pid_, SIGSTOP);
}

void redis_server::resume() {
    if (pid_ > 0) ::kill(pid_, SIGCONT);
}

bool redis_server::ping() {
    try {
        return command({"PING"}) == "PONG";
    } catch (const std::exception&) {
        return false;
    }
}

std::string redis_server::command(const std::vector<std::string>& argv) {
    timeval tv{2, 0};
    redisContext* c = redisConnectWithTimeout("127.0.0.1", port_, tv);
    if (c == nullptr || c->err) {
        const std::string err = c != nullptr ? c->errstr : "out of memory";
        if (c != nullptr) redisFree(c);
        throw std::runtime_error("redis 127.0.0.1:" + std::to_string(port_) + ": " + err);
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

std::string redis_server::log() const {
    return read_text(dir_ + "/redis.log");
}

namespace {

struct redis_holder : ::testing::Environment {
    std::unique_ptr<redis_server> server;
    void TearDown() override { server.reset(); }
};

redis_holder* holder() {
    static redis_holder* h = [] {
        auto* env = new redis_holder;
        ::testing::AddGlobalTestEnvironment(env);  // gtest owns it
        return env;
    }();
    return h;
}

// Registered before main, so that the server is stopped when the tests end.
[[maybe_unused]] redis_holder* const registered_holder = holder();

}  // namespace

redis_server& binary_redis() {
    auto* h = holder();
    if (!h->server) h->server = std::make_unique<redis_server>();
    return *h->server;
}

}  // namespace chirp::test
