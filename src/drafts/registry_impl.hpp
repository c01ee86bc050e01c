// The registry's state (registry.hpp): per draft an entry with its authority, its editors on
// this process and its task queue; per session the drafts it joined and its presence throttle.
// registry.cpp: sessions, joins, pushes and the per-draft worker; registry_live.cpp: the bus,
// presence, notices and eviction.
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "chirp/collab/authority.hpp"
#include "chirp/drafts/registry.hpp"

namespace chirp::drafts::detail {

using clock = std::chrono::steady_clock;
using frame_ptr = std::shared_ptr<const std::string>;

struct member {
    std::uint64_t session = 0;
    long long user = 0;
    std::string client_id;
};

struct task {
    enum class kind { join, push, remote, members, close, catch_up } k = kind::join;
    std::uint64_t session = 0;
    join_request join;
    push_request push;
    std::uint64_t number = 0;  // remote: the version; members: the removed user (0: none)
    std::string frame;         // remote, members, close: the frame as published
};

struct remote_editor {
    std::string user;
    clock::time_point expires;
};

struct draft_entry {
    long long id = 0;
    std::string channel;
    bool loaded = false;
    bool subscribed = false;
    bool stale = true;  // not kept current by the bus since loaded: reload before serving
    snapshot meta;      // owner and collaborators (text and version live in auth)
    std::optional<collab::authority> auth;
    std::deque<std::string> objects;  // Update objects of auth's window, oldest first
    std::vector<member> editors;
    std::map<std::string, remote_editor> remote;  // by clientID, from presence on the bus
    std::deque<task> tasks;
    bool running = false;
    bool overflow = false;  // remote updates were dropped from a full queue: catch up
    std::list<long long>::iterator idle;
    bool is_idle = false;
};

struct presence_slot {
    long long draft = 0;
    std::string client_id;
    clock::time_point last_sent{};
    frame_ptr pending;
    bool scheduled = false;
};

struct session_state {
    editor* ed = nullptr;
    std::vector<long long> drafts;
    std::vector<presence_slot> presence;
};

class registry_impl final : public registry {
public:
    registry_impl(boost::asio::io_context& ioc, draft_log& log, bus& b, options opts);

    std::uint64_t connect(editor& e) override;
    void disconnect(std::uint64_t session) override;
    void join(std::uint64_t session, join_request r) override;
    void push(std::uint64_t session, push_request r) override;
    void presence(std::uint64_t session, presence_request r) override;
    void leave(std::uint64_t session, long long draft) override;
    void notify(draft_notice n) override;
    void on_bus_message(std::string_view channel, std::string_view payload) override;
    void on_bus_reconnected() override;
    std::size_t drafts_loaded() const override { return entries_.size(); }
    std::size_t editors() const override;

private:
    using entry_ptr = std::shared_ptr<draft_entry>;

    // registry.cpp
    session_state* find_session(std::uint64_t id);
    void send(std::uint64_t session, std::string frame);
    void send(std::uint64_t session, const frame_ptr& frame);
    void done(std::uint64_t session);
    bool joined(std::uint64_t session, long long draft) const;
    entry_ptr entry(long long draft, bool create);
    void enqueue(const entry_ptr& e, task t);
    boost::asio::awaitable<void> run(entry_ptr e);
    boost::asio::awaitable<void> handle(entry_ptr e, task& t);
    boost::asio::awaitable<status> ensure_ready(entry_ptr e);
    boost::asio::awaitable<bool> catch_up(entry_ptr e);
    boost::asio::awaitable<void> do_join(entry_ptr e, task& t);
    boost::asio::awaitable<void> do_push(entry_ptr e, task& t);
    boost::asio::awaitable<void> refuse(std::uint64_t session, long long draft, bool answer);
    void reset_from(draft_entry& e, const snapshot& s);
    void accepted(draft_entry& e, const std::string& object, std::uint64_t version, bool publish);
    void send_reset(std::uint64_t session, draft_entry& e, std::string_view code,
                    std::string_view message);
    std::string state_frame(draft_entry& e, std::optional<std::uint64_t> since);

    // registry_live.cpp
    void broadcast(draft_entry& e, const frame_ptr& frame, std::uint64_t except = 0);
    void remove_member(draft_entry& e, std::uint64_t session, bool presence_end);
    void drop_session_draft(std::uint64_t session, long long draft);
    void maybe_idle(const entry_ptr& e);
    void evict();
    void send_presence(std::uint64_t session, presence_slot& slot, const frame_ptr& frame);
    void schedule_presence(std::uint64_t session, long long draft, clock::time_point at);
    void apply_remote(draft_entry& e, task& t);
    void apply_members(draft_entry& e, const task& t);
    void apply_close(const entry_ptr& e, const task& t);
    void remote_presence(draft_entry& e, std::string_view frame);
    boost::asio::awaitable<void> notify_members(draft_notice n);
    void deliver_notice(long long draft, char kind, std::uint64_t number, std::string frame);

    boost::asio::io_context& ioc_;
    draft_log& log_;
    bus& bus_;
    options opts_;
    std::string node_;
    std::uint64_t next_session_ = 1;
    std::unordered_map<std::uint64_t, session_state> sessions_;
    std::unordered_map<long long, entry_ptr> entries_;
    std::list<long long> idle_;  // drafts without editors, least recently used first
};

}  // namespace chirp::drafts::detail
