// Temporary: replaced by the real-time module.
#include <boost/asio/use_awaitable.hpp>
#include "chirp/ws/realtime.hpp"
namespace chirp::rt {
namespace {
class none final : public service {
public:
    void start() override {}
    http::server_hooks hooks() override { return {}; }
    void on_committed(const store::write_result&) override {}
    boost::asio::awaitable<void> shutdown() override { co_return; }
    bool redis_ready() const override { return true; }
    void stats_fields(std::string&) const override {}
    boost::asio::awaitable<std::optional<std::string>> cached_timeline(long long, long long, int) override { co_return std::nullopt; }
};
}
std::unique_ptr<service> create_realtime(boost::asio::io_context&, const config&, metrics::registry&, store::event_store&, auth::jwt_codec&) { return std::make_unique<none>(); }
}
