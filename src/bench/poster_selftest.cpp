// chirp-bench selftest of the open-loop poster against a server that closes idle connections
// (client.hpp): a loopback HTTP server closes every connection that sends no request within
// 100 ms, the first one included (as chirpd does with --request-read-timeout-ms and
// --keep-alive-timeout-ms); the poster must notice those closes and send every request on a
// live connection, none failing.
#include <map>

#include "client.hpp"

namespace chirp::bench {

using namespace std::chrono_literals;

namespace {

constexpr auto server_idle = 100ms;

asio::awaitable<void> idle_closing_session(tcp::socket s) {
    beast::tcp_stream stream(std::move(s));
    beast::flat_buffer buffer;
    for (;;) {
        http::request<http::string_body> req;
        stream.expires_after(server_idle);  // the whole next request, from the last answer
        if (auto [ec, n] = co_await http::async_read(stream, buffer, req, use_tuple); ec) break;
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
    for (;;) {
        auto [ec, s] = co_await acceptor.async_accept(use_tuple);
        if (ec) co_return;
        asio::co_spawn(acceptor.get_executor(), idle_closing_session(std::move(s)), asio::detached);
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
    co_await poster.finish(1s);
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
