// CodeMirror 6 change sets in C++: the subset of @codemirror/state's ChangeSet/ChangeDesc that
// a server-side collab authority needs (JSON, apply, compose, map) and @codemirror/collab's
// rebaseUpdates. Positions and lengths count UTF-16 code units, as JavaScript strings do; texts
// are held as std::u16string and converted to UTF-8 only at the JSON boundary. The algorithms
// follow @codemirror/state section by section, so the JSON of every result is identical to what
// CodeMirror computes (tests/unit/changeset_diff_test.cpp checks this against a fixture that
// web/collab-diff/generate.mjs records from @codemirror/state). Pure: no I/O. See docs/collab.md.
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace chirp::collab {

enum class collab_errc {
    malformed,         // not the ChangeSet JSON shape (or a negative/zero-length section, …)
    length_mismatch,   // the change set does not fit the document (or the other change set)
    splits_surrogate,  // a change starts or ends between the two halves of a surrogate pair
    lone_surrogate,    // inserted text that is not well-formed Unicode
    too_long,          // the resulting draft would exceed the length limit
    base_ahead,        // pushed against a version the authority has not reached
    base_too_old,      // pushed against a version older than the kept window of updates
    too_many_updates,  // one push carries more updates than allowed
};

// The stable machine-readable name ("splits_surrogate").
std::string_view code_string(collab_errc e) noexcept;

struct collab_error {
    collab_errc code = collab_errc::malformed;
    std::string message;
};

// A value or a collab_error (expected failures are values).
template <class T>
class result {
public:
    result(T value) : v_(std::move(value)) {}
    result(collab_error error) : v_(std::move(error)) {}
    bool has_value() const noexcept { return v_.index() == 0; }
    explicit operator bool() const noexcept { return has_value(); }
    T& value() & { return std::get<0>(v_); }
    const T& value() const& { return std::get<0>(v_); }
    T&& value() && { return std::get<0>(std::move(v_)); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T&& operator*() && { return std::get<0>(std::move(v_)); }
    const collab_error& error() const { return std::get<1>(v_); }

private:
    std::variant<T, collab_error> v_;
};

// UTF-8 <-> UTF-16. from_utf8 refuses ill-formed UTF-8 (and so any encoded surrogate);
// to_utf8 refuses lone surrogates.
result<std::u16string> utf8_to_utf16(std::string_view s);
result<std::string> utf16_to_utf8(std::u16string_view s);
// Code points of well-formed UTF-16 (a pair counts once).
std::size_t code_points(std::u16string_view s) noexcept;

// A set of changes to a document of length() code units, as CodeMirror stores it: sections of
// (length in the old document, inserted length), the inserted length being -1 for a kept
// range, 0 for a deletion and n > 0 for a replacement with inserted[i] (n code units, lines
// joined by '\n'). Sections are kept as given (a parsed [1, 2] stays two kept sections), like
// ChangeSet.fromJSON does, because the results of later operations depend on it.
class changeset {
public:
    changeset() = default;

    // ChangeSet.fromJSON: an array whose items are a kept length (number), [len] (deletion)
    // or [len, line, …] (replacement by the lines joined with "\n"). Stricter than
    // CodeMirror: lengths must be non-negative integers below 2^31, a kept or deleted section
    // must not be empty, lines must not contain '\n' or '\r' and must be well-formed Unicode.
    static result<changeset> from_json(const nlohmann::json& j);
    // The same from JSON text (parse errors are `malformed`, a "\ud800" escape `lone_surrogate`).
    static result<changeset> parse(std::string_view json_text);
    // ChangeSet.empty(length).
    static changeset empty_of(std::int64_t length);
    // From raw sections and texts (no validation; for tests and internal use).
    static changeset from_sections(std::vector<std::int64_t> sections,
                                   std::vector<std::u16string> inserted = {});

    // ChangeSet.toJSON.
    nlohmann::json to_json() const;
    std::string dump() const;

    std::int64_t length() const noexcept;      // document length before
    std::int64_t new_length() const noexcept;  // document length after
    bool empty() const noexcept;               // no actual change (CodeMirror's `empty`)

    // The document after the changes. Fails with length_mismatch when doc has another length,
    // splits_surrogate when a changed range starts or ends inside a surrogate pair of doc.
    result<std::u16string> apply(std::u16string_view doc) const;
    // The same check without building the result.
    std::optional<collab_error> check_fits(std::u16string_view doc) const;

    // this.compose(other): other must start where this ends (length_mismatch otherwise).
    result<changeset> compose(const changeset& other) const;
    // this.map(other, before): both start in the same document (length_mismatch otherwise).
    result<changeset> map(const changeset& other, bool before = false) const;

    const std::vector<std::int64_t>& sections() const noexcept { return sections_; }
    const std::vector<std::u16string>& inserted() const noexcept { return inserted_; }

    // Section-level algorithms of @codemirror/state, without the length checks or the
    // `empty` shortcuts of compose/map; with_text false gives a ChangeDesc (no texts).
    static changeset map_sections(const changeset& a, const changeset& b, bool before,
                                  bool with_text);
    static changeset compose_sections(const changeset& a, const changeset& b, bool with_text);

    friend bool operator==(const changeset&, const changeset&) = default;

private:
    std::vector<std::int64_t> sections_;
    std::vector<std::u16string> inserted_;
};

// One update of @codemirror/collab: changes made by one client (effects are not kept).
struct update {
    std::string client_id;
    changeset changes;
};

// @codemirror/collab's rebaseUpdates(updates, over): `updates` were pushed against a version
// V, `over` are the updates accepted since V (in order). Drops the leading updates that were
// already accepted (matched in order by client id, as CodeMirror does) and maps the others
// over the rest, so they apply to the current document. Fails with length_mismatch when the
// updates do not chain (each starting where the previous one ends) or do not fit `over`.
result<std::vector<update>> rebase_updates(std::vector<update> updates,
                                           std::span<const update> over);

}  // namespace chirp::collab
