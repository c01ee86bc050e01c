// start_chirpd and test_server: see server.hpp.
#include "support/server.hpp"

namespace chirp::test {

std::unique_ptr<chirpd_process> start_chirpd(const fresh_database& db, server_options o) {
    chirpd_process::options p;
    p.database_url = db.url();
    p.redis_url = o.redis_url.empty() ? binary_redis().url() : std::move(o.redis_url);
    p.extra_args = std::move(o.args);
    p.extra_env = std::move(o.env);
    p.name = std::move(o.name);
    auto chirpd = std::make_unique<chirpd_process>(std::move(p));
    chirpd->start();
    return chirpd;
}

test_server::test_server(server_options o)
    : db_(std::make_unique<fresh_database>()), api_(0, o.keep_alive) {
    const bool keep_alive = o.keep_alive;
    chirpd_ = start_chirpd(*db_, std::move(o));
    api_ = http_client(chirpd_->port(), keep_alive);
}

std::unique_ptr<ws_client> test_server::connect(const test_user& u, ws_options opts) {
    auto c = std::make_unique<ws_client>(port(), std::move(opts));
    c->auth(u.token);
    return c;
}

std::unique_ptr<ws_client> test_server::connect_subscribed(const test_user& u,
                                                           const std::vector<std::string>& channels,
                                                           std::optional<std::string> since) {
    auto c = connect(u);
    c->subscribe(channels, std::move(since));
    return c;
}

}  // namespace chirp::test
