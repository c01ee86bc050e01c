// The HTTP listener: accepts connections on the configured address, serves the REST API,
// static files of the web client, and hands /ws upgrades and /api/stream to the real-time
// module through hooks.
#pragma once

#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <functional>
#include <memory>

#include "chirp/http/api.hpp"

namespace chirp::http {

using beast_request = boost::beast::http::request<boost::beast::http::string_body>;

struct server_hooks {
    // Takes over the connection of a WebSocket upgrade on /ws.
    std::function<void(boost::beast::tcp_stream, beast_request, std::string remote_ip)> websocket;
    // Serves GET /api/stream (Server-Sent Events) on the connection; returns when it ends.
    std::function<boost::asio::awaitable<void>(boost::beast::tcp_stream&, const beast_request&,
                                               request&)>
        sse;
};

class http_server {
public:
    virtual ~http_server() = default;
    // Binds and starts accepting; throws std::system_error when the address is in use.
    virtual void start() = 0;
    // Stops accepting and closes idle keep-alive connections; requests in flight finish.
    virtual void stop() = 0;
    virtual std::uint16_t port() const = 0;
    // HTTP connections still open (WebSocket sessions excluded).
    virtual std::size_t open_connections() const = 0;
};

std::unique_ptr<http_server> create_http_server(services& svc, server_hooks hooks);

// Static files of the web client, loaded into memory once (see static_files.cpp).
class static_files {
public:
    explicit static_files(const std::string& root);
    // nullptr when there is nothing to serve at this path (then the API answers 404).
    const response* find(std::string_view path) const;
    bool enabled() const { return !files_.empty(); }

private:
    std::unordered_map<std::string, response> files_;
    const response* index_ = nullptr;
};

}  // namespace chirp::http
