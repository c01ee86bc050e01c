// chirpd as a program: --help, bad configuration (one line, exit code 2), a busy port, and its
// request log (one line per request, JSON lines when asked, never a password or a token).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sstream>

#include "support/server.hpp"

namespace chirp::test {
namespace {

using json = nlohmann::json;

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
        if (!line.empty()) out.push_back(line);
    return out;
}

TEST(Cli, HelpExitsZeroAndListsTheSettings) {
    const auto r = run_command({env().chirpd, "--help"});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    for (const char* s : {"usage", "--port", "CHIRP_PORT", "--database-url", "CHIRP_DATABASE_URL",
                          "--redis-url", "CHIRP_JWT_SECRET", "--log-format", "rebuild-projections"})
        EXPECT_NE(r.output.find(s), std::string::npos) << s;
}

TEST(Cli, BadConfigurationIsOneLineAndExitCode2) {
    const std::vector<std::vector<std::string>> cases = {
        {"--port", "abc", "--dev"},
        {"--port", "70000", "--dev"},
        {"--log-format", "xml", "--dev"},
        {"--database-url", "mysql://x", "--dev"},
        {"--no-such-flag"},
        {"frobnicate"},
        {},  // no JWT secret outside dev mode
        {"--jwt-secret", "too-short"},
    };
    for (auto args : cases) {
        args.insert(args.begin(), env().chirpd);
        const auto r = run_command(args, std::chrono::seconds(30));
        std::string cmd;
        for (const auto& a : args) cmd += a + " ";
        EXPECT_EQ(r.exit_code, 2) << cmd << "\n" << r.output;
        const auto lines = lines_of(r.output);
        ASSERT_EQ(lines.size(), 1u) << cmd << "\n" << r.output;
        EXPECT_EQ(lines[0].rfind("chirpd: ", 0), 0u) << lines[0];
    }
    // The same through the environment, naming the variable.
    const auto r =
        run_command({env().chirpd}, std::chrono::seconds(30), {"CHIRP_PORT=eighty", "CHIRP_DEV=1"});
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find("CHIRP_PORT"), std::string::npos) << r.output;
    EXPECT_EQ(lines_of(r.output).size(), 1u) << r.output;
}

TEST(Cli, ABusyPortGivesAClearMessage) {
    fresh_database db;
    // Hold a port.
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ASSERT_EQ(::listen(fd, 1), 0);
    socklen_t len = sizeof addr;
    ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    const auto port = std::to_string(ntohs(addr.sin_port));
    const auto r =
        run_command({env().chirpd, "--dev", "--bind", "127.0.0.1", "--port", port, "--database-url",
                     db.url(), "--redis-url", env().redis_url, "--log-level", "warn"},
                    std::chrono::seconds(120));
    ::close(fd);
    EXPECT_NE(r.exit_code, 0) << r.output;
    EXPECT_NE(r.exit_code, 128 + SIGKILL) << "it must exit by itself: " << r.output;
    EXPECT_NE(r.output.find(port), std::string::npos) << "names the port: " << r.output;
    EXPECT_NE(r.output.find("in use"), std::string::npos) << r.output;
}

TEST(Cli, AnUnreachableDatabaseFailsMaintenanceCommands) {
    const auto url = "postgresql://chirp@127.0.0.1:" + std::to_string(free_port()) + "/nowhere";
    for (const char* cmd : {"migrate", "rebuild-projections"}) {
        const auto r =
            run_command({env().chirpd, cmd, "--database-url", url}, std::chrono::seconds(60));
        EXPECT_NE(r.exit_code, 0) << cmd << ": " << r.output;
        EXPECT_LT(r.exit_code, 128) << cmd << " crashed: " << r.output;
    }
}

// A chirpd logging at info level in JSON lines.
class JsonLog : public server_test<JsonLog> {
public:
    static server_options options() {
        return {.args = {"--log-format", "json", "--log-level", "info"}};
    }
};

TEST_F(JsonLog, EveryRequestIsOneJsonLineWithoutSecrets) {
    const auto mark = server().chirpd().log_size();
    const auto u = register_user(api(), "log");
    const auto login =
        api().post("/api/auth/login", {{"handle", u.handle}, {"password", u.password}});
    ASSERT_EQ(login.status, 200u);
    const auto token = login.json().at("token").get<std::string>();
    ASSERT_EQ(api().get("/api/me", token).status, 200u);
    ASSERT_EQ(api().get("/api/nope?token=" + u.token).status, 404u);
    ASSERT_EQ(
        api()
            .post("/api/auth/login", {{"handle", u.handle}, {"password", "wrong-" + u.password}})
            .status,
        401u);
    ASSERT_EQ(api().get("/healthz").status, 200u);

    // Stop the server so that every line is flushed, then read what these requests logged.
    ASSERT_EQ(server().chirpd().stop(), 0);
    const auto text = server().chirpd().log(mark);
    std::map<std::string, int> requests;  // "METHOD path status" -> times logged
    bool ours = false;  // the start-up probe's /healthz may be logged after the mark
    for (const auto& line : lines_of(text)) {
        const auto j = json::parse(line, nullptr, false);
        ASSERT_TRUE(j.is_object()) << "not a JSON line: " << line;
        EXPECT_TRUE(j.contains("ts") && j.contains("level")) << line;
        if (j.value("path", "") == "/api/auth/register") ours = true;
        if (ours && j.value("event", "") == "request") {
            EXPECT_TRUE(j.at("latencyMs").is_number()) << line;
            requests[j.at("method").get<std::string>() + " " + j.at("path").get<std::string>() +
                     " " + std::to_string(j.at("status").get<int>())]++;
        }
    }
    EXPECT_EQ(requests["POST /api/auth/register 201"], 1) << text;
    EXPECT_EQ(requests["POST /api/auth/login 200"], 1) << text;
    EXPECT_EQ(requests["POST /api/auth/login 401"], 1) << text;
    EXPECT_EQ(requests["GET /api/me 200"], 1) << text;
    EXPECT_EQ(requests["GET /api/nope 404"], 1) << text;
    EXPECT_EQ(requests["GET /healthz 200"], 1) << text;
    // Never a password, a hash or a token; not even in a query string.
    EXPECT_EQ(text.find(u.password), std::string::npos);
    EXPECT_EQ(text.find(u.token), std::string::npos);
    EXPECT_EQ(text.find(token), std::string::npos);
    EXPECT_EQ(text.find(u.token.substr(u.token.rfind('.') + 1)), std::string::npos)
        << "no token signature";
    EXPECT_EQ(text.find("argon2"), std::string::npos);
}

}  // namespace
}  // namespace chirp::test
