// The fan-out's Redis payloads (see codec.hpp for the formats). Decoding is strict and
// bounds-checked: std::from_chars over exact sub-ranges, nothing else.
#include "chirp/fanout/codec.hpp"

#include <algorithm>
#include <charconv>

namespace chirp::fanout {
namespace {

// A whole field of decimal digits (and a leading '-' when `negative_ok`) that fits T.
template <class T>
std::optional<T> number(std::string_view s, bool negative_ok = false) {
    if (s.empty()) return std::nullopt;
    if (s.front() == '-' && !negative_ok) return std::nullopt;
    if (s.front() == '+') return std::nullopt;
    T v{};
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
    return v;
}

// "<seq> <commit_us>" up to the first '\n'; `rest` is what follows the newline.
bool header(std::string_view payload, long long& seq, std::int64_t& commit_us,
            std::string_view& rest) {
    const auto nl = payload.find('\n');
    if (nl == std::string_view::npos) return false;
    const auto head = payload.substr(0, nl);
    const auto sp = head.find(' ');
    if (sp == std::string_view::npos) return false;
    const auto s = number<long long>(head.substr(0, sp));
    const auto c = number<std::int64_t>(head.substr(sp + 1));
    if (!s || !c) return false;
    seq = *s;
    commit_us = *c;
    rest = payload.substr(nl + 1);
    return true;
}

void put_header(std::string& out, long long seq, std::int64_t commit_us) {
    out += std::to_string(seq);
    out += ' ';
    out += std::to_string(commit_us);
    out += '\n';
}

constexpr std::string_view notifications_prefix = "notifications:";
constexpr std::string_view messages_prefix = "messages:";
constexpr std::string_view author_prefix = "author:";

}  // namespace

std::string encode_channel(const user_channel& c) {
    std::string_view prefix = c.kind == channel_kind::notifications ? notifications_prefix
                              : c.kind == channel_kind::messages    ? messages_prefix
                                                                    : author_prefix;
    std::string out(prefix);
    out += std::to_string(c.id);
    return out;
}

std::optional<user_channel> decode_channel(std::string_view channel) {
    user_channel c;
    std::string_view rest;
    if (channel.starts_with(notifications_prefix)) {
        c.kind = channel_kind::notifications;
        rest = channel.substr(notifications_prefix.size());
    } else if (channel.starts_with(messages_prefix)) {
        c.kind = channel_kind::messages;
        rest = channel.substr(messages_prefix.size());
    } else if (channel.starts_with(author_prefix)) {
        c.kind = channel_kind::author;
        rest = channel.substr(author_prefix.size());
    } else {
        return std::nullopt;
    }
    const auto id = number<long long>(rest);
    if (!id) return std::nullopt;
    c.id = *id;
    return c;
}

std::string encode_live_message(const live_message& m) {
    std::string out;
    out.reserve(m.frame.size() + 40);
    put_header(out, m.seq, m.commit_us);
    out += m.frame;
    return out;
}

std::optional<live_message> decode_live_message(std::string_view payload) {
    live_message m;
    if (!header(payload, m.seq, m.commit_us, m.frame)) return std::nullopt;
    return m;
}

std::string encode_timeline_message(const timeline_message& m) {
    std::string out;
    out.reserve(m.frame.size() + m.recipients.size() * 8 + 48);
    put_header(out, m.seq, m.commit_us);
    char buf[24];
    for (std::size_t i = 0; i < m.recipients.size(); ++i) {
        if (i != 0) out += ',';
        const auto r = std::to_chars(buf, buf + sizeof buf, m.recipients[i]);
        out.append(buf, r.ptr);
    }
    out += '\n';
    out += m.frame;
    return out;
}

std::optional<timeline_message> decode_timeline_message(std::string_view payload) {
    timeline_message m;
    std::string_view rest;
    if (!header(payload, m.seq, m.commit_us, rest)) return std::nullopt;
    const auto nl = rest.find('\n');
    if (nl == std::string_view::npos) return std::nullopt;
    const auto list = rest.substr(0, nl);
    m.frame = rest.substr(nl + 1);
    if (list.empty()) return m;
    // One pass of from_chars over the list (the hot path of every process's subscriber): each
    // field starts with a digit and ends at a comma or the end of the list.
    m.recipients.reserve(static_cast<std::size_t>(std::count(list.begin(), list.end(), ',')) + 1);
    const char* p = list.data();
    const char* const end = p + list.size();
    while (true) {
        if (p == end || *p < '0' || *p > '9') return std::nullopt;
        long long id = 0;
        const auto [next, ec] = std::from_chars(p, end, id);
        if (ec != std::errc()) return std::nullopt;
        m.recipients.push_back(id);
        if (next == end) break;
        if (*next != ',') return std::nullopt;
        p = next + 1;
    }
    return m;
}

std::string encode_follow_message(const follow_message& m) {
    return std::to_string(m.followee) + ' ' + std::to_string(m.follower);
}

std::optional<follow_message> decode_follow_message(std::string_view payload) {
    const auto sp = payload.find(' ');
    if (sp == std::string_view::npos) return std::nullopt;
    const auto a = number<long long>(payload.substr(0, sp));
    const auto b = number<long long>(payload.substr(sp + 1));
    if (!a || !b) return std::nullopt;
    return follow_message{*a, *b};
}

std::string encode_presence_message(const presence_message& m) {
    auto out = (m.online ? '+' : '-') + std::to_string(m.user);
    if (m.node != 0) out += ' ' + std::to_string(m.node);
    return out;
}

std::optional<presence_message> decode_presence_message(std::string_view payload) {
    if (payload.empty() || (payload[0] != '+' && payload[0] != '-')) return std::nullopt;
    auto rest = payload.substr(1);
    std::uint64_t node = 0;
    if (const auto sp = rest.find(' '); sp != std::string_view::npos) {
        const auto n = decode_node_hello(rest.substr(sp + 1));
        if (!n) return std::nullopt;
        node = *n;
        rest = rest.substr(0, sp);
    }
    const auto id = number<long long>(rest);
    if (!id) return std::nullopt;
    return presence_message{payload[0] == '+', *id, node};
}

std::string encode_presence_entry(long long user, std::uint64_t node) {
    return std::to_string(user) + '@' + std::to_string(node);
}

std::optional<std::pair<long long, std::uint64_t>> decode_presence_entry(std::string_view member) {
    const auto at = member.find('@');
    if (at == std::string_view::npos) return std::nullopt;
    const auto user = number<long long>(member.substr(0, at));
    const auto node = decode_node_hello(member.substr(at + 1));
    if (!user || !node) return std::nullopt;
    return std::pair{*user, *node};
}

std::string encode_node_channel(std::uint64_t node) {
    std::string out(node_channel_prefix);
    out += std::to_string(node);
    return out;
}

std::string encode_node_hello(std::uint64_t node) {
    return std::to_string(node);
}

std::optional<std::uint64_t> decode_node_hello(std::string_view payload) {
    const auto n = number<std::uint64_t>(payload);
    if (!n || *n == 0) return std::nullopt;
    return n;
}

std::string encode_gap_hint(std::uint64_t node, long long from) {
    return std::to_string(node) + " " + std::to_string(from);
}

std::optional<std::pair<std::uint64_t, long long>> decode_gap_hint(std::string_view payload) {
    const auto space = payload.find(' ');
    if (space == std::string_view::npos) return std::nullopt;
    const auto node = decode_node_hello(payload.substr(0, space));
    const auto from = number<long long>(payload.substr(space + 1));
    if (!node || !from || *from < 0) return std::nullopt;
    return std::pair{*node, *from};
}

std::string encode_user_id(long long user) {
    return std::to_string(user);
}

std::optional<long long> decode_user_id(std::string_view text) {
    return number<long long>(text);
}

std::string typing_frame(long long conversation, std::string_view user_ref, int expires_in_ms) {
    std::string out = R"({"type":"typing","conversation":")";
    out += std::to_string(conversation);
    out += R"(","user":)";
    out += user_ref;
    out += R"(,"expiresInMs":)";
    out += std::to_string(expires_in_ms);
    out += '}';
    return out;
}

}  // namespace chirp::fanout
