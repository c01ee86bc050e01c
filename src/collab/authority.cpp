// The draft authority: see authority.hpp. A push is checked in full before anything changes:
// the pushed chain must apply to the text at its base version (rebuilt from the window), its
// rebased form must apply to the current text, and every resulting version must respect the
// length limit; only then are the updates appended.
#include "chirp/collab/authority.hpp"

#include <utility>

namespace chirp::collab {
namespace {

collab_error fail(collab_errc code, std::string message) {
    return {code, std::move(message)};
}

}  // namespace

authority::authority(std::u16string text, std::uint64_t version, authority_options options)
    : options_(options),
      text_(std::move(text)),
      version_(version),
      window_text_(text_),
      window_start_(version) {}

result<authority> authority::from_utf8(std::string_view text, std::uint64_t version,
                                       authority_options options) {
    auto utf16 = utf8_to_utf16(text);
    if (!utf16) return utf16.error();
    return authority(std::move(*utf16), version, options);
}

std::string authority::text_utf8() const {
    auto utf8 = utf16_to_utf8(text_);
    return utf8 ? std::move(*utf8) : std::string{};
}

std::optional<std::u16string> authority::text_at(std::uint64_t version) const {
    if (version > version_ || version < window_start_) return std::nullopt;
    if (version == version_) return text_;
    std::u16string doc = window_text_;
    for (std::uint64_t v = window_start_; v < version; ++v) {
        auto next = updates_[static_cast<std::size_t>(v - window_start_)].changes.apply(doc);
        if (!next) return std::nullopt;  // unreachable: every kept update fitted when appended
        doc = std::move(*next);
    }
    return doc;
}

std::optional<std::vector<update>> authority::updates_since(std::uint64_t version) const {
    if (version > version_ || version < window_start_) return std::nullopt;
    return std::vector<update>(
        updates_.begin() + static_cast<std::ptrdiff_t>(version - window_start_), updates_.end());
}

result<push_result> authority::push(std::uint64_t base_version, std::string_view client_id,
                                    std::vector<changeset> changes) {
    if (base_version > version_)
        return fail(collab_errc::base_ahead, "version " + std::to_string(base_version) +
                                                 " is ahead of the draft (version " +
                                                 std::to_string(version_) + ")");
    if (base_version < window_start_)
        return fail(collab_errc::base_too_old, "version " + std::to_string(base_version) +
                                                   " is too old to rebase (the oldest is " +
                                                   std::to_string(window_start_) + ")");
    if (changes.size() > options_.max_updates_per_push)
        return fail(collab_errc::too_many_updates,
                    "a push may carry at most " + std::to_string(options_.max_updates_per_push) +
                        " updates");
    if (changes.empty()) return push_result{{}, version_};

    // The client made its changes on the text at base_version: they must fit it, one after
    // the other, whatever the others did since.
    auto doc = text_at(base_version);
    if (!doc) return fail(collab_errc::base_too_old, "version is outside the window");
    for (std::size_t i = 0; i < changes.size(); ++i) {
        auto next = changes[i].apply(*doc);
        if (!next)
            return fail(next.error().code,
                        "update " + std::to_string(i) + ": " + next.error().message);
        *doc = std::move(*next);
    }

    std::vector<update> pushed;
    pushed.reserve(changes.size());
    for (auto& c : changes) pushed.push_back(update{std::string(client_id), std::move(c)});
    // Rebased over the accepted updates one at a time, exactly as a client applying them with
    // one receiveUpdates call each moves its unconfirmed updates (docs/collab.md: CodeMirror's
    // map is not compositional, so rebasing over their composition could diverge).
    const auto first = static_cast<std::size_t>(base_version - window_start_);
    result<std::vector<update>> rebased = std::move(pushed);
    for (const auto& accepted : std::span<const update>(updates_).subspan(first)) {
        rebased = rebase_updates(std::move(*rebased), std::span<const update>(&accepted, 1));
        if (!rebased) return rebased.error();
    }

    // Every resulting version must fit the limit; nothing is appended unless all do.
    std::vector<std::u16string> texts;
    texts.reserve(rebased->size());
    const std::u16string* current = &text_;
    for (std::size_t i = 0; i < rebased->size(); ++i) {
        auto next = (*rebased)[i].changes.apply(*current);
        if (!next)
            return fail(next.error().code,
                        "update " + std::to_string(i) + ": " + next.error().message);
        if (code_points(*next) > options_.max_code_points)
            return fail(collab_errc::too_long, "the draft would be longer than " +
                                                   std::to_string(options_.max_code_points) +
                                                   " characters");
        texts.push_back(std::move(*next));
        current = &texts.back();
    }

    push_result out;
    for (std::size_t i = 0; i < rebased->size(); ++i) updates_.push_back((*rebased)[i]);
    if (!texts.empty()) text_ = std::move(texts.back());
    version_ += rebased->size();
    out.accepted = std::move(*rebased);
    out.version = version_;
    trim_window();
    return out;
}

std::optional<collab_error> authority::append(update u) {
    auto next = u.changes.apply(text_);
    if (!next) return next.error();
    text_ = std::move(*next);
    updates_.push_back(std::move(u));
    ++version_;
    trim_window();
    return std::nullopt;
}

void authority::trim_window() {
    if (updates_.size() <= options_.window) return;
    const auto drop = updates_.size() - options_.window;
    for (std::size_t i = 0; i < drop; ++i) {
        auto next = updates_[i].changes.apply(window_text_);
        if (next) window_text_ = std::move(*next);
    }
    updates_.erase(updates_.begin(), updates_.begin() + static_cast<std::ptrdiff_t>(drop));
    window_start_ += drop;
}

}  // namespace chirp::collab
