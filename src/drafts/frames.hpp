// The drafts' WebSocket frames (docs/protocol.md, "Collaborative drafts") and the bus payload
// that carries them between processes: "<node> <kind> <number> <frame>", kind u (an accepted
// update, number = its version), p (presence), c (draft_collaborators, number = the removed
// user or 0), x (draft_closed).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "chirp/collab/changeset.hpp"
#include "chirp/domain/wire.hpp"

namespace chirp::drafts::frames {

std::string user_json(const domain::user_ref& u);
std::string json_string(std::string_view s);

// {"version":k,"clientID":"…","changes":…,"user":…}: an Update as in draft_state.updates.
std::string update_object(std::uint64_t version, std::string_view client_id,
                          const collab::changeset& changes, std::string_view user);
// The draft_update frame of an Update object, and back.
std::string update_frame(long long draft, std::string_view update_object);
std::string update_object_of(long long draft, std::string_view update_frame);

struct editor_entry {
    std::string user;  // UserRef JSON
    std::string client_id;
};
std::string state(long long draft, std::string_view text, std::uint64_t version,
                  std::string_view owner, const std::vector<std::string>& collaborators,
                  const std::vector<editor_entry>& editors,
                  const std::optional<std::vector<std::string>>& updates);
std::string pushed(long long draft, std::uint64_t version, std::size_t accepted);
std::string reset(long long draft, std::string_view code, std::string_view message,
                  std::string_view text, std::uint64_t version);
std::string error(std::string_view code, long long draft, std::string_view message);
std::string left(long long draft);
std::string presence(long long draft, std::string_view user, std::string_view client_id,
                     std::uint64_t version,
                     const std::optional<std::pair<long long, long long>>& selection,
                     long long expires_ms);
std::string collaborators(long long draft, std::string_view owner,
                          const std::vector<std::string>& collaborators);
std::string closed(long long draft, std::string_view reason, std::optional<long long> tweet);

struct bus_message {
    std::string_view node;
    char kind = 0;
    std::uint64_t number = 0;
    std::string_view frame;
};
std::string bus_payload(std::string_view node, char kind, std::uint64_t number,
                        std::string_view frame);
std::optional<bus_message> parse_bus(std::string_view payload);

}  // namespace chirp::drafts::frames
