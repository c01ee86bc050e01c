// chirp-bench selftest of the open-loop poster against a server that closes idle connections
// (client.hpp): a loopback HTTP server closes every connection that sends no request within
// 300 ms, the first one included (as chirpd does with --request-read-timeout-ms and
// --keep-alive-timeout-ms); the poster must notice those closes and send every request on a
// live connection, none failing. A request to /drop... is read and its connection closed
// unanswered the first time: only an idempotent one (GET, or with an Idempotency-Key) may be
// sent again; a plain POST fails.
#include <map>
#include <set>

#include "client.hpp"

namespace chirp::bench {

using namespace std::chrono_literals;

namespace {

constexpr auto server_idle = 300ms;  // far above a scheduling delay of the test

asio::awaitable<void> idle_closing_session(tcp::socket s, std::set<std::string>& dropped) {
    beast::tcp_stream stream(std::move(s));
    beast::flat_buffer buffer;
    for (;;) {
        http::request<http::string_body> req;
        stream.expires_after(server_idle);  // the whole next request, from the last answer
        if (auto [ec, n] = co_await http::async_read(stream, buffer, req, use_tuple); ec) break;
        const std::string target(req.target());
        if (target.starts_with("/drop") && dropped.insert(target).second) break;
        http::response<http::string_body> res{http::status::created, 11};
        res.keep_alive(true);
        res.body() = "{}";
        res.prepare_payload();
        stream.expires_after(5s);
        if (auto [ec, n] = co_await http::async_write(stream, res, use_tuple); ec) break;
    }
    error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream.socket().close(ignored);
}

asio::awaitable<void> accept_loop(tcp::acceptor& acceptor) {
    std::set<std::string> dropped;
    for (;;) {
        auto [ec, s] = co_await acceptor.async_accept(use_tuple);
        if (ec) co_return;
        asio::co_spawn(acceptor.get_executor(), idle_closing_session(std::move(s), dropped),
                       asio::detached);
    }
}

asio::awaitable<std::string> exercise(const target& t) {
    std::string failures;
    std::map<std::uint64_t, unsigned> answers;
    open_loop_poster poster(
        co_await asio::this_coro::executor, t, 4,
        [&](std::uint64_t id, unsigned status, time_point) { answers[id] = status; });
    if (auto ec = co_await poster.connect(); ec) co_return "poster: connect: " + ec.message();
    std::uint64_t next = 0;
    for (const char* round : {"connections never used", "connections idle after an answer"}) {
        // The server closes all four: the poster notices before it has anything to send.
        if (!co_await poll_until([&] { return poster.connections_up() == 0; }, 5s))
            failures += std::string("poster: did not notice the server close ") + round + "; ";
        // Four at once: one on each connection, each opened anew.
        for (int i = 0; i < 4; ++i)
            poster.send(next++, raw_request("POST", "/api/tweets", t, "token", "{}"));
        if (!co_await poll_until([&] { return poster.in_flight() == 0; }, 5s))
            failures += std::string("poster: no answers after the close of ") + round + "; ";
    }
    // Answers lost with their connection: sent again only when that is safe.
    const auto with_key = raw_request("POST", "/drop/key", t, "token", "{}");
    poster.send(next++, raw_request("GET", "/drop/get", t, "token", ""));
    poster.send(next++, with_key.substr(0, with_key.find("\r\n") + 2) + "Idempotency-Key: k1\r\n" +
                            with_key.substr(with_key.find("\r\n") + 2));
    if (!co_await poll_until([&] { return poster.in_flight() == 0; }, 5s))
        failures += "poster: no answers to the idempotent requests dropped once; ";
    poster.send(next, raw_request("POST", "/drop/plain", t, "token", "{}"));
    if (!co_await poll_until([&] { return poster.in_flight() == 0; }, 5s) || answers[next] != 0)
        failures += "poster: a POST without Idempotency-Key was sent again; ";
    co_await poster.finish(1s);
    if (poster.retried != 2)
        failures += "poster: " + std::to_string(poster.retried) + " requests sent again, not 2; ";
    for (std::uint64_t id = 0; id < next; ++id)
        if (answers[id] != 201) {
            failures += "poster: request " + std::to_string(id) + " got " +
                        std::to_string(answers[id]) + "; ";
        }
    co_return failures;
}

}  // namespace

std::string poster_selftest() {
    asio::io_context ioc;
    tcp::acceptor acceptor(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    const target t = parse_url("127.0.0.1:" + std::to_string(acceptor.local_endpoint().port()));
    std::string failures;
    asio::co_spawn(ioc, accept_loop(acceptor), asio::detached);
    asio::co_spawn(ioc, exercise(t), [&](std::exception_ptr e, std::string f) {
        failures = e ? std::string("poster: exception; ") : std::move(f);
        error_code ignored;
        acceptor.close(ignored);
    });
    ioc.run_for(30s);
    return failures;
}

}  // namespace chirp::bench
