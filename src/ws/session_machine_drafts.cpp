// The sans-io session's part of collaborative drafts: draft_* messages go to the drafts
// registry through session_io (docs/protocol.md "Collaborative drafts").
#include <variant>

#include "session_machine.hpp"

namespace chirp::ws {

// The draft_* messages go to the drafts registry; a join or a push is answered before the
// session reads its next message.
bool session_machine::on_draft_message(const client_message& m) {
    const bool draft = std::holds_alternative<draft_join_message>(m) ||
                       std::holds_alternative<draft_push_message>(m) ||
                       std::holds_alternative<draft_presence_message>(m) ||
                       std::holds_alternative<draft_leave_message>(m);
    if (!draft) return false;
    if (!io_.drafts_available()) {
        send_error("unavailable", "collaborative drafts are not available on this connection");
        return true;
    }
    if (const auto* j = std::get_if<draft_join_message>(&m)) {
        busy_ = true;
        io_.draft_join(j->r);
    } else if (const auto* p = std::get_if<draft_push_message>(&m)) {
        busy_ = true;
        io_.draft_push(p->r);
    } else if (const auto* pr = std::get_if<draft_presence_message>(&m)) {
        io_.draft_presence(pr->r);
    } else {
        io_.draft_leave(std::get<draft_leave_message>(m).draft);
    }
    return true;
}

}  // namespace chirp::ws
