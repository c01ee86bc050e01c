// @codemirror/collab's rebaseUpdates, declared in changeset.hpp. CodeMirror switches between a
// ChangeSet and a ChangeDesc for the accumulated changes of the other clients, and the two take
// different shortcuts for empty changes (ChangeSet.mapDesc always runs mapSet, ChangeDesc.mapDesc
// returns itself when the other changes are empty), which shows in the section structure of the
// results; `acc` tracks which of the two CodeMirror would hold.
#include "chirp/collab/changeset.hpp"

namespace chirp::collab {
namespace {

struct accumulated {
    changeset changes;
    bool is_set = true;  // a ChangeSet (true) or a ChangeDesc (false) in CodeMirror's terms
};

// changes.mapDesc(other, true)
accumulated map_desc(const accumulated& acc, const changeset& other) {
    if (acc.is_set) return {changeset::map_sections(acc.changes, other, true, true), true};
    if (other.empty()) return acc;
    return {changeset::map_sections(acc.changes, other, true, false), false};
}

// changes.composeDesc(other), other being an update's ChangeSet
accumulated compose_desc(const accumulated& acc, const changeset& other) {
    if (acc.changes.empty()) return {other, true};
    if (other.empty()) return acc;
    return {changeset::compose_sections(acc.changes, other, false), false};
}

collab_error mismatch(const std::string& what) {
    return {collab_errc::length_mismatch, what + " do not fit the document"};
}

}  // namespace

result<std::vector<update>> rebase_updates(std::vector<update> updates,
                                           std::span<const update> over) {
    if (over.empty() || updates.empty()) return updates;
    // Both chains must be consistent: each update starts where the previous one ends, and
    // both start in the same document.
    for (std::size_t i = 1; i < over.size(); ++i)
        if (over[i].changes.length() != over[i - 1].changes.new_length())
            return mismatch("accepted updates");
    for (std::size_t i = 1; i < updates.size(); ++i)
        if (updates[i].changes.length() != updates[i - 1].changes.new_length())
            return mismatch("pushed updates");
    if (updates.front().changes.length() != over.front().changes.length())
        return mismatch("pushed updates");

    std::optional<accumulated> changes;
    std::size_t skip = 0;
    for (const auto& accepted : over) {
        const update* other = skip < updates.size() ? &updates[skip] : nullptr;
        if (other && other->client_id == accepted.client_id) {
            if (changes && changes->changes.length() != other->changes.length())
                return mismatch("pushed updates");
            if (changes) changes = map_desc(*changes, other->changes);
            ++skip;
        } else {
            // Each accepted update of another client continues from the accumulated changes
            // (mapped over this client's own accepted updates, whose end is the same document).
            if (changes && changes->changes.new_length() != accepted.changes.length())
                return mismatch("accepted updates");
            changes = changes ? compose_desc(*changes, accepted.changes)
                              : accumulated{accepted.changes, true};
        }
    }
    updates.erase(updates.begin(), updates.begin() + static_cast<std::ptrdiff_t>(skip));
    if (!changes) return updates;
    for (auto& u : updates) {
        if (u.changes.length() != changes->changes.length()) return mismatch("pushed updates");
        auto mapped = changes->changes.empty()
                          ? u.changes
                          : changeset::map_sections(u.changes, changes->changes, false, true);
        *changes = map_desc(*changes, u.changes);
        u.changes = std::move(mapped);
    }
    return updates;
}

}  // namespace chirp::collab
