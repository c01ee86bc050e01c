// http_client: each operation is asynchronous under a beast::tcp_stream deadline and driven
// to completion by a private io_context, so the test code stays synchronous.
#include "support/http_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <stdexcept>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;

namespace chirp::test {

namespace {

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
        if (lower(a[i]) != lower(b[i])) return false;
    }
    return true;
}

}  // namespace

std::string http_response::header(std::string_view name) const {
    for (const auto& [k, v] : headers)
        if (iequals(k, name)) return v;
    return {};
}

bool http_response::has_header(std::string_view name) const {
    for (const auto& [k, v] : headers)
        if (iequals(k, name)) return true;
    return false;
}

nlohmann::json http_response::json() const {
    auto j = nlohmann::json::parse(body, nullptr, false);
    if (j.is_discarded()) throw std::runtime_error("response body is not JSON: " + describe());
    return j;
}

std::string http_response::describe() const {
    std::string b = body.size() > 2000 ? body.substr(0, 2000) + "..." : body;
    return std::to_string(status) + " " + b;
}

struct http_client::impl {
    asio::io_context ioc;
    std::optional<beast::tcp_stream> stream;
    beast::flat_buffer buffer;
};

http_client::http_client(std::uint16_t port, bool keep_alive, std::chrono::seconds timeout)
    : port_(port), keep_alive_(keep_alive), timeout_(timeout), impl_(std::make_unique<impl>()) {}
http_client::~http_client() = default;
http_client::http_client(http_client&&) noexcept = default;
http_client& http_client::operator=(http_client&&) noexcept = default;

namespace {

// Runs the queued operations to completion and rethrows their error.
void run(asio::io_context& ioc, const beast::error_code& ec, const char* what) {
    ioc.restart();
    ioc.run();
    if (ec) throw std::runtime_error(std::string("HTTP client: ") + what + ": " + ec.message());
}

void connect(asio::io_context& ioc, std::optional<beast::tcp_stream>& stream, std::uint16_t port,
             std::chrono::seconds timeout) {
    stream.emplace(ioc);
    beast::error_code ec;
    stream->expires_after(timeout);
    stream->async_connect(tcp::endpoint(asio::ip::address_v4::loopback(), port),
                          [&](beast::error_code e) { ec = e; });
    run(ioc, ec, "connect");
    stream->socket().set_option(tcp::no_delay(true));
}

http_response to_response(bhttp::response<bhttp::string_body>& res) {
    http_response out;
    out.status = res.result_int();
    for (const auto& f : res)
        out.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
    out.body = std::move(res.body());
    return out;
}

// Reads one response; false when the peer closed before sending a byte (a stale keep-alive
// connection), so the caller may reconnect and retry.
bool read_response(asio::io_context& ioc, beast::tcp_stream& stream, beast::flat_buffer& buffer,
                   bool head, std::chrono::seconds timeout, http_response& out, bool& keep_alive) {
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    parser.header_limit(64 * 1024);
    if (head) parser.skip(true);
    beast::error_code ec;
    stream.expires_after(timeout);
    bhttp::async_read(stream, buffer, parser, [&](beast::error_code e, std::size_t) { ec = e; });
    ioc.restart();
    ioc.run();
    if ((ec == bhttp::error::end_of_stream || ec == asio::error::connection_reset) &&
        !parser.got_some())
        return false;
    if (ec) throw std::runtime_error(std::string("HTTP client: read: ") + ec.message());
    auto res = parser.release();
    keep_alive = res.keep_alive();
    out = to_response(res);
    return true;
}

}  // namespace

http_response http_client::request(std::string_view method, std::string_view target,
                                   std::optional<std::string> body, const std::string& token,
                                   const header_list& headers,
                                   std::optional<std::string> content_type) {
    bhttp::request<bhttp::string_body> req;
    req.method_string(method);
    req.target(target);
    req.version(11);
    req.set(bhttp::field::host, "127.0.0.1:" + std::to_string(port_));
    req.set(bhttp::field::user_agent, "chirp-tests");
    if (!token.empty()) req.set(bhttp::field::authorization, "Bearer " + token);
    if (body) {
        if (content_type) req.set(bhttp::field::content_type, *content_type);
        req.body() = std::move(*body);
        req.content_length(req.body().size());
    }
    for (const auto& [k, v] : headers) req.set(k, v);
    req.keep_alive(keep_alive_);
    const bool head = method == "HEAD";

    for (int attempt = 0;; ++attempt) {
        const bool reused = impl_->stream.has_value();
        if (!reused) {
            impl_->buffer.clear();
            connect(impl_->ioc, impl_->stream, port_, timeout_);
        }
        beast::error_code ec;
        impl_->stream->expires_after(timeout_);
        bhttp::async_write(*impl_->stream, req, [&](beast::error_code e, std::size_t) { ec = e; });
        impl_->ioc.restart();
        impl_->ioc.run();
        http_response out;
        bool keep = false;
        bool got = false;
        // A write cut short because the server answered early and closed (413 for a body over
        // the limit) still leaves its answer to read.
        const bool early_answer =
            ec == asio::error::broken_pipe || ec == asio::error::connection_reset;
        if (!ec || early_answer) {
            got =
                read_response(impl_->ioc, *impl_->stream, impl_->buffer, head, timeout_, out, keep);
        }
        if (!got && reused && attempt == 0) {
            // The server closed an idle keep-alive connection: reconnect once.
            impl_->stream.reset();
            continue;
        }
        if (!got && ec) throw std::runtime_error("HTTP client: write: " + ec.message());
        if (!got) throw std::runtime_error("HTTP client: the server closed without answering");
        if (ec) keep = false;
        if (!keep_alive_ || !keep) impl_->stream.reset();
        return out;
    }
}

http_response http_client::get(std::string_view target, const std::string& token) {
    return request("GET", target, std::nullopt, token);
}

http_response http_client::del(std::string_view target, const std::string& token) {
    return request("DELETE", target, std::nullopt, token);
}

http_response http_client::post(std::string_view target, const nlohmann::json& body,
                                const std::string& token, const header_list& headers) {
    return request("POST", target, body.dump(), token, headers);
}

http_response http_client::post_empty(std::string_view target, const std::string& token) {
    return request("POST", target, std::nullopt, token);
}

http_response http_client::raw(std::string_view bytes) {
    asio::io_context ioc;
    std::optional<beast::tcp_stream> stream;
    connect(ioc, stream, port_, timeout_);
    beast::error_code ec;
    stream->expires_after(timeout_);
    asio::async_write(*stream, asio::buffer(bytes.data(), bytes.size()),
                      [&](beast::error_code e, std::size_t) { ec = e; });
    ioc.restart();
    ioc.run();
    // A write error (the server answered early and reset) still leaves its answer to read.
    beast::flat_buffer buffer;
    http_response out;
    bool keep = false;
    if (!read_response(ioc, *stream, buffer, false, timeout_, out, keep))
        throw std::runtime_error("HTTP client: the server closed without answering" +
                                 (ec ? " (write: " + ec.message() + ")" : std::string()));
    return out;
}

}  // namespace chirp::test
