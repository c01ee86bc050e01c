// Real-time test support: see rt_support.hpp.
#include "support/rt_support.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "support/env.hpp"

using json = nlohmann::json;

namespace chirp::test {

// ------------------------------------------------------------------------------ redis_server

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

redis_server::redis_server() : binary_(find_redis_binary()) {
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

// ------------------------------------------------------------------------------ sse_client

sse_client::sse_client(std::uint16_t port, const std::string& target, const std::string& token,
                       const header_list& headers) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw std::runtime_error("socket: " + std::string(std::strerror(errno)));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
        throw std::runtime_error("SSE connect: " + std::string(std::strerror(errno)));
    std::string req = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                      "\r\nAccept: text/event-stream\r\n";
    if (!token.empty()) req += "Authorization: Bearer " + token + "\r\n";
    for (const auto& [k, v] : headers) req += k + ": " + v + "\r\n";
    req += "\r\n";
    for (std::size_t off = 0; off < req.size();) {
        const auto n = ::send(fd_, req.data() + off, req.size() - off, MSG_NOSIGNAL);
        if (n <= 0) throw std::runtime_error("SSE send: " + std::string(std::strerror(errno)));
        off += static_cast<std::size_t>(n);
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    std::size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos)
        if (!fill(deadline)) throw std::runtime_error("SSE: no response header; got: " + buf_);
    std::istringstream head(buf_.substr(0, end));
    std::string line;
    std::getline(head, line);
    if (line.size() < 12) throw std::runtime_error("SSE: bad status line: " + line);
    status_ = static_cast<unsigned>(std::atoi(line.c_str() + 9));
    while (std::getline(head, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        const auto colon = line.find(':');
        if (colon == std::string::npos) continue;
        auto v = line.substr(colon + 1);
        while (!v.empty() && v.front() == ' ') v.erase(0, 1);
        headers_.emplace_back(line.substr(0, colon), v);
    }
    buf_.erase(0, end + 4);
    if (status_ != 200) {
        while (fill(deadline)) {
        }
        error_body_ = buf_;
    }
}

sse_client::~sse_client() {
    if (fd_ >= 0) ::close(fd_);
}

std::string sse_client::header(const std::string& name) const {
    for (const auto& [k, v] : headers_)
        if (::strcasecmp(k.c_str(), name.c_str()) == 0) return v;
    return {};
}

bool sse_client::fill(std::chrono::steady_clock::time_point deadline) {
    if (eof_) return false;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    const int r = ::poll(&p, 1, static_cast<int>(left.count()));
    if (r <= 0) return false;
    char tmp[16384];
    const auto n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n <= 0) {
        eof_ = true;
        return false;
    }
    buf_.append(tmp, static_cast<std::size_t>(n));
    return true;
}

std::optional<sse_event> sse_client::next(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        const auto end = buf_.find("\n\n");
        if (end == std::string::npos) {
            if (!fill(deadline)) return std::nullopt;
            continue;
        }
        const auto block = buf_.substr(0, end);
        buf_.erase(0, end + 2);
        sse_event ev;
        bool any = false;
        std::istringstream in(block);
        std::string line;
        while (std::getline(in, line)) {
            if (line.empty() || line[0] == ':') continue;
            const auto colon = line.find(':');
            const auto field = line.substr(0, colon);
            std::string value = colon == std::string::npos ? "" : line.substr(colon + 1);
            if (!value.empty() && value[0] == ' ') value.erase(0, 1);
            if (field == "id")
                ev.id = value;
            else if (field == "event")
                ev.event = value;
            else if (field == "data")
                ev.data += ev.data.empty() ? value : "\n" + value;
            else
                continue;
            any = true;
        }
        if (any) return ev;
    }
}

std::vector<sse_event> sse_client::until_id(const std::string& id,
                                            std::chrono::milliseconds timeout) {
    std::vector<sse_event> out;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        auto ev = next(left.count() > 0 ? left : std::chrono::milliseconds(0));
        if (!ev) {
            std::string got;
            for (const auto& e : out) got += " " + e.id;
            throw std::runtime_error("SSE: no event with id " + id + " in time; got ids:" + got +
                                     (eof_ ? " (stream ended)" : ""));
        }
        out.push_back(std::move(*ev));
        if (out.back().id == id) return out;
    }
}

std::vector<sse_event> sse_client::drain(std::chrono::milliseconds quiet) {
    std::vector<sse_event> out;
    while (auto ev = next(quiet)) out.push_back(std::move(*ev));
    return out;
}

bool sse_client::wait_eof(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (fill(deadline)) buf_.clear();
    return eof_;
}

// ------------------------------------------------------------------------------ REST

namespace {

http_response expect_status(const http_response& r, unsigned status, const std::string& what) {
    if (r.status != status)
        throw std::runtime_error(what + ": expected " + std::to_string(status) + ", got " +
                                 r.describe());
    return r;
}

}  // namespace

void follow(http_client& c, const test_user& who, const test_user& whom) {
    expect_status(c.post_empty("/api/users/" + whom.handle + "/follow", who.token), 200,
                  who.handle + " follows " + whom.handle);
}

void unfollow(http_client& c, const test_user& who, const test_user& whom) {
    expect_status(c.del("/api/users/" + whom.handle + "/follow", who.token), 200,
                  who.handle + " unfollows " + whom.handle);
}

void like(http_client& c, const test_user& who, const std::string& tweet_id) {
    expect_status(c.post_empty("/api/tweets/" + tweet_id + "/like", who.token), 200, "like");
}

std::string retweet(http_client& c, const test_user& who, const std::string& tweet_id) {
    return expect_status(c.post_empty("/api/tweets/" + tweet_id + "/retweet", who.token), 201,
                         "retweet")
        .json()
        .at("id")
        .get<std::string>();
}

void delete_tweet(http_client& c, const test_user& who, const std::string& tweet_id) {
    expect_status(c.del("/api/tweets/" + tweet_id, who.token), 200, "delete tweet");
}

std::string create_conversation(http_client& c, const test_user& who,
                                const std::vector<test_user>& others) {
    json handles = json::array();
    for (const auto& o : others) handles.push_back(o.handle);
    const auto r = c.post("/api/conversations", json{{"participants", handles}}, who.token);
    if (r.status != 201 && r.status != 200)
        throw std::runtime_error("create conversation: " + r.describe());
    return r.json().at("id").get<std::string>();
}

json send_message(http_client& c, const test_user& who, const std::string& conversation,
                  const std::string& content) {
    return expect_status(c.post("/api/conversations/" + conversation + "/messages",
                                json{{"content", content}}, who.token),
                         201, "send message")
        .json();
}

std::vector<std::string> timeline_ids(http_client& c, const test_user& who, int limit) {
    std::vector<std::string> ids;
    std::string before;
    for (int page = 0; page < 1000; ++page) {
        std::string target = "/api/timeline?limit=" + std::to_string(limit);
        if (!before.empty()) target += "&before=" + before;
        const auto j = expect_status(c.get(target, who.token), 200, "timeline").json();
        for (const auto& t : j.at("items")) ids.push_back(t.at("id").get<std::string>());
        if (!j.contains("nextCursor") || j["nextCursor"].is_null()) return ids;
        before = j["nextCursor"].get<std::string>();
    }
    throw std::runtime_error("timeline: too many pages");
}

std::vector<std::string> tweet_ids_of(const std::vector<json>& frames) {
    std::vector<std::string> out;
    for (const auto& f : frames) {
        if (f.value("type", "") != "event") continue;
        const auto& ev = f.at("event");
        if (ev.value("type", "") != "TweetCreated") continue;
        out.push_back(ev.at("payload").at("tweet").at("id").get<std::string>());
    }
    return out;
}

// ------------------------------------------------------------------------------ rt_server

rt_server::rt_server(std::vector<std::string> extra_args, std::string redis_url)
    : db_(std::make_unique<fresh_database>()), api_(0) {
    chirpd_process::options o;
    o.database_url = db_->url();
    o.redis_url = redis_url.empty() ? binary_redis().url() : std::move(redis_url);
    o.extra_args = std::move(extra_args);
    o.name = "chirpd-rt";
    chirpd_ = std::make_unique<chirpd_process>(std::move(o));
    chirpd_->start();
    api_ = http_client(chirpd_->port(), true);
}

std::unique_ptr<ws_client> rt_server::connect(const test_user& u, ws_options opts) {
    auto c = std::make_unique<ws_client>(port(), std::move(opts));
    c->auth(u.token);
    return c;
}

std::unique_ptr<ws_client> rt_server::connect_subscribed(const test_user& u,
                                                         const std::vector<std::string>& channels,
                                                         std::optional<std::string> since) {
    auto c = connect(u);
    c->subscribe(channels, std::move(since));
    return c;
}

}  // namespace chirp::test
