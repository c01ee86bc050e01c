// The home-timeline cache's coherence: the versioned chirp:tweets broadcast (baseline, apply
// in version order, drop everything on a gap) and the catch-up a read does before it answers
// (see home_timeline.cpp, "Coherence").
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <nlohmann/json.hpp>
#include <unordered_set>

#include "chirp/config/config.hpp"
#include "chirp/util/strings.hpp"
#include "home_timeline_impl.hpp"

using json = nlohmann::json;

namespace chirp::timeline::detail {

asio::awaitable<void> home_timeline_impl::run_probe(std::shared_ptr<version_probe> p) {
    co_await asio::post(ioc_, asio::use_awaitable);  // let this turn's reads join
    if (next_probe_ == p) next_probe_.reset();
    auto get = util::strings("HMGET", ver_key, "epoch", "ver");
    // A slow Redis must not hold the read: past the deadline PostgreSQL answers it.
    auto r = co_await redis_->call(std::move(get), probe_deadline);
    p->ok = r && parse_version(*r, p->epoch, p->ver);
    p->done = true;
    for (auto* t : p->waiters) t->cancel();
}

asio::awaitable<bool> home_timeline_impl::read_version(std::string& epoch, long long& v) {
    if (!next_probe_) {
        next_probe_ = std::make_shared<version_probe>();
        asio::co_spawn(ioc_, run_probe(next_probe_), asio::detached);
    }
    auto p = next_probe_;
    asio::steady_timer t(ioc_);
    t.expires_at(asio::steady_timer::time_point::max());
    p->waiters.push_back(&t);
    while (!p->done) co_await t.async_wait(tuple_awaitable);
    epoch = p->epoch;
    v = p->ver;
    co_return p->ok;
}

asio::awaitable<bool> home_timeline_impl::catch_up() {
    if (applied_ < 0 || !redis_->ready()) co_return false;
    std::string epoch;
    long long v = 0;
    const bool read = co_await read_version(epoch, v);
    if (!read || applied_ < 0) co_return false;
    // Another epoch: the counter started again and its first changes are still on their
    // way to us. A missing one: no write since it started, nothing to catch up with.
    if (!epoch.empty() && epoch != epoch_) co_return false;
    if (epoch.empty()) co_return true;
    if (applied_ >= v) co_return true;
    asio::steady_timer t(ioc_);
    t.expires_after(catch_up_wait);
    waiters_.push_back(&t);
    while (applied_ >= 0 && epoch_ == epoch && applied_ < v && !stopping_) {
        auto [ec] = co_await t.async_wait(tuple_awaitable);
        if (!ec) break;  // timed out
        t.expires_at(t.expiry());
    }
    std::erase(waiters_, &t);
    co_return applied_ >= 0 && epoch_ == epoch&& applied_ >= v;
}

// The changes received after version v0, or nullopt when they are not all remembered (or
// the cache was reset since): then nothing fetched may be cached.
std::optional<std::vector<const change_set*>> home_timeline_impl::changes_since(
    long long v0, std::uint64_t gen0) const {
    if (gen0 != generation_ || applied_ < 0) return std::nullopt;
    std::vector<const change_set*> out;
    if (applied_ == v0) return out;
    if (recent_.empty() || recent_.front().ver > v0 + 1) return std::nullopt;
    for (const auto& c : recent_)
        if (c.ver > v0) out.push_back(&c);
    return out;
}

void home_timeline_impl::reset(const char* why) {
    if (applied_ >= 0) spdlog::info("timeline cache reset: {}", why);
    applied_ = -1;
    epoch_.clear();
    baseline_pending_ = false;
    buffered_.clear();
    clear_all();
}

void home_timeline_impl::clear_all() {
    ++generation_;
    tweets_.clear();
    tweet_lru_.clear();
    users_.clear();
    user_lru_.clear();
    by_author_.clear();
    author_refs_ = 0;
    recent_.clear();
    wake();
}

// The version every later change builds on: HMGET once the subscription is confirmed
// (changes published meanwhile are buffered). Retried until it works or a reset starts a
// newer attempt.
asio::awaitable<void> home_timeline_impl::establish_baseline() {
    const auto gen = generation_;
    asio::steady_timer t(ioc_);
    bool warned = false;
    while (!stopping_ && gen == generation_) {
        if (!redis_->ready()) {
            t.expires_after(std::chrono::milliseconds(50));
            co_await t.async_wait(tuple_awaitable);
            continue;
        }
        co_await redis_->subscriptions_settled();
        if (gen != generation_ || !redis_->ready()) continue;
        baseline_pending_ = true;
        auto get = util::strings("HMGET", ver_key, "epoch", "ver");
        auto r = co_await redis_->call(std::move(get));
        if (gen != generation_) co_return;
        std::string epoch;
        long long v = 0;
        if (!r || !parse_version(*r, epoch, v)) {
            baseline_pending_ = false;
            buffered_.clear();
            if (!warned)
                spdlog::warn("timeline cache: cannot read {} from Redis; retrying", ver_key);
            warned = true;
            t.expires_after(std::chrono::seconds(1));
            co_await t.async_wait(tuple_awaitable);
            continue;
        }
        baseline_pending_ = false;
        epoch_ = epoch;
        applied_ = v;
        // Changes published after the HMGET but received before its answer.
        auto buffered = std::move(buffered_);
        buffered_.clear();
        for (const auto& b : buffered)
            if (b.epoch != epoch_ || b.ver > applied_) apply(b);
        wake();
        co_return;
    }
}

bool home_timeline_impl::parse_version(const redis::reply& r, std::string& epoch, long long& v) {
    if (r.type != redis::reply::kind::array || r.elements.size() != 2) return false;
    epoch = r.elements[0].type == redis::reply::kind::string ? r.elements[0].str : "";
    v = r.elements[1].type == redis::reply::kind::string ? std::atoll(r.elements[1].str.c_str())
                                                         : 0;
    return true;
}

void home_timeline_impl::on_broadcast(std::string_view payload) {
    auto b = decode_broadcast(payload);
    if (!b) {
        // Not from a writer of ours: whatever it said is unknown, so nothing cached can be
        // trusted; start again from a new baseline.
        spdlog::warn("timeline cache: malformed broadcast ({} bytes)", payload.size());
        reset("malformed broadcast");
        asio::co_spawn(ioc_, establish_baseline(), asio::detached);
        return;
    }
    if (applied_ < 0) {
        if (baseline_pending_ && buffered_.size() < max_recent) buffered_.push_back(std::move(*b));
        return;
    }
    apply(*b);
}

void home_timeline_impl::apply(const broadcast& b) {
    const auto& epoch = b.epoch;
    const long long ver = b.ver;
    if (epoch_.empty() && applied_ == 0 && ver == 1) epoch_ = epoch;  // the very first
    if (epoch != epoch_ || ver != applied_ + 1) {
        // A lost message, or a counter that started again: nothing cached can be trusted.
        spdlog::warn("timeline cache: broadcast {}/{} after {}/{}: cache dropped", epoch, ver,
                     epoch_, applied_);
        clear_all();
        epoch_ = epoch;
        applied_ = ver;
        return;
    }
    change_set cs;
    cs.ver = ver;
    for (const auto& c : b.changes) {
        if (const auto* x = std::get_if<tweet_created>(&c))
            on_created(cs, x->tweet, x->author, x->reply_to, x->retweet_of);
        else if (const auto* x = std::get_if<tweet_deleted>(&c))
            on_deleted(cs, x->tweet, x->author, x->reply_to, x->retweet_of);
        else if (const auto* x = std::get_if<like_changed>(&c))
            on_like(cs, x->tweet, x->actor, x->liked, x->likes, x->retweets, x->replies);
        else if (const auto* x = std::get_if<follow_changed>(&c))
            on_follow(cs, x->follower);
    }
    recent_.push_back(std::move(cs));
    while (recent_.size() > max_recent) recent_.pop_front();
    applied_ = ver;
    wake();
}

void home_timeline_impl::wake() {
    for (auto* t : waiters_) t->cancel();
}

}  // namespace chirp::timeline::detail
