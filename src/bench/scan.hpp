// Allocation-free scanners for WebSocket frames on the hot path of chirp-bench. A follower may
// receive 100,000+ frames per second, too many to parse each as JSON on the client's one core,
// so deliveries are matched by the unique marker the tweet content carries
// ("bench <run> <n>") and the frame's largest "seq" value.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace chirp::bench {

// Number n following `needle` (e.g. "bench ab12 ") in the frame, if present.
inline std::optional<std::uint64_t> find_marker(std::string_view frame, std::string_view needle) {
    auto pos = frame.find(needle);
    if (pos == std::string_view::npos) return std::nullopt;
    pos += needle.size();
    if (pos >= frame.size() || frame[pos] < '0' || frame[pos] > '9') return std::nullopt;
    std::uint64_t n = 0;
    while (pos < frame.size() && frame[pos] >= '0' && frame[pos] <= '9')
        n = n * 10 + static_cast<std::uint64_t>(frame[pos++] - '0');
    return n;
}

// Largest value of any "seq" member (string or number) in the frame; 0 if none. The top-level
// seq of an event frame is its stream position; nested ones (a notification's) are never larger.
inline std::uint64_t max_seq(std::string_view frame) {
    std::uint64_t best = 0;
    std::size_t pos = 0;
    while ((pos = frame.find("\"seq\"", pos)) != std::string_view::npos) {
        pos += 5;
        while (pos < frame.size() && (frame[pos] == ' ' || frame[pos] == ':' || frame[pos] == '"'))
            ++pos;
        std::uint64_t n = 0;
        while (pos < frame.size() && frame[pos] >= '0' && frame[pos] <= '9')
            n = n * 10 + static_cast<std::uint64_t>(frame[pos++] - '0');
        if (n > best) best = n;
    }
    return best;
}

inline bool is_event_frame(std::string_view frame) {
    return frame.find("\"type\":\"event\"") != std::string_view::npos ||
           frame.find("\"type\": \"event\"") != std::string_view::npos;
}

// A growable bitset; test_and_set returns whether the bit was already set.
inline bool test_and_set(std::vector<std::uint64_t>& bits, std::uint64_t n) {
    const auto word = n / 64;
    if (word >= bits.size()) bits.resize(word + 1 + word / 2, 0);
    const auto mask = std::uint64_t{1} << (n % 64);
    const bool was = bits[word] & mask;
    bits[word] |= mask;
    return was;
}

inline bool test_bit(const std::vector<std::uint64_t>& bits, std::uint64_t n) {
    const auto word = n / 64;
    return word < bits.size() && (bits[word] & (std::uint64_t{1} << (n % 64)));
}

}  // namespace chirp::bench
