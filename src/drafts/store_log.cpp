// The draft log over the event store's typed draft seam (store/drafts.hpp): reads on the
// reader pool, appends through the event writer, each with the store's deadlines; the loop
// only awaits. A lost commit (outcome_unknown) is `unavailable`: the registry reads the log
// again before its next append, where it finds the updates if they were committed.
#include "chirp/domain/errc.hpp"
#include "chirp/drafts/log.hpp"
#include "chirp/store/store.hpp"

namespace asio = boost::asio;

namespace chirp::drafts {
namespace {

status status_of(errc e) {
    switch (e) {
        case errc::ok:
            return status::ok;
        case errc::not_found:
            return status::not_found;
        case errc::forbidden:
            return status::forbidden;
        case errc::conflict:
            return status::conflict;
        default:
            return status::unavailable;
    }
}

class store_log final : public draft_log {
public:
    explicit store_log(store::event_store& st) : st_(st) {}

    asio::awaitable<load_result> load(long long draft) override {
        load_result out;
        auto r = co_await st_.load_draft(draft);
        out.st = status_of(r.error());
        if (!r) co_return out;
        auto& d = r->draft;
        out.snap.id = d.id;
        out.snap.owner = std::move(d.owner);
        out.snap.collaborators = std::move(d.collaborators);
        out.snap.text = std::move(d.text);
        out.snap.version = static_cast<std::uint64_t>(d.version);
        out.snap.closed = r->closed;
        co_return out;
    }

    asio::awaitable<append_result> append(long long draft, std::uint64_t expected, long long user,
                                          std::vector<collab::update> updates,
                                          std::string text) override {
        append_result out;
        auto r = co_await st_.draft_append(draft, static_cast<long long>(expected), user,
                                           std::move(updates), std::move(text));
        out.st = status_of(r.error());
        if (!r) co_return out;
        out.st = r->conflict ? status::conflict : status::ok;
        out.version = static_cast<std::uint64_t>(r->version);
        co_return out;
    }

    asio::awaitable<since_result> updates_since(long long draft, std::uint64_t version,
                                                int limit) override {
        since_result out;
        auto r = co_await st_.draft_updates_since(draft, static_cast<long long>(version), limit);
        out.st = status_of(r.error());
        if (!r) co_return out;
        for (auto& u : *r) {
            logged_update l;
            l.version = static_cast<std::uint64_t>(u.version);
            l.client_id = std::move(u.update.client_id);
            l.user_id = u.user.id;
            l.changes = std::move(u.update.changes);
            l.user = std::move(u.user);
            out.updates.push_back(std::move(l));
        }
        co_return out;
    }

private:
    store::event_store& st_;
};

}  // namespace

std::unique_ptr<draft_log> create_store_log(store::event_store& st) {
    return std::make_unique<store_log>(st);
}

}  // namespace chirp::drafts
