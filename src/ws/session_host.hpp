// What the WebSocket and SSE transports share: the session_machine they drive, its io on the
// event loop (one timer, the hub, the replay batcher, the token verifier), and the hub's view
// of the session (session_base). Each transport adds its socket, its writer and its close.
#pragma once

#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <exception>
#include <memory>

#include "session.hpp"
#include "session_machine.hpp"

namespace chirp::ws {

// A timer bound to the io_context's own executor (8 bytes) rather than a polymorphic
// any_io_executor: every session holds one or two, and each pending wait carries it too.
using loop_timer =
    boost::asio::basic_waitable_timer<std::chrono::steady_clock,
                                      boost::asio::wait_traits<std::chrono::steady_clock>,
                                      boost::asio::io_context::executor_type>;

class session_host;

// The registry's view of a session (drafts::editor), made at the session's first draft
// message: most sessions never edit a draft, and an idle one holds a null pointer instead.
class draft_editor final : public drafts::editor {
public:
    draft_editor(session_host& s, std::string user_json)
        : s_(s), user_json_(std::move(user_json)) {}
    long long user_id() const override;
    const std::string& user_json() const override { return user_json_; }
    void send(const std::shared_ptr<const std::string>& frame) override;
    void done() override;

    std::uint64_t id = 0;  // the registry's id of the session

private:
    session_host& s_;
    std::string user_json_;
};

class session_host : public session_base,
                     public session_io,
                     public std::enable_shared_from_this<session_host> {
public:
    explicit session_host(session_deps& d);

    // session_base (the hub): forwarded to the machine; deliver never suspends.
    long long user_id() const override { return m_.user_id(); }
    bool wants_stats() const override { return m_.wants_stats(); }
    void deliver(stream s, const live_event& ev) override { m_.deliver(s, ev); }
    void deliver_ephemeral(const std::shared_ptr<const std::string>& frame) override {
        m_.deliver_ephemeral(frame);
    }
    void resync_from_log(long long from) override { m_.resync_from_log(from); }
    void go_away() override { m_.close(1001, "server going away"); }

    // session_io, the parts both transports do alike.
    clock::time_point now() const override { return clock::now(); }
    std::int64_t unix_now() const override;
    std::optional<std::string> verify(std::string_view token, auth::claims& out) override;
    void attach() override;
    void detach() override;
    void start_replay(stream s, long long user, long long since) override;
    void send_typing(long long conversation, std::string user_ref) override;
    void arm_timer(clock::time_point at) override;
    bool admit(long long user) override;
    void release(long long user) override;
    bool allow_replay(long long user) override;

    // Collaborative drafts: requests to the registry (session_deps::drafts), which answers
    // through the session's draft_editor.
    bool drafts_available() const override { return d_.drafts != nullptr; }
    void draft_join(drafts::join_request r) override;
    void draft_push(drafts::push_request r) override;
    void draft_presence(drafts::presence_request r) override;
    void draft_leave(long long draft) override;

protected:
    // The transport is done with its socket.
    void finish();
    void record_sent(const queued& q);
    // An exception in a task of the session (a bug): logged, the session closes with 1011.
    void failed(const std::exception& e);
    // The limits' state (session_deps::limits), a private region when none was given.
    util::limits_region& limits();

    session_deps& d_;
    session_machine m_;
    loop_timer timer_;  // the machine's deadlines

private:
    friend class draft_editor;
    // The session as the registry knows it (connected at the first draft message).
    std::uint64_t draft_session();

    std::unique_ptr<draft_editor> draft_;
};

}  // namespace chirp::ws
