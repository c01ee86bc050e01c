// CodeMirror change sets: see changeset.hpp. The section algorithms (add_section, map_sections,
// compose_sections, section_iter) follow @codemirror/state's addSection, mapSet, composeSets
// and SectionIter step by step: the exact section structure of a result (which CodeMirror keeps
// and serializes) depends on every one of their merge decisions.
#include "chirp/collab/changeset.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace chirp::collab {
namespace {

// Lengths beyond this are refused when parsing, so sums never overflow.
constexpr std::int64_t max_length = std::int64_t{1} << 31;

bool is_high(char16_t c) noexcept {
    return c >= 0xD800 && c < 0xDC00;
}
bool is_low(char16_t c) noexcept {
    return c >= 0xDC00 && c < 0xE000;
}

collab_error fail(collab_errc code, std::string message) {
    return {code, std::move(message)};
}

// CodeMirror's addSection: appends (len, ins), merging with the last section where CodeMirror
// does (kept after kept, deletion after deletion, insertion after an insertion at the same
// place, or anything when force_join).
void add_section(std::vector<std::int64_t>& s, std::int64_t len, std::int64_t ins,
                 bool force_join = false) {
    if (len == 0 && ins <= 0) return;
    const auto n = s.size();
    if (n >= 2 && ins <= 0 && ins == s[n - 1]) {
        s[n - 2] += len;
    } else if (n >= 2 && len == 0 && s[n - 2] == 0) {
        s[n - 1] += ins;
    } else if (force_join && n >= 2) {
        s[n - 2] += len;
        s[n - 1] += ins;
    } else {
        s.push_back(len);
        s.push_back(ins);
    }
}

// CodeMirror's addInsert: the text of the last section (appended when that section already has
// one, because add_section merged into it).
void add_insert(std::vector<std::u16string>& values, const std::vector<std::int64_t>& s,
                std::u16string_view value) {
    if (value.empty()) return;
    const auto index = (static_cast<std::ptrdiff_t>(s.size()) - 2) >> 1;
    if (index < static_cast<std::ptrdiff_t>(values.size())) {
        values.back().append(value);
    } else {
        values.resize(static_cast<std::size_t>(index));
        values.emplace_back(value);
    }
}

// CodeMirror's SectionIter: a cursor over the sections of a change set; ins == -2 when done.
struct section_iter {
    const changeset* set;
    std::size_t i = 0;
    std::int64_t len = 0;
    std::int64_t ins = 0;
    std::int64_t off = 0;

    explicit section_iter(const changeset& s) : set(&s) { next(); }

    void next() {
        const auto& s = set->sections();
        if (i < s.size()) {
            len = s[i++];
            ins = s[i++];
        } else {
            len = 0;
            ins = -2;
        }
        off = 0;
    }
    bool done() const noexcept { return ins == -2; }
    std::int64_t len2() const noexcept { return ins < 0 ? len : ins; }
    std::size_t index() const noexcept { return (i - 2) >> 1; }
    std::u16string_view text() const {
        const auto& inserted = set->inserted();
        return index() >= inserted.size() ? std::u16string_view{} : inserted[index()];
    }
    std::u16string_view text_bit(std::int64_t n) const {
        const auto whole = text();
        const auto from = std::min<std::size_t>(static_cast<std::size_t>(off), whole.size());
        return whole.substr(from, static_cast<std::size_t>(n));
    }
    void forward(std::int64_t n) {
        if (n == len) {
            next();
        } else {
            len -= n;
            off += n;
        }
    }
    void forward2(std::int64_t n) {
        if (ins == -1) {
            forward(n);
        } else if (n == ins) {
            next();
        } else {
            ins -= n;
            off += n;
        }
    }
};

// Decodes one code point of UTF-8 at s[i]: its length, 0 when ill-formed; `surrogate` is set
// when the bytes encode U+D800..U+DFFF.
std::size_t decode_utf8(std::string_view s, std::size_t i, char32_t& cp, bool& surrogate) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    surrogate = false;
    if (b0 < 0x80) {
        cp = b0;
        return 1;
    }
    std::size_t n;
    char32_t min;
    if ((b0 & 0xE0) == 0xC0) {
        n = 2, cp = b0 & 0x1F, min = 0x80;
    } else if ((b0 & 0xF0) == 0xE0) {
        n = 3, cp = b0 & 0x0F, min = 0x800;
    } else if ((b0 & 0xF8) == 0xF0) {
        n = 4, cp = b0 & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (i + n > s.size()) return 0;
    for (std::size_t k = 1; k < n; ++k) {
        const auto b = static_cast<unsigned char>(s[i + k]);
        if ((b & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (b & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF) return 0;
    if (cp >= 0xD800 && cp <= 0xDFFF) {
        surrogate = true;
        return 0;
    }
    return n;
}

// A position strictly inside a surrogate pair of doc.
bool inside_pair(std::u16string_view doc, std::int64_t pos) noexcept {
    const auto p = static_cast<std::size_t>(pos);
    return p > 0 && p < doc.size() && is_high(doc[p - 1]) && is_low(doc[p]);
}

std::string num(std::int64_t n) {
    return std::to_string(n);
}

}  // namespace

std::string_view code_string(collab_errc e) noexcept {
    switch (e) {
        case collab_errc::malformed:
            return "malformed";
        case collab_errc::length_mismatch:
            return "length_mismatch";
        case collab_errc::splits_surrogate:
            return "splits_surrogate";
        case collab_errc::lone_surrogate:
            return "lone_surrogate";
        case collab_errc::too_long:
            return "too_long";
        case collab_errc::base_ahead:
            return "base_ahead";
        case collab_errc::base_too_old:
            return "base_too_old";
        case collab_errc::too_many_updates:
            return "too_many_updates";
    }
    return "malformed";
}

result<std::u16string> utf8_to_utf16(std::string_view s) {
    std::u16string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size();) {
        char32_t cp = 0;
        bool surrogate = false;
        const auto n = decode_utf8(s, i, cp, surrogate);
        if (n == 0) {
            if (surrogate) return fail(collab_errc::lone_surrogate, "text contains a surrogate");
            return fail(collab_errc::malformed, "text is not well-formed UTF-8");
        }
        if (cp >= 0x10000) {
            cp -= 0x10000;
            out.push_back(static_cast<char16_t>(0xD800 + (cp >> 10)));
            out.push_back(static_cast<char16_t>(0xDC00 + (cp & 0x3FF)));
        } else {
            out.push_back(static_cast<char16_t>(cp));
        }
        i += n;
    }
    return out;
}

result<std::string> utf16_to_utf8(std::u16string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        char32_t cp = s[i];
        if (is_high(s[i]) && i + 1 < s.size() && is_low(s[i + 1])) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (s[i + 1] - 0xDC00);
            ++i;
        } else if (is_high(s[i]) || is_low(s[i])) {
            return fail(collab_errc::lone_surrogate, "text contains a lone surrogate");
        }
        if (cp < 0x80) {
            out.push_back(static_cast<char>(cp));
        } else if (cp < 0x800) {
            out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
        } else if (cp < 0x10000) {
            out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
            out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
        } else {
            out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
            out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
            out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
        }
    }
    return out;
}

std::size_t code_points(std::u16string_view s) noexcept {
    std::size_t n = 0;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (is_high(s[i]) && i + 1 < s.size() && is_low(s[i + 1])) ++i;
        ++n;
    }
    return n;
}

result<changeset> changeset::from_json(const nlohmann::json& j) {
    if (!j.is_array()) return fail(collab_errc::malformed, "changes must be a JSON array");
    changeset out;
    std::int64_t total = 0;
    std::int64_t total_new = 0;
    const auto read_len = [](const nlohmann::json& v, std::int64_t& len) {
        if (!v.is_number_integer()) return false;
        if (v.is_number_unsigned()) {
            const auto u = v.get<std::uint64_t>();
            if (u >= static_cast<std::uint64_t>(max_length)) return false;
            len = static_cast<std::int64_t>(u);
        } else {
            len = v.get<std::int64_t>();
        }
        return len >= 0 && len < max_length;
    };
    for (std::size_t i = 0; i < j.size(); ++i) {
        const auto& part = j[i];
        const auto where = "changes[" + std::to_string(i) + "]";
        std::int64_t len = 0;
        std::int64_t ins = -1;
        if (part.is_number()) {
            if (!read_len(part, len))
                return fail(collab_errc::malformed, where + ": a length must be an integer >= 0");
            if (len == 0) return fail(collab_errc::malformed, where + ": empty kept section");
        } else if (part.is_array() && !part.empty()) {
            if (!read_len(part[0], len))
                return fail(collab_errc::malformed, where + ": a length must be an integer >= 0");
            if (part.size() == 1) {
                if (len == 0) return fail(collab_errc::malformed, where + ": empty deletion");
                ins = 0;
            } else {
                std::u16string text;
                for (std::size_t k = 1; k < part.size(); ++k) {
                    if (!part[k].is_string())
                        return fail(collab_errc::malformed, where + ": lines must be strings");
                    const auto& line = part[k].get_ref<const std::string&>();
                    if (line.find_first_of("\r\n") != std::string::npos)
                        return fail(collab_errc::malformed,
                                    where + ": a line must not contain a line break");
                    auto utf16 = utf8_to_utf16(line);
                    if (!utf16)
                        return fail(utf16.error().code, where + ": " + utf16.error().message);
                    if (k > 1) text.push_back(u'\n');
                    text += *utf16;
                }
                ins = static_cast<std::int64_t>(text.size());
                if (len == 0 && ins == 0)
                    return fail(collab_errc::malformed, where + ": empty replacement");
                if (ins >= max_length) return fail(collab_errc::malformed, where + ": too long");
                out.inserted_.resize(i);
                out.inserted_.push_back(std::move(text));
            }
        } else {
            return fail(collab_errc::malformed,
                        where + ": expected a length or [length, ...lines]");
        }
        total += len;
        total_new += ins < 0 ? len : ins;
        if (total >= max_length || total_new >= max_length)
            return fail(collab_errc::malformed, "changes: document too long");
        out.sections_.push_back(len);
        out.sections_.push_back(ins);
    }
    return out;
}

result<changeset> changeset::parse(std::string_view json_text) {
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(json_text);
    } catch (const nlohmann::json::parse_error& e) {
        const std::string what = e.what();
        if (what.find("surrogate") != std::string::npos)
            return fail(collab_errc::lone_surrogate, "changes contain a lone surrogate");
        return fail(collab_errc::malformed, "changes are not valid JSON");
    }
    return from_json(j);
}

changeset changeset::empty_of(std::int64_t length) {
    changeset out;
    if (length > 0) out.sections_ = {length, -1};
    return out;
}

changeset changeset::from_sections(std::vector<std::int64_t> sections,
                                   std::vector<std::u16string> inserted) {
    changeset out;
    out.sections_ = std::move(sections);
    out.inserted_ = std::move(inserted);
    return out;
}

nlohmann::json changeset::to_json() const {
    auto parts = nlohmann::json::array();
    for (std::size_t i = 0; i + 1 < sections_.size(); i += 2) {
        const auto len = sections_[i];
        const auto ins = sections_[i + 1];
        if (ins < 0) {
            parts.push_back(len);
        } else if (ins == 0 || (i >> 1) >= inserted_.size()) {
            parts.push_back(nlohmann::json::array({len}));
        } else {
            auto part = nlohmann::json::array({len});
            std::u16string_view text = inserted_[i >> 1];
            for (;;) {
                const auto nl = text.find(u'\n');
                auto line = utf16_to_utf8(text.substr(0, nl));
                part.push_back(line ? std::move(*line) : std::string("\xEF\xBF\xBD"));
                if (nl == std::u16string_view::npos) break;
                text.remove_prefix(nl + 1);
            }
            parts.push_back(std::move(part));
        }
    }
    return parts;
}

std::string changeset::dump() const {
    return to_json().dump();
}

std::int64_t changeset::length() const noexcept {
    std::int64_t n = 0;
    for (std::size_t i = 0; i < sections_.size(); i += 2) n += sections_[i];
    return n;
}

std::int64_t changeset::new_length() const noexcept {
    std::int64_t n = 0;
    for (std::size_t i = 0; i + 1 < sections_.size(); i += 2)
        n += sections_[i + 1] < 0 ? sections_[i] : sections_[i + 1];
    return n;
}

bool changeset::empty() const noexcept {
    return sections_.empty() || (sections_.size() == 2 && sections_[1] < 0);
}

std::optional<collab_error> changeset::check_fits(std::u16string_view doc) const {
    const auto doc_len = static_cast<std::int64_t>(doc.size());
    if (length() != doc_len)
        return fail(collab_errc::length_mismatch, "changes of length " + num(length()) +
                                                      " do not fit a document of length " +
                                                      num(doc_len));
    std::int64_t pos = 0;
    for (std::size_t i = 0; i + 1 < sections_.size(); i += 2) {
        const auto len = sections_[i];
        if (sections_[i + 1] >= 0 && (inside_pair(doc, pos) || inside_pair(doc, pos + len)))
            return fail(collab_errc::splits_surrogate,
                        "a change at " + num(inside_pair(doc, pos) ? pos : pos + len) +
                            " splits a surrogate pair");
        pos += len;
    }
    return std::nullopt;
}

result<std::u16string> changeset::apply(std::u16string_view doc) const {
    if (auto error = check_fits(doc)) return std::move(*error);
    std::u16string out;
    out.reserve(static_cast<std::size_t>(new_length()));
    std::size_t pos = 0;
    for (std::size_t i = 0; i + 1 < sections_.size(); i += 2) {
        const auto len = static_cast<std::size_t>(sections_[i]);
        const auto ins = sections_[i + 1];
        if (ins < 0) {
            out.append(doc.substr(pos, len));
        } else if (ins > 0 && (i >> 1) < inserted_.size()) {
            out.append(inserted_[i >> 1]);
        }
        pos += len;
    }
    return out;
}

result<changeset> changeset::compose(const changeset& other) const {
    if (new_length() != other.length())
        return fail(collab_errc::length_mismatch,
                    "cannot compose changes ending at length " + num(new_length()) +
                        " with changes of length " + num(other.length()));
    if (empty()) return other;
    if (other.empty()) return *this;
    return compose_sections(*this, other, true);
}

result<changeset> changeset::map(const changeset& other, bool before) const {
    if (length() != other.length())
        return fail(collab_errc::length_mismatch, "cannot map changes of length " + num(length()) +
                                                      " over changes of length " +
                                                      num(other.length()));
    if (other.empty()) return *this;
    return map_sections(*this, other, before, true);
}

// mapSet: a copy of a that applies after b (both start in the same document).
changeset changeset::map_sections(const changeset& set_a, const changeset& set_b, bool before,
                                  bool with_text) {
    changeset out;
    auto& sections = out.sections_;
    auto& insert = out.inserted_;
    section_iter a(set_a), b(set_b);
    // For a change of a processed piece by piece: the section index whose text is already in.
    std::size_t inserted = static_cast<std::size_t>(-1);
    const auto already = [&] { return inserted != static_cast<std::size_t>(-1); };
    const auto before_a = [&] { return !already() || inserted < a.i; };
    for (;;) {
        if ((a.done() && b.len) || (b.done() && a.len)) {
            return out;  // mismatched lengths: unreachable after the callers' checks
        } else if (a.ins == -1 && b.ins == -1) {
            const auto len = std::min(a.len, b.len);
            add_section(sections, len, -1);
            a.forward(len);
            b.forward(len);
        } else if (b.ins >= 0 && (a.ins < 0 || (already() && inserted == a.i) ||
                                  (a.off == 0 && (b.len < a.len || (b.len == a.len && !before))))) {
            // A change of b that comes first: skip it, and the parts of a it covers.
            auto len = b.len;
            add_section(sections, b.ins, -1);
            while (len) {
                const auto piece = std::min(a.len, len);
                if (a.ins >= 0 && before_a() && a.len <= piece) {
                    add_section(sections, 0, a.ins);
                    if (with_text) add_insert(insert, sections, a.text());
                    inserted = a.i;
                }
                a.forward(piece);
                len -= piece;
            }
            b.next();
        } else if (a.ins >= 0) {
            // The part of a's change up to the next non-deletion change of b.
            std::int64_t len = 0;
            auto left = a.len;
            while (left) {
                if (b.ins == -1) {
                    const auto piece = std::min(left, b.len);
                    len += piece;
                    left -= piece;
                    b.forward(piece);
                } else if (b.ins == 0 && b.len < left) {
                    left -= b.len;
                    b.next();
                } else {
                    break;
                }
            }
            const bool first = before_a();
            add_section(sections, len, first ? a.ins : 0);
            if (with_text && first) add_insert(insert, sections, a.text());
            inserted = a.i;
            a.forward(a.len - left);
        } else if (a.done() && b.done()) {
            return out;
        } else {
            return out;  // mismatched lengths: unreachable after the callers' checks
        }
    }
}

// composeSets: the effect of a followed by b.
changeset changeset::compose_sections(const changeset& set_a, const changeset& set_b,
                                      bool with_text) {
    changeset out;
    auto& sections = out.sections_;
    auto& insert = out.inserted_;
    section_iter a(set_a), b(set_b);
    for (bool open = false;;) {
        if (a.done() && b.done()) {
            return out;
        } else if (a.ins == 0) {  // deletion in a
            add_section(sections, a.len, 0, open);
            a.next();
        } else if (b.len == 0 && !b.done()) {  // insertion in b
            add_section(sections, 0, b.ins, open);
            if (with_text) add_insert(insert, sections, b.text());
            b.next();
        } else if (a.done() || b.done()) {
            return out;  // mismatched lengths: unreachable after the callers' checks
        } else {
            const auto len = std::min(a.len2(), b.len);
            const auto section_count = sections.size();
            if (a.ins == -1) {
                const auto ins_b = b.ins == -1 ? -1 : b.off ? 0 : b.ins;
                add_section(sections, len, ins_b, open);
                if (with_text && ins_b) add_insert(insert, sections, b.text());
            } else if (b.ins == -1) {
                add_section(sections, a.off ? 0 : a.len, len, open);
                if (with_text) add_insert(insert, sections, a.text_bit(len));
            } else {
                add_section(sections, a.off ? 0 : a.len, b.off ? 0 : b.ins, open);
                if (with_text && !b.off) add_insert(insert, sections, b.text());
            }
            open = (a.ins > len || (b.ins >= 0 && b.len > len)) &&
                   (open || sections.size() > section_count);
            a.forward2(len);
            b.forward(len);
        }
    }
}

}  // namespace chirp::collab
