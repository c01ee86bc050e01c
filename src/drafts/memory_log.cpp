// An in-memory draft log (see log.hpp): what the store's seam does, without a database.
#include "chirp/drafts/log.hpp"

namespace chirp::drafts {

long long memory_log::create(domain::user_ref owner, std::string text,
                             std::vector<domain::user_ref> collaborators) {
    entry e;
    e.snap.id = static_cast<long long>(drafts_.size()) + 1;
    e.snap.owner = std::move(owner);
    e.snap.collaborators = std::move(collaborators);
    e.snap.text = std::move(text);
    drafts_.push_back(std::move(e));
    return drafts_.back().snap.id;
}

snapshot* memory_log::find(long long draft) {
    if (draft < 1 || draft > static_cast<long long>(drafts_.size())) return nullptr;
    return &drafts_[static_cast<std::size_t>(draft - 1)].snap;
}

const std::vector<logged_update>& memory_log::history(long long draft) {
    return drafts_.at(static_cast<std::size_t>(draft - 1)).log;
}

boost::asio::awaitable<load_result> memory_log::load(long long draft) {
    load_result r;
    auto* s = find(draft);
    if (s == nullptr || s->closed) {
        r.st = status::not_found;
        co_return r;
    }
    r.st = status::ok;
    r.snap = *s;
    co_return r;
}

boost::asio::awaitable<append_result> memory_log::append(long long draft, std::uint64_t expected,
                                                         long long user,
                                                         std::vector<collab::update> updates,
                                                         std::string text) {
    append_result r;
    auto* s = find(draft);
    if (fail_next_appends > 0) {
        --fail_next_appends;
        r.st = status::unavailable;
        co_return r;
    }
    if (s == nullptr || s->closed) {
        r.st = status::not_found;
        co_return r;
    }
    if (!s->member(user)) {
        r.st = status::forbidden;
        co_return r;
    }
    if (s->version != expected) {
        r.st = status::conflict;
        r.version = s->version;
        co_return r;
    }
    auto& log = drafts_[static_cast<std::size_t>(draft - 1)].log;
    for (auto& u : updates)
        log.push_back({++s->version, std::move(u.client_id), user, std::move(u.changes)});
    s->text = std::move(text);
    r.st = status::ok;
    r.version = s->version;
    co_return r;
}

boost::asio::awaitable<since_result> memory_log::updates_since(long long draft,
                                                               std::uint64_t version, int limit) {
    since_result r;
    auto* s = find(draft);
    if (s == nullptr) {
        r.st = status::not_found;
        co_return r;
    }
    r.st = status::ok;
    const auto& log = drafts_[static_cast<std::size_t>(draft - 1)].log;
    for (auto v = version; v < log.size() && r.updates.size() < static_cast<std::size_t>(limit);
         ++v)
        r.updates.push_back(log[static_cast<std::size_t>(v)]);
    co_return r;
}

}  // namespace chirp::drafts
