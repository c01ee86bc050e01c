// The drafts service (service.hpp): the registry with Redis as its bus.
#include "chirp/drafts/service.hpp"

#include <spdlog/spdlog.h>

#include "chirp/config/config.hpp"
#include "chirp/redis/redis.hpp"

namespace asio = boost::asio;

namespace chirp::drafts {
namespace {

class redis_bus final : public bus {
public:
    redis::client* client = nullptr;

    void publish(const std::string& channel, std::string payload) override {
        client->publish(channel, payload);
    }
    asio::awaitable<void> subscribe(std::string channel) override {
        client->subscribe(channel);
        co_await client->subscriptions_settled();
    }
    void unsubscribe(const std::string& channel) override { client->unsubscribe(channel); }
};

class service_impl final : public service {
public:
    service_impl(asio::io_context& ioc, const config& cfg, draft_log& log, options opts) {
        registry_ = create_registry(ioc, log, bus_, opts);
        redis::callbacks cbs;
        cbs.on_message = [this](std::string_view ch, std::string_view payload) {
            if (ch == redis::gap_channel)
                registry_->on_bus_reconnected();  // another process lost publishes
            else
                registry_->on_bus_message(ch, payload);
        };
        cbs.on_reconnected = [this] { registry_->on_bus_reconnected(); };
        redis_ = redis::create_client(ioc, cfg.redis_url, std::move(cbs),
                                      {cfg.redis_timeout, cfg.redis_queue_bytes});
        bus_.client = redis_.get();
    }

    registry& live() override { return *registry_; }
    void start() override {
        redis_->subscribe(std::string(redis::gap_channel));
        redis_->start();
    }
    void stop() override { redis_->stop(); }
    void stats_fields(std::string& out) const override {
        out += ",\"draftsLoaded\":" + std::to_string(registry_->drafts_loaded());
        out += ",\"draftEditors\":" + std::to_string(registry_->editors());
    }

private:
    redis_bus bus_;
    std::unique_ptr<registry> registry_;
    std::unique_ptr<redis::client> redis_;
};

}  // namespace

std::unique_ptr<service> create_service(asio::io_context& ioc, const config& cfg, draft_log& log,
                                        options opts) {
    return std::make_unique<service_impl>(ioc, cfg, log, opts);
}

}  // namespace chirp::drafts
