// The body of /api/stats and of the `stats` push: the registry's numbers, the database counts
// and the fields of the modules the app wired.
#include <chrono>
#include <cstdio>

#include "chirp/metrics/metrics.hpp"

namespace chirp::metrics {

std::string stats_json(const registry& m, const db_counts* counts, std::string_view module_fields) {
    auto ms = [](std::uint64_t micros) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.3f", static_cast<double>(micros) / 1000.0);
        return std::string(buf);
    };
    const double uptime =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - m.started).count();
    std::string out = "{";
    out += "\"uptimeSeconds\":" + std::to_string(uptime);
    out += ",\"eventsStored\":" + std::to_string(counts ? counts->events : 0);
    out += ",\"users\":" + std::to_string(counts ? counts->users : 0);
    out += ",\"tweets\":" + std::to_string(counts ? counts->tweets : 0);
    out += ",\"database\":\"" + std::string(counts ? "up" : "down") + "\"";
    out += ",\"requests\":" + std::to_string(m.requests.load());
    out += ",\"requestsPerSecond\":" + std::to_string(m.request_rate.per_second());
    out += ",\"requestLatencyMs\":{\"p50\":" + ms(m.request_latency.quantile(0.5)) +
           ",\"p99\":" + ms(m.request_latency.quantile(0.99)) + "}";
    out += ",\"appendLatencyMs\":{\"p50\":" + ms(m.append_latency.quantile(0.5)) +
           ",\"p99\":" + ms(m.append_latency.quantile(0.99)) + "}";
    out += ",\"connections\":" + std::to_string(m.connections.load());
    out += ",\"peakConnections\":" + std::to_string(m.peak_connections.load());
    out += ",\"sessions\":" + std::to_string(m.sessions.load());
    out += ",\"onlineUsers\":" + std::to_string(m.online_users.load());
    out += ",\"messagesPerSecond\":" + std::to_string(m.delivered_rate.per_second());
    out += ",\"delivered\":" + std::to_string(m.delivered.load());
    out += ",\"deliveryLatencyMs\":{\"p50\":" + ms(m.delivery_latency.quantile(0.5)) +
           ",\"p90\":" + ms(m.delivery_latency.quantile(0.9)) +
           ",\"p99\":" + ms(m.delivery_latency.quantile(0.99)) +
           ",\"max\":" + ms(m.delivery_latency.max()) + "}";
    out += ",\"slowConsumerCloses\":" + std::to_string(m.slow_consumer_closes.load());
    out += ",\"replays\":" + std::to_string(m.replays.load());
    out += ",\"resyncs\":" + std::to_string(m.resyncs.load());
    out += ",\"redisReconnects\":" + std::to_string(m.redis_reconnects.load());
    out += ",\"typingDropped\":" + std::to_string(m.typing_dropped.load());
    out += module_fields;
    out += "}";
    return out;
}

}  // namespace chirp::metrics
