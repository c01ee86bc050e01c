// test_server: see server.hpp.
#include "support/server.hpp"

namespace chirp::test {

test_server::test_server(std::vector<std::string> extra_args, std::string redis_url,
                         std::vector<std::string> extra_env)
    : db_(std::make_unique<fresh_database>()), client_(0) {
    chirpd_process::options o;
    o.database_url = db_->url();
    o.redis_url = std::move(redis_url);
    o.extra_args = std::move(extra_args);
    o.extra_env = std::move(extra_env);
    chirpd_ = std::make_unique<chirpd_process>(std::move(o));
    chirpd_->start();
    client_ = http_client(chirpd_->port());
}

}  // namespace chirp::test
