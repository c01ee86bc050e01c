// A small synchronous HTTP/1.1 client for the integration tests (Beast over TCP, with a
// timeout on every operation so that a hung server fails the test instead of hanging it).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace chirp::test {

using header_list = std::vector<std::pair<std::string, std::string>>;

struct http_response {
    unsigned status = 0;
    header_list headers;  // as received
    std::string body;

    // The first header of that name (case-insensitive), or "" .
    std::string header(std::string_view name) const;
    bool has_header(std::string_view name) const;
    // The body as JSON; throws with the body in the message when it is not JSON.
    nlohmann::json json() const;
    // "status body" for failure messages.
    std::string describe() const;
};

class http_client {
public:
    // keep_alive: reuse one connection for every request (else one connection each).
    explicit http_client(std::uint16_t port, bool keep_alive = false,
                         std::chrono::seconds timeout = std::chrono::seconds(60));
    ~http_client();
    http_client(http_client&&) noexcept;
    http_client& operator=(http_client&&) noexcept;

    // Any method and target (sent as is); body and content type only when given.
    http_response request(std::string_view method, std::string_view target,
                          std::optional<std::string> body = std::nullopt,
                          const std::string& token = "", const header_list& headers = {},
                          std::optional<std::string> content_type = "application/json");

    http_response get(std::string_view target, const std::string& token = "");
    http_response del(std::string_view target, const std::string& token = "");
    http_response post(std::string_view target, const nlohmann::json& body,
                       const std::string& token = "", const header_list& headers = {});
    // POST without a body.
    http_response post_empty(std::string_view target, const std::string& token = "");

    // Sends the bytes as they are and parses what comes back (a fresh connection).
    http_response raw(std::string_view bytes);

    std::uint16_t port() const { return port_; }

private:
    struct impl;
    std::uint16_t port_;
    bool keep_alive_;
    std::chrono::seconds timeout_;
    std::unique_ptr<impl> impl_;
};

}  // namespace chirp::test
