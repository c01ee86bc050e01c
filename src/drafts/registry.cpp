// The drafts registry: sessions, joins, pushes and the per-draft worker (registry_impl.hpp).
#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <cstdio>
#include <random>

#include "frames.hpp"
#include "registry_impl.hpp"

namespace asio = boost::asio;

namespace chirp::drafts {
namespace detail {

namespace {

constexpr int catch_up_batch = 256;

frame_ptr share(std::string s) {
    return std::make_shared<const std::string>(std::move(s));
}

std::string random_node() {
    std::random_device rd;
    std::mt19937_64 rng(rd());
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(rng()));
    return buf;
}

}  // namespace

registry_impl::registry_impl(asio::io_context& ioc, draft_log& log, bus& b, options opts)
    : ioc_(ioc), log_(log), bus_(b), opts_(opts), node_(random_node()) {}

std::uint64_t registry_impl::connect(editor& e) {
    const auto id = next_session_++;
    sessions_[id].ed = &e;
    return id;
}

void registry_impl::disconnect(std::uint64_t session) {
    auto* s = find_session(session);
    if (s == nullptr) return;
    const auto drafts = s->drafts;
    for (auto d : drafts) {
        auto e = entry(d, false);
        if (!e) continue;
        remove_member(*e, session, true);
        maybe_idle(e);
    }
    sessions_.erase(session);
}

session_state* registry_impl::find_session(std::uint64_t id) {
    auto it = sessions_.find(id);
    return it == sessions_.end() ? nullptr : &it->second;
}

void registry_impl::send(std::uint64_t session, std::string frame) {
    send(session, share(std::move(frame)));
}

void registry_impl::send(std::uint64_t session, const frame_ptr& frame) {
    if (auto* s = find_session(session)) s->ed->send(frame);
}

void registry_impl::done(std::uint64_t session) {
    if (auto* s = find_session(session)) s->ed->done();
}

bool registry_impl::joined(std::uint64_t session, long long draft) const {
    auto it = sessions_.find(session);
    if (it == sessions_.end()) return false;
    const auto& d = it->second.drafts;
    return std::find(d.begin(), d.end(), draft) != d.end();
}

std::size_t registry_impl::editors() const {
    std::size_t n = 0;
    for (const auto& [id, e] : entries_) n += e->editors.size();
    return n;
}

registry_impl::entry_ptr registry_impl::entry(long long draft, bool create) {
    auto it = entries_.find(draft);
    if (it != entries_.end()) {
        if (create && it->second->is_idle) {
            idle_.erase(it->second->idle);
            it->second->is_idle = false;
        }
        return it->second;
    }
    if (!create) return nullptr;
    auto e = std::make_shared<draft_entry>();
    e->id = draft;
    e->channel = std::string(bus_prefix) + std::to_string(draft);
    entries_.emplace(draft, e);
    return e;
}

void registry_impl::join(std::uint64_t session, join_request r) {
    auto* s = find_session(session);
    if (s == nullptr) return;
    if (!joined(session, r.draft) && s->drafts.size() >= opts_.max_drafts_per_session) {
        send(session,
             frames::error("too_many_drafts", r.draft,
                           "a session joins at most " +
                               std::to_string(opts_.max_drafts_per_session) + " drafts at once"));
        return done(session);
    }
    auto e = entry(r.draft, true);
    task t;
    t.k = task::kind::join;
    t.session = session;
    t.join = std::move(r);
    enqueue(e, std::move(t));
}

void registry_impl::push(std::uint64_t session, push_request r) {
    if (!joined(session, r.draft)) {
        asio::co_spawn(ioc_, refuse(session, r.draft, true), asio::detached);
        return;
    }
    auto e = entry(r.draft, true);
    task t;
    t.k = task::kind::push;
    t.session = session;
    t.push = std::move(r);
    enqueue(e, std::move(t));
}

void registry_impl::leave(std::uint64_t session, long long draft) {
    if (joined(session, draft)) {
        if (auto e = entry(draft, false)) {
            remove_member(*e, session, true);
            maybe_idle(e);
        }
        drop_session_draft(session, draft);
    }
    send(session, frames::left(draft));
}

// A message about a draft the session has not joined: not_found for strangers and for drafts
// that do not exist (or are closed), not_joined for members.
asio::awaitable<void> registry_impl::refuse(std::uint64_t session, long long draft, bool answer) {
    auto r = co_await log_.load(draft);
    auto* s = find_session(session);
    if (s == nullptr) co_return;
    if (r.st == status::unavailable)
        send(session, frames::error("unavailable", draft, "the draft store is unavailable"));
    else if (r.st == status::ok && !r.snap.closed && r.snap.member(s->ed->user_id()))
        send(session, frames::error("not_joined", draft, "join the draft first"));
    else
        send(session, frames::error("not_found", draft, "no such draft"));
    if (answer) done(session);
}

void registry_impl::enqueue(const entry_ptr& e, task t) {
    if (e->tasks.size() >= opts_.queue_max && t.k == task::kind::remote) {
        e->overflow = true;
        return;
    }
    if (e->is_idle) {
        idle_.erase(e->idle);
        e->is_idle = false;
    }
    e->tasks.push_back(std::move(t));
    if (e->running) return;
    e->running = true;
    asio::co_spawn(ioc_, run(e), asio::detached);
}

asio::awaitable<void> registry_impl::run(entry_ptr e) {
    while (!e->tasks.empty()) {
        task t = std::move(e->tasks.front());
        e->tasks.pop_front();
        bool failed = false;
        try {
            co_await handle(e, t);
        } catch (const std::exception& ex) {
            spdlog::error("draft {}: {}", e->id, ex.what());
            failed = true;
        }
        if (failed && (t.k == task::kind::join || t.k == task::kind::push)) {
            send(t.session, frames::error("internal", e->id, "internal error"));
            done(t.session);
        }
        if (e->overflow) {
            e->overflow = false;
            task c;
            c.k = task::kind::catch_up;
            e->tasks.push_back(std::move(c));
        }
    }
    e->running = false;
    maybe_idle(e);
}

asio::awaitable<void> registry_impl::handle(entry_ptr e, task& t) {
    switch (t.k) {
        case task::kind::join:
            co_await do_join(e, t);
            co_return;
        case task::kind::push:
            co_await do_push(e, t);
            co_return;
        case task::kind::remote:
            apply_remote(*e, t);
            break;
        case task::kind::members:
            apply_members(*e, t);
            co_return;
        case task::kind::close:
            apply_close(e, t);
            co_return;
        case task::kind::catch_up:
            e->stale = true;
            break;
    }
    if (e->stale && e->loaded && !e->editors.empty()) co_await ensure_ready(e);
}

// Subscribed, loaded and current: what a join or a push needs first.
asio::awaitable<status> registry_impl::ensure_ready(entry_ptr e) {
    if (!e->subscribed) {
        e->subscribed = true;
        e->stale = true;
        co_await bus_.subscribe(e->channel);
    }
    if (e->loaded && !e->stale) co_return status::ok;
    auto r = co_await log_.load(e->id);
    if (r.st != status::ok) co_return r.st;
    if (r.snap.closed) co_return status::not_found;
    std::string text = std::move(r.snap.text);
    e->meta = std::move(r.snap);
    e->meta.text.clear();
    if (!e->loaded || !e->auth || e->auth->version() > e->meta.version) {
        e->meta.text = std::move(text);
        reset_from(*e, e->meta);
        e->meta.text.clear();
    } else if (e->auth->version() < e->meta.version && !co_await catch_up(e)) {
        e->meta.text = std::move(text);
        reset_from(*e, e->meta);
        e->meta.text.clear();
    }
    e->stale = false;
    co_return status::ok;
}

void registry_impl::reset_from(draft_entry& e, const snapshot& s) {
    collab::authority_options o{opts_.window, opts_.max_code_points, opts_.max_updates_per_push};
    auto a = collab::authority::from_utf8(s.text, s.version, o);
    if (!a) {
        spdlog::error("draft {}: its text is not UTF-8: {}", e.id, a.error().message);
        e.auth.emplace(std::u16string{}, s.version, o);
    } else {
        e.auth.emplace(std::move(*a));
    }
    e.objects.clear();
    e.loaded = true;
}

namespace {
std::string user_of(const draft_entry& e, long long user,
                    const std::unordered_map<std::uint64_t, session_state>& sessions) {
    if (e.meta.owner.id == user) return frames::user_json(e.meta.owner);
    for (const auto& c : e.meta.collaborators)
        if (c.id == user) return frames::user_json(c);
    for (const auto& m : e.editors) {
        auto it = sessions.find(m.session);
        if (m.user == user && it != sessions.end()) return it->second.ed->user_json();
    }
    return frames::user_json({user, "", ""});
}
}  // namespace

// Folds the log's updates after the authority's version into it (and to the editors).
asio::awaitable<bool> registry_impl::catch_up(entry_ptr e) {
    for (int round = 0; round < 64; ++round) {
        auto r = co_await log_.updates_since(e->id, e->auth->version(), catch_up_batch);
        if (r.st != status::ok) co_return false;
        for (auto& u : r.updates) {
            if (u.version != e->auth->version() + 1) co_return false;
            auto obj = frames::update_object(
                u.version, u.client_id, u.changes,
                u.user.id != 0 ? frames::user_json(u.user) : user_of(*e, u.user_id, sessions_));
            if (auto err = e->auth->append({std::move(u.client_id), std::move(u.changes)})) {
                spdlog::error("draft {} version {}: {}", e->id, u.version, err->message);
                co_return false;
            }
            accepted(*e, obj, u.version, false);
        }
        if (r.updates.size() < static_cast<std::size_t>(catch_up_batch)) co_return true;
    }
    co_return false;
}

void registry_impl::accepted(draft_entry& e, const std::string& object, std::uint64_t version,
                             bool publish) {
    e.objects.push_back(object);
    const auto kept = e.auth->version() - e.auth->window_start();
    while (e.objects.size() > kept) e.objects.pop_front();
    auto frame = share(frames::update_frame(e.id, object));
    broadcast(e, frame);
    if (publish) bus_.publish(e.channel, frames::bus_payload(node_, 'u', version, *frame));
}

std::string registry_impl::state_frame(draft_entry& e, std::optional<std::uint64_t> since) {
    const auto& a = *e.auth;
    std::optional<std::vector<std::string>> updates;
    if (since && *since >= a.window_start() && *since <= a.version() &&
        e.objects.size() == a.version() - a.window_start())
        updates.emplace(e.objects.begin() + static_cast<std::ptrdiff_t>(*since - a.window_start()),
                        e.objects.end());
    std::vector<std::string> collabs;
    for (const auto& c : e.meta.collaborators) collabs.push_back(frames::user_json(c));
    std::vector<frames::editor_entry> eds;
    for (const auto& m : e.editors)
        if (auto* s = find_session(m.session)) eds.push_back({s->ed->user_json(), m.client_id});
    const auto now = clock::now();
    for (const auto& [client, r] : e.remote)
        if (r.expires > now) eds.push_back({r.user, client});
    return frames::state(e.id, a.text_utf8(), a.version(), frames::user_json(e.meta.owner), collabs,
                         eds, updates);
}

void registry_impl::send_reset(std::uint64_t session, draft_entry& e, std::string_view code,
                               std::string_view message) {
    if (e.auth)
        send(session, frames::reset(e.id, code, message, e.auth->text_utf8(), e.auth->version()));
    else
        send(session, frames::reset(e.id, code, message, "", 0));
}

asio::awaitable<void> registry_impl::do_join(entry_ptr e, task& t) {
    if (find_session(t.session) == nullptr) co_return;
    auto st = co_await ensure_ready(e);
    auto* s = find_session(t.session);
    if (s == nullptr) co_return;
    if (st == status::ok && !e->meta.member(s->ed->user_id())) {
        // Added a moment ago (the notice may still be on its way): read the members again.
        e->stale = true;
        st = co_await ensure_ready(e);
        s = find_session(t.session);
        if (s == nullptr) co_return;
    }
    if (st == status::unavailable) {
        send(t.session, frames::error("unavailable", e->id, "the draft store is unavailable"));
        co_return done(t.session);
    }
    if (st != status::ok || !e->meta.member(s->ed->user_id())) {
        send(t.session, frames::error("not_found", e->id, "no such draft"));
        co_return done(t.session);
    }
    auto m = std::find_if(e->editors.begin(), e->editors.end(),
                          [&](const member& x) { return x.session == t.session; });
    if (m == e->editors.end()) {
        if (s->drafts.size() >= opts_.max_drafts_per_session) {
            send(t.session, frames::error("too_many_drafts", e->id, "too many drafts joined"));
            co_return done(t.session);
        }
        e->editors.push_back({t.session, s->ed->user_id(), t.join.client_id});
        s->drafts.push_back(e->id);
    } else if (!t.join.client_id.empty()) {
        m->client_id = t.join.client_id;
    }
    send(t.session, state_frame(*e, t.join.version));
    done(t.session);
}

asio::awaitable<void> registry_impl::do_push(entry_ptr e, task& t) {
    const auto session = t.session;
    auto& r = t.push;
    if (!joined(session, e->id)) {
        co_await refuse(session, e->id, true);
        co_return;
    }
    const auto st = co_await ensure_ready(e);
    if (find_session(session) == nullptr) co_return;
    if (st != status::ok) {
        if (st == status::unavailable)
            send(session, frames::error("unavailable", e->id, "the draft store is unavailable"));
        else
            send(session, frames::error("not_found", e->id, "no such draft"));
        co_return done(session);
    }
    if (r.error) {
        send_reset(session, *e, collab::code_string(r.error->code), r.error->message);
        co_return done(session);
    }
    std::vector<collab::changeset> changes;
    std::string client = r.updates.empty() ? std::string() : r.updates.front().client_id;
    for (auto& u : r.updates) {
        if (u.client_id != client) {
            send_reset(session, *e, "malformed", "the updates of a push carry one clientID");
            co_return done(session);
        }
        changes.push_back(std::move(u.changes));
    }
    for (int attempt = 0; attempt <= opts_.append_retries; ++attempt) {
        auto* s = find_session(session);
        if (s == nullptr || !joined(session, e->id)) co_return;
        const auto user = s->ed->user_id();
        const auto user_json = s->ed->user_json();
        collab::authority trial = *e->auth;
        auto res = trial.push(r.version, client, changes);
        if (!res) {
            send_reset(session, *e, collab::code_string(res.error().code), res.error().message);
            co_return done(session);
        }
        if (res->accepted.empty()) {
            send(session, frames::pushed(e->id, e->auth->version(), 0));
            co_return done(session);
        }
        const auto expected = e->auth->version();
        auto updates = res->accepted;
        auto text = trial.text_utf8();
        auto ar = co_await log_.append(e->id, expected, user, std::move(updates), std::move(text));
        if (ar.st == status::ok) {
            const auto n = res->accepted.size();
            if (ar.version != expected + n)
                spdlog::warn("draft {}: appended up to {}, expected {}", e->id, ar.version,
                             expected + n);
            e->auth = std::move(trial);
            for (std::size_t i = 0; i < n; ++i) {
                const auto v = expected + i + 1;
                accepted(*e, frames::update_object(v, client, res->accepted[i].changes, user_json),
                         v, true);
            }
            send(session, frames::pushed(e->id, e->auth->version(), n));
            co_return done(session);
        }
        if (ar.st == status::conflict) {
            // Another process appended first: fold its updates in and rebase again.
            if (!co_await catch_up(e)) {
                e->stale = true;
                if (co_await ensure_ready(e) != status::ok) break;
            }
            continue;
        }
        if (ar.st == status::unavailable) {
            e->stale = true;  // the append may have committed: read the log before the next
            send(session,
                 frames::error("unavailable", e->id, "the draft store is unavailable; push again"));
            co_return done(session);
        }
        // Removed from the draft, or the draft is closed: the session is detached.
        remove_member(*e, session, true);
        drop_session_draft(session, e->id);
        send(session, frames::error("not_found", e->id, "no such draft"));
        co_return done(session);
    }
    if (find_session(session) == nullptr) co_return;
    send_reset(session, *e, "conflict", "the draft changed too often meanwhile; reset");
    done(session);
}

}  // namespace detail

std::unique_ptr<registry> create_registry(asio::io_context& ioc, draft_log& log, bus& b,
                                          options opts) {
    return std::make_unique<detail::registry_impl>(ioc, log, b, opts);
}

}  // namespace chirp::drafts
