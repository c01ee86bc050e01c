// The `scale` table: see scale_summary.hpp. Capacity is the fan-out scenario's own (the highest
// ladder rate with p99 within the limit and nothing lost, duplicated or refused); at that step,
// the server's CPU (all its processes: the supervisor and its workers, proc_stats.cpp) per
// delivered frame, which routing by process must keep flat as workers are added.
#include "scale_summary.hpp"

#include <spdlog/fmt/fmt.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>

namespace chirp::bench {
namespace {

using json = nlohmann::json;

json load(const std::filesystem::path& p) {
    std::ifstream in(p);
    if (!in) return nullptr;
    auto j = json::parse(in, nullptr, false);
    return j.is_discarded() ? json(nullptr) : j;
}

// The step at the capacity rate (null when nothing passed).
json capacity_step(const json& r) {
    const double cap = r.value("capacityTweetsPerSecond", 0.0);
    if (cap <= 0 || !r.contains("steps")) return nullptr;
    for (const auto& s : r["steps"])
        if (s.value("rate", 0.0) == cap) return s;
    return nullptr;
}

bool passed_top(const json& r) {
    double top = 0;
    if (r.contains("steps"))
        for (const auto& s : r["steps"]) top = std::max(top, s.value("rate", 0.0));
    return top > 0 && r.value("capacityTweetsPerSecond", 0.0) >= top;
}

std::string cell(const json& s, const char* key, const char* sub, int decimals) {
    if (!s.is_object() || !s.contains(key)) return "-";
    const json& v = sub ? s[key] : s;
    const char* k = sub ? sub : key;
    if (!v.is_object() || !v.contains(k) || !v[k].is_number()) return "-";
    return fmt::format("{:.{}f}", v[k].get<double>(), decimals);
}

// Server CPU microseconds per delivered frame at a step.
std::string us_per_frame(const json& s) {
    if (!s.is_object() || !s.contains("server") || !s["server"].is_object()) return "-";
    const double cpu = s["server"].value("cpuPercent", 0.0);
    const double dps = s.value("deliveriesPerSecond", 0.0);
    if (cpu <= 0 || dps <= 0) return "-";
    return fmt::format("{:.2f}", cpu / 100.0 / dps * 1e6);
}

}  // namespace

std::string scale_summary(const std::string& dir) {
    std::map<int, json> runs;
    const std::regex name(R"(scale-w(\d+)\.json)");
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
        std::smatch m;
        const auto file = e.path().filename().string();
        if (std::regex_match(file, m, name)) runs[std::stoi(m[1])] = load(e.path());
    }
    if (runs.empty()) return {};
    const json relay = load(std::filesystem::path(dir) / "fanout-relay.json");
    const double relay_cap = relay.is_object() ? relay.value("capacityTweetsPerSecond", 0.0) : 0;
    std::string out = fmt::format(
        "\nscale: the fan-out ladder by chirpd worker count (F = {}), relay capacity {}{} "
        "tweets/s\n",
        runs.begin()->second.value("followers", 0),
        relay.is_object() ? fmt::format("{:.0f}", relay_cap) : "-",
        relay.is_object() && passed_top(relay) ? "+" : "");
    out += fmt::format("{:>7} {:>9} {:>10} {:>10} {:>9} {:>11} {:>14}\n", "workers", "capacity",
                       "% of relay", "p99 ms", "srv CPU%", "deliv/s", "srv us/frame");
    for (const auto& [workers, r] : runs) {
        if (!r.is_object()) continue;
        const json s = capacity_step(r);
        const double cap = r.value("capacityTweetsPerSecond", 0.0);
        std::string pct = "-";
        if (relay_cap > 0) pct = fmt::format("{:.0f} %", 100 * cap / relay_cap);
        out += fmt::format("{:>7} {:>9} {:>10} {:>10} {:>9} {:>11} {:>14}\n", workers,
                           fmt::format("{:.0f}{}", cap, passed_top(r) ? "+" : ""), pct,
                           cell(s, "latencyMs", "p99", 1), cell(s, "server", "cpuPercent", 0),
                           cell(s, "deliveriesPerSecond", nullptr, 0), us_per_frame(s));
    }
    if (const json s = capacity_step(relay); s.is_object())
        out += fmt::format("{:>7} {:>9} {:>10} {:>10} {:>9} {:>11} {:>14}\n", "relay",
                           fmt::format("{:.0f}", relay_cap), "100 %",
                           cell(s, "latencyMs", "p99", 1), cell(s, "server", "cpuPercent", 0),
                           cell(s, "deliveriesPerSecond", nullptr, 0), us_per_frame(s));
    out +=
        "(capacity: highest ladder rate with p99 <= the limit and nothing lost, duplicated or\n"
        " refused; +: passed the top rate; srv CPU% and us/frame at the capacity step, all of\n"
        " chirpd's processes together)\n";
    return out;
}

}  // namespace chirp::bench
