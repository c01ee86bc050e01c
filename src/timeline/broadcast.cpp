// The chirp:tweets broadcast codec (see broadcast.hpp for the format).
#include "chirp/timeline/broadcast.hpp"

#include <charconv>

namespace chirp::timeline {
namespace {

// Whole decimal field; '-' only where `negative_ok`.
std::optional<long long> number(std::string_view s, bool negative_ok) {
    if (s.empty() || s.front() == '+' || (s.front() == '-' && !negative_ok)) return std::nullopt;
    long long v = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
    return v;
}

// Exactly N space-separated numbers; fields[i] may be negative when neg[i].
template <std::size_t N>
bool fields(std::string_view s, long long (&out)[N], const bool (&neg)[N]) {
    for (std::size_t i = 0; i < N; ++i) {
        const auto sp = s.find(' ');
        const bool last = i + 1 == N;
        if (last != (sp == std::string_view::npos)) return false;
        const auto v = number(last ? s : s.substr(0, sp), neg[i]);
        if (!v) return false;
        out[i] = *v;
        if (!last) s = s.substr(sp + 1);
    }
    return true;
}

void put(std::string& out, char kind, std::initializer_list<long long> values) {
    out += kind;
    bool first = true;
    for (auto v : values) {
        if (!first) out += ' ';
        first = false;
        out += std::to_string(v);
    }
    out += ';';
}

}  // namespace

const char* const broadcast_script =
    "local e = redis.call('HGET', KEYS[1], 'epoch') "
    "if not e then e = ARGV[2] redis.call('HSET', KEYS[1], 'epoch', e) end "
    "local v = redis.call('HINCRBY', KEYS[1], 'ver', 1) "
    "redis.call('PUBLISH', KEYS[2], e .. ' ' .. v .. ' ' .. ARGV[1]) return v";

std::string encode_changes(const std::vector<change>& changes) {
    std::string out;
    out.reserve(changes.size() * 32);
    for (const auto& c : changes) {
        if (const auto* x = std::get_if<tweet_created>(&c))
            put(out, 'c', {x->tweet, x->author, x->reply_to, x->retweet_of});
        else if (const auto* x = std::get_if<tweet_deleted>(&c))
            put(out, 'd', {x->tweet, x->author, x->reply_to, x->retweet_of});
        else if (const auto* x = std::get_if<like_changed>(&c))
            put(out, 'l',
                {x->tweet, x->actor, x->liked ? 1 : 0, x->likes, x->retweets, x->replies});
        else if (const auto* x = std::get_if<follow_changed>(&c))
            put(out, 'f', {x->follower, x->followee});
    }
    return out;
}

std::string encode_broadcast(const broadcast& b) {
    return b.epoch + ' ' + std::to_string(b.ver) + ' ' + encode_changes(b.changes);
}

std::optional<broadcast> decode_broadcast(std::string_view payload) {
    const auto sp1 = payload.find(' ');
    if (sp1 == std::string_view::npos || sp1 == 0) return std::nullopt;
    const auto sp2 = payload.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos) return std::nullopt;
    const auto ver = number(payload.substr(sp1 + 1, sp2 - sp1 - 1), false);
    if (!ver) return std::nullopt;
    broadcast b;
    b.epoch = std::string(payload.substr(0, sp1));
    b.ver = *ver;
    auto body = payload.substr(sp2 + 1);
    while (!body.empty()) {
        const auto end = body.find(';');
        if (end == std::string_view::npos) return std::nullopt;  // every change ends with ';'
        const auto part = body.substr(0, end);
        body = body.substr(end + 1);
        if (part.empty()) return std::nullopt;
        const auto rest = part.substr(1);
        switch (part[0]) {
            case 'c': {
                long long v[4];
                if (!fields(rest, v, {false, false, false, false})) return std::nullopt;
                b.changes.emplace_back(tweet_created{v[0], v[1], v[2], v[3]});
                break;
            }
            case 'd': {
                long long v[4];
                if (!fields(rest, v, {false, false, true, true})) return std::nullopt;
                b.changes.emplace_back(tweet_deleted{v[0], v[1], v[2], v[3]});
                break;
            }
            case 'l': {
                long long v[6];
                if (!fields(rest, v, {false, false, false, false, false, false}) ||
                    (v[2] != 0 && v[2] != 1))
                    return std::nullopt;
                b.changes.emplace_back(like_changed{v[0], v[1], v[2] == 1, v[3], v[4], v[5]});
                break;
            }
            case 'f': {
                long long v[2];
                if (!fields(rest, v, {false, false})) return std::nullopt;
                b.changes.emplace_back(follow_changed{v[0], v[1]});
                break;
            }
            default:
                break;  // a kind this version does not know: skipped
        }
    }
    return b;
}

}  // namespace chirp::timeline
