// The authority of one collaborative draft, sans-io: its text, its version (the number of
// accepted updates) and the last `window` accepted updates with their client ids, which is what
// it needs to rebase a push made against an older version (as @codemirror/collab's docs describe
// a server that accepts out-of-date pushes). Every refusal is a value telling the caller to
// reset the client (send it the current text and version). See docs/collab.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "chirp/collab/changeset.hpp"

namespace chirp::collab {

// The length limit of a draft while it is edited, in code points (publishing has the tweet
// limit): the one value the authority, the drafts registry and the REST create share.
inline constexpr std::size_t max_draft_code_points = 1000;

struct authority_options {
    // Accepted updates kept for rebasing: a push against a version older than
    // version() - window is refused with base_too_old.
    std::size_t window = 200;
    // Length limit of the text at every version, in code points.
    std::size_t max_code_points = max_draft_code_points;
    // Updates one push may carry.
    std::size_t max_updates_per_push = 200;
};

struct push_result {
    // The updates appended, rebased onto the previous version, in order: the i-th one
    // (0-based) produced version `version - accepted.size() + i + 1`. Empty when every pushed
    // update had already been accepted (a repeated push after a lost acknowledgement).
    std::vector<update> accepted;
    std::uint64_t version = 0;  // the draft's version after the push
};

class authority {
public:
    // A draft whose text (well-formed UTF-16) is at `version`; the window starts empty.
    explicit authority(std::u16string text = {}, std::uint64_t version = 0,
                       authority_options options = {});
    // The same from UTF-8 text (fails on ill-formed UTF-8).
    static result<authority> from_utf8(std::string_view text, std::uint64_t version = 0,
                                       authority_options options = {});

    // A client's unconfirmed updates, made against base_version (each starting where the
    // previous one ends). They are rebased over the updates accepted since, one accepted update
    // at a time (@codemirror/collab's rebaseUpdates with one update each: what a client computes
    // when it applies the updates with one receiveUpdates call each), which also drops those
    // already accepted from this client (same client id, in order); the rest are appended, all
    // or nothing. Refused (nothing changes):
    // base_ahead, base_too_old, too_many_updates, malformed/length_mismatch/splits_surrogate
    // (the changes do not fit the text at base_version), too_long (a resulting version would
    // exceed max_code_points).
    result<push_result> push(std::uint64_t base_version, std::string_view client_id,
                             std::vector<changeset> changes);

    // Appends an update accepted elsewhere (replaying the event log): it must fit the current
    // text; no length limit is applied.
    std::optional<collab_error> append(update u);

    // The accepted updates after `version`, for a client catching up; nullopt when `version` is
    // ahead of the draft or older than the window (the client must reset).
    std::optional<std::vector<update>> updates_since(std::uint64_t version) const;
    // The text at a version inside the window (or the current one).
    std::optional<std::u16string> text_at(std::uint64_t version) const;

    const std::u16string& text() const noexcept { return text_; }
    std::string text_utf8() const;
    std::size_t text_code_points() const noexcept { return code_points(text_); }
    std::uint64_t version() const noexcept { return version_; }
    // The oldest version a push may still be based on.
    std::uint64_t window_start() const noexcept { return window_start_; }
    const authority_options& options() const noexcept { return options_; }

private:
    void trim_window();

    authority_options options_;
    std::u16string text_;
    std::uint64_t version_ = 0;
    std::u16string window_text_;  // the text at window_start_
    std::uint64_t window_start_ = 0;
    std::vector<update> updates_;  // versions window_start_ + 1 .. version_
};

}  // namespace chirp::collab
