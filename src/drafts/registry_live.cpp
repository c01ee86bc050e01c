// The drafts registry's live side (registry_impl.hpp): broadcasting to the editors of this
// process, the bus between processes, presence (throttled, coalesced, never stored), the REST
// half's notices and the eviction of drafts without editors.
#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include "chirp/domain/text.hpp"
#include "frames.hpp"
#include "registry_impl.hpp"

namespace asio = boost::asio;
using json = nlohmann::json;

namespace chirp::drafts::detail {

namespace {

frame_ptr share(std::string s) {
    return std::make_shared<const std::string>(std::move(s));
}

std::optional<domain::user_ref> ref_of(const json& j) {
    if (!j.is_object()) return std::nullopt;
    auto id = j.find("id");
    if (id == j.end() || !id->is_string()) return std::nullopt;
    auto n = domain::parse_id(id->get_ref<const std::string&>());
    if (!n) return std::nullopt;
    domain::user_ref r;
    r.id = *n;
    r.handle = j.value("handle", "");
    r.display_name = j.value("displayName", "");
    return r;
}

}  // namespace

void registry_impl::broadcast(draft_entry& e, const frame_ptr& frame, std::uint64_t except) {
    for (const auto& m : e.editors)
        if (m.session != except) send(m.session, frame);
}

// The session leaves the draft's editors; with presence_end the others see its cursor go.
void registry_impl::remove_member(draft_entry& e, std::uint64_t session, bool presence_end) {
    auto m = std::find_if(e.editors.begin(), e.editors.end(),
                          [&](const member& x) { return x.session == session; });
    if (m == e.editors.end()) return;
    std::string client = m->client_id;
    if (auto* s = find_session(session)) {
        auto& slots = s->presence;
        for (auto it = slots.begin(); it != slots.end(); ++it) {
            if (it->draft != e.id) continue;
            if (!it->client_id.empty()) client = it->client_id;
            slots.erase(it);
            break;
        }
        if (presence_end && e.auth) {
            auto frame = share(frames::presence(e.id, s->ed->user_json(), client, e.auth->version(),
                                                std::nullopt, 0));
            e.editors.erase(m);
            broadcast(e, frame);
            bus_.publish(e.channel, frames::bus_payload(node_, 'p', 0, *frame));
            return;
        }
    }
    e.editors.erase(m);
}

void registry_impl::drop_session_draft(std::uint64_t session, long long draft) {
    if (auto* s = find_session(session)) std::erase(s->drafts, draft);
}

// A draft without editors gives its subscription back (and is no longer kept current: it
// reloads when joined again); loaded ones stay in the LRU of idle drafts.
void registry_impl::maybe_idle(const entry_ptr& e) {
    if (!e->editors.empty() || e->running) return;
    if (e->subscribed) {
        bus_.unsubscribe(e->channel);
        e->subscribed = false;
    }
    e->stale = true;
    e->remote.clear();
    if (!e->loaded) {
        if (e->is_idle) idle_.erase(e->idle);
        entries_.erase(e->id);
        return;
    }
    if (!e->is_idle) {
        e->idle = idle_.insert(idle_.end(), e->id);
        e->is_idle = true;
    }
    evict();
}

void registry_impl::evict() {
    while (idle_.size() > opts_.idle_drafts) {
        const auto id = idle_.front();
        idle_.pop_front();
        entries_.erase(id);
    }
}

void registry_impl::presence(std::uint64_t session, presence_request r) {
    if (!joined(session, r.draft)) {
        asio::co_spawn(ioc_, refuse(session, r.draft, false), asio::detached);
        return;
    }
    auto e = entry(r.draft, false);
    auto* s = find_session(session);
    if (!e || !e->auth || s == nullptr) return;
    presence_slot* slot = nullptr;
    for (auto& p : s->presence)
        if (p.draft == r.draft) slot = &p;
    if (slot == nullptr) {
        s->presence.push_back({});
        slot = &s->presence.back();
        slot->draft = r.draft;
    }
    slot->client_id = r.client_id;
    for (auto& m : e->editors)
        if (m.session == session) m.client_id = r.client_id;
    auto frame = share(frames::presence(r.draft, s->ed->user_json(), r.client_id, r.version,
                                        r.selection, opts_.presence_expiry.count()));
    const auto now = clock::now();
    if (now - slot->last_sent >= opts_.presence_interval)
        return send_presence(session, *slot, frame);
    // Over 10/s: the latest one goes out when the throttle opens.
    slot->pending = std::move(frame);
    if (!slot->scheduled) {
        slot->scheduled = true;
        schedule_presence(session, r.draft, slot->last_sent + opts_.presence_interval);
    }
}

void registry_impl::send_presence(std::uint64_t session, presence_slot& slot,
                                  const frame_ptr& frame) {
    slot.last_sent = clock::now();
    slot.pending.reset();
    auto e = entry(slot.draft, false);
    if (!e) return;
    broadcast(*e, frame, session);
    bus_.publish(e->channel, frames::bus_payload(node_, 'p', 0, *frame));
}

void registry_impl::schedule_presence(std::uint64_t session, long long draft,
                                      clock::time_point at) {
    auto wait = [](registry_impl* self, std::uint64_t session, long long draft,
                   clock::time_point at) -> asio::awaitable<void> {
        asio::steady_timer t(self->ioc_, at);
        boost::system::error_code ec;
        co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        auto* s = self->find_session(session);
        if (s == nullptr) co_return;
        for (auto& slot : s->presence) {
            if (slot.draft != draft) continue;
            slot.scheduled = false;
            if (slot.pending && self->joined(session, draft)) {
                auto f = slot.pending;
                self->send_presence(session, slot, f);
            }
            break;
        }
    };
    asio::co_spawn(ioc_, wait(this, session, draft, at), asio::detached);
}

void registry_impl::on_bus_message(std::string_view channel, std::string_view payload) {
    if (channel.substr(0, bus_prefix.size()) != bus_prefix) return;
    auto id = domain::parse_id(channel.substr(bus_prefix.size()));
    auto m = frames::parse_bus(payload);
    if (!id || !m || m->node == node_) return;
    auto e = entry(*id, false);
    if (!e || !e->subscribed) return;
    task t;
    t.number = m->number;
    t.frame = std::string(m->frame);
    switch (m->kind) {
        case 'u':
            t.k = task::kind::remote;
            return enqueue(e, std::move(t));
        case 'p':
            return remote_presence(*e, m->frame);
        case 'c':
            t.k = task::kind::members;
            return enqueue(e, std::move(t));
        case 'x':
            t.k = task::kind::close;
            return enqueue(e, std::move(t));
        default:
            return;
    }
}

void registry_impl::on_bus_reconnected() {
    for (auto& [id, e] : entries_) {
        if (!e->subscribed || !e->loaded) continue;
        task t;
        t.k = task::kind::catch_up;
        enqueue(e, std::move(t));
    }
}

// An update accepted by another process: the next version is applied, older ones are known,
// a gap is caught up from the log (handle() does, seeing `stale`).
void registry_impl::apply_remote(draft_entry& e, task& t) {
    if (!e.loaded || e.stale || !e.auth || t.number <= e.auth->version()) return;
    if (t.number > e.auth->version() + 1) {
        e.stale = true;
        return;
    }
    auto j = json::parse(t.frame, nullptr, false);
    std::optional<collab::changeset> changes;
    if (j.is_object() && j.contains("changes") && j["clientID"].is_string()) {
        auto c = collab::changeset::from_json(j["changes"]);
        if (c) changes = std::move(*c);
    }
    if (!changes) {
        e.stale = true;
        return;
    }
    if (auto err = e.auth->append({j["clientID"].get<std::string>(), std::move(*changes)})) {
        spdlog::warn("draft {}: a remote update does not fit: {}", e.id, err->message);
        e.stale = true;
        return;
    }
    accepted(e, frames::update_object_of(e.id, t.frame), t.number, false);
}

void registry_impl::remote_presence(draft_entry& e, std::string_view frame) {
    broadcast(e, share(std::string(frame)));
    auto j = json::parse(frame, nullptr, false);
    if (!j.is_object() || !j["clientID"].is_string()) return;
    const auto client = j["clientID"].get<std::string>();
    const auto now = clock::now();
    std::erase_if(e.remote, [&](const auto& kv) { return kv.second.expires <= now; });
    if (j["selection"].is_null()) {
        e.remote.erase(client);
    } else if (e.remote.size() < 64 || e.remote.contains(client)) {
        e.remote[client] = {j["user"].dump(), now + opts_.presence_expiry};
    }
}

// draft_collaborators: new members; editors who are no member any more are detached.
void registry_impl::apply_members(draft_entry& e, const task& t) {
    auto j = json::parse(t.frame, nullptr, false);
    if (!j.is_object()) return;
    if (auto o = ref_of(j["owner"])) e.meta.owner = *o;
    if (j["collaborators"].is_array()) {
        e.meta.collaborators.clear();
        for (const auto& c : j["collaborators"])
            if (auto r = ref_of(c)) e.meta.collaborators.push_back(*r);
    }
    broadcast(e, share(t.frame));
    std::vector<std::uint64_t> gone;
    for (const auto& m : e.editors)
        if (!e.meta.member(m.user) || (t.number != 0 && m.user == static_cast<long long>(t.number)))
            gone.push_back(m.session);
    if (gone.empty()) return;
    auto frame = share(frames::closed(e.id, "removed", std::nullopt));
    for (auto s : gone) {
        send(s, frame);
        remove_member(e, s, true);
        drop_session_draft(s, e.id);
    }
}

// draft_closed (published, discarded): every editor is detached, the draft forgotten.
void registry_impl::apply_close(const entry_ptr& e, const task& t) {
    broadcast(*e, share(t.frame));
    for (const auto& m : e->editors) drop_session_draft(m.session, e->id);
    for (auto& [id, s] : sessions_)
        std::erase_if(s.presence, [&](const presence_slot& p) { return p.draft == e->id; });
    e->editors.clear();
    e->loaded = false;
    e->auth.reset();
    e->objects.clear();
}

void registry_impl::notify(draft_notice n) {
    if (n.k == draft_notice::kind::collaborators) {
        asio::co_spawn(ioc_, notify_members(n), asio::detached);
        return;
    }
    const char* reason = n.k == draft_notice::kind::published ? "published" : "discarded";
    deliver_notice(n.draft_id, 'x', 0, frames::closed(n.draft_id, reason, n.tweet_id));
}

asio::awaitable<void> registry_impl::notify_members(draft_notice n) {
    auto r = co_await log_.load(n.draft_id);
    if (r.st != status::ok) {
        spdlog::warn("draft {}: collaborators changed, but the draft could not be loaded",
                     n.draft_id);
        co_return;
    }
    std::vector<std::string> collabs;
    for (const auto& c : r.snap.collaborators) collabs.push_back(frames::user_json(c));
    const auto removed = n.removed_user_id ? static_cast<std::uint64_t>(*n.removed_user_id) : 0;
    deliver_notice(n.draft_id, 'c', removed,
                   frames::collaborators(n.draft_id, frames::user_json(r.snap.owner), collabs));
}

void registry_impl::deliver_notice(long long draft, char kind, std::uint64_t number,
                                   std::string frame) {
    const auto channel = std::string(bus_prefix) + std::to_string(draft);
    bus_.publish(channel, frames::bus_payload(node_, kind, number, frame));
    auto e = entry(draft, false);
    if (!e || !e->loaded) return;
    task t;
    t.k = kind == 'x' ? task::kind::close : task::kind::members;
    t.number = number;
    t.frame = std::move(frame);
    enqueue(e, std::move(t));
}

}  // namespace chirp::drafts::detail
