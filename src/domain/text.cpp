// Text rules: see text.hpp. Hand-written UTF-8 decoding keeps domain/ free of dependencies.
#include "chirp/domain/text.hpp"

#include <algorithm>
#include <charconv>

namespace chirp::domain {
namespace {

// Decodes one code point at s[i]; returns its length, or 0 when the sequence is invalid.
std::size_t decode(std::string_view s, std::size_t i, char32_t& cp) noexcept {
    const auto b0 = static_cast<unsigned char>(s[i]);
    if (b0 < 0x80) {
        cp = b0;
        return 1;
    }
    std::size_t len;
    char32_t min;
    if ((b0 & 0xE0) == 0xC0) {
        len = 2, cp = b0 & 0x1F, min = 0x80;
    } else if ((b0 & 0xF0) == 0xE0) {
        len = 3, cp = b0 & 0x0F, min = 0x800;
    } else if ((b0 & 0xF8) == 0xF0) {
        len = 4, cp = b0 & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (i + len > s.size()) return 0;
    for (std::size_t k = 1; k < len; ++k) {
        const auto b = static_cast<unsigned char>(s[i + k]);
        if ((b & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (b & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

bool is_space(char32_t cp) noexcept {
    return cp == ' ' || (cp >= 0x09 && cp <= 0x0D) || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
           cp == 0x205F || cp == 0x3000 || cp == 0xFEFF;
}

bool is_ascii_word(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

// Punctuation and symbols outside ASCII (the common blocks): they end a hashtag like ASCII
// punctuation does, so "#cpp。", "#wow…", "“#quoted”" and "#party🎉" give cpp, wow, quoted, party.
bool is_punct_or_symbol(char32_t cp) noexcept {
    if (cp >= 0xA1 && cp <= 0xBF)  // Latin-1 punctuation and signs, except ª ² ³ µ ¹ º ¼ ½ ¾
        return cp != 0xAA && cp != 0xB2 && cp != 0xB3 && cp != 0xB5 && cp != 0xB9 && cp != 0xBA &&
               (cp < 0xBC || cp > 0xBE);
    return cp == 0xD7 || cp == 0xF7 ||        // × ÷
           (cp >= 0x2010 && cp <= 0x2027) ||  // dashes, quotes, bullets, …
           (cp >= 0x2030 && cp <= 0x205E) ||  // ‰ ′ ‹ › ‼ ⁇ …
           (cp >= 0x20A0 && cp <= 0x20CF) ||  // currency signs
           (cp >= 0x2190 && cp <= 0x2BFF) ||  // arrows, math, shapes, dingbats
           (cp >= 0x3001 && cp <= 0x3003) ||  // 、。〃
           (cp >= 0x3008 && cp <= 0x3011) ||  // 〈〉《》「」『』【】
           (cp >= 0x3014 && cp <= 0x301F) || cp == 0x3030 || cp == 0x303D ||
           (cp >= 0xFE10 && cp <= 0xFE1F) || (cp >= 0xFE30 && cp <= 0xFE6F) ||
           (cp >= 0xFF01 && cp <= 0xFF0F) ||  // fullwidth ！＂＃ …
           (cp >= 0xFF1A && cp <= 0xFF20) || (cp >= 0xFF3B && cp <= 0xFF40) ||
           (cp >= 0xFF5B && cp <= 0xFF65) ||
           (cp >= 0x1F000 && cp <= 0x1FAFF);  // emoji and pictographs
}

// A word byte for hashtags: ASCII word characters and any byte of a non-ASCII sequence
// (letters of other scripts), excluding Unicode white space, punctuation and symbols.
bool starts_word(std::string_view s, std::size_t i) noexcept {
    if (is_ascii_word(s[i])) return true;
    if (static_cast<unsigned char>(s[i]) < 0x80) return false;
    char32_t cp = 0;
    return decode(s, i, cp) != 0 && !is_space(cp) && !is_punct_or_symbol(cp);
}

std::string lower_ascii(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) {
        return static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    });
    return out;
}

bool preceded_by_word(std::string_view text, std::size_t i) noexcept {
    if (i == 0) return false;
    // Step back to the start of the previous code point.
    std::size_t j = i - 1;
    while (j > 0 && (static_cast<unsigned char>(text[j]) & 0xC0) == 0x80) --j;
    return starts_word(text, j);
}

}  // namespace

bool valid_utf8(std::string_view s) noexcept {
    char32_t cp = 0;
    for (std::size_t i = 0; i < s.size();) {
        const std::size_t n = decode(s, i, cp);
        if (n == 0) return false;
        i += n;
    }
    return true;
}

std::size_t code_points(std::string_view s) noexcept {
    return static_cast<std::size_t>(std::count_if(
        s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

std::string_view trim(std::string_view s) noexcept {
    char32_t cp = 0;
    std::size_t begin = 0;
    while (begin < s.size()) {
        const std::size_t n = decode(s, begin, cp);
        if (n == 0 || !is_space(cp)) break;
        begin += n;
    }
    std::size_t end = s.size();
    while (end > begin) {
        std::size_t start = end - 1;
        while (start > begin && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
        const std::size_t n = decode(s, start, cp);
        if (n == 0 || !is_space(cp)) break;
        end = start;
    }
    return s.substr(begin, end - begin);
}

bool valid_handle(std::string_view handle) noexcept {
    return handle.size() >= 3 && handle.size() <= 15 &&
           std::all_of(handle.begin(), handle.end(), is_ascii_word);
}

std::vector<std::string> extract_mentions(std::string_view text) {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] != '@' || preceded_by_word(text, i)) continue;
        std::size_t j = i + 1;
        while (j < text.size() && is_ascii_word(text[j])) ++j;
        const std::size_t len = j - i - 1;
        if (len >= 1 && len <= 15 && (j == text.size() || text[j] != '@')) {
            std::string handle(text.substr(i + 1, len));
            const auto lower = lower_ascii(handle);
            if (std::none_of(out.begin(), out.end(),
                             [&](const std::string& h) { return lower_ascii(h) == lower; }))
                out.push_back(std::move(handle));
        }
        i = j - 1;
    }
    return out;
}

std::vector<std::string> extract_hashtags(std::string_view text) {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] != '#' || preceded_by_word(text, i)) continue;
        std::size_t j = i + 1;
        char32_t cp = 0;
        while (j < text.size() && starts_word(text, j))
            j += std::max<std::size_t>(1, decode(text, j, cp));
        if (j > i + 1) {
            auto tag = lower_ascii(text.substr(i + 1, j - i - 1));
            if (std::find(out.begin(), out.end(), tag) == out.end()) out.push_back(std::move(tag));
        }
        i = j - 1;
    }
    return out;
}

std::optional<std::string> check_tweet_content(std::string_view trimmed) {
    const auto n = code_points(trimmed);
    if (n == 0) return "content must not be empty";
    if (n > max_tweet_code_points) return "content must be at most 280 characters";
    return std::nullopt;
}

std::optional<std::string> check_message_content(std::string_view trimmed) {
    const auto n = code_points(trimmed);
    if (n == 0) return "content must not be empty";
    if (n > max_message_code_points) return "content must be at most 1000 characters";
    return std::nullopt;
}

std::optional<std::string> check_display_name(std::string_view trimmed) {
    const auto n = code_points(trimmed);
    if (n == 0 || n > 50) return "displayName must be 1 to 50 characters";
    return std::nullopt;
}

std::optional<std::string> check_password(std::string_view password) {
    if (password.size() < 8 || password.size() > 128) return "password must be 8 to 128 bytes";
    return std::nullopt;
}

std::optional<long long> parse_id(std::string_view s) noexcept {
    if (s.empty() || s.size() > 19 || s[0] < '1' || s[0] > '9') return std::nullopt;
    long long v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || p != s.data() + s.size() || v <= 0) return std::nullopt;
    return v;
}

}  // namespace chirp::domain
