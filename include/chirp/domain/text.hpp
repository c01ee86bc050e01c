// Pure text rules of the domain: UTF-8 validity, code points, trimming, handles,
// @mentions and #hashtags. No I/O; unit-tested in tests/unit/text_test.cpp.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace chirp::domain {

// True when s is well-formed UTF-8: no overlong forms, no surrogates (U+D800..U+DFFF),
// nothing above U+10FFFF, no truncated sequences.
bool valid_utf8(std::string_view s) noexcept;

// Number of Unicode code points in valid UTF-8.
std::size_t code_points(std::string_view s) noexcept;

// s without leading and trailing white space (ASCII and Unicode space separators).
std::string_view trim(std::string_view s) noexcept;

// 3..15 characters of [A-Za-z0-9_].
bool valid_handle(std::string_view handle) noexcept;

// Distinct @mentions (as written, without '@', in order of appearance) and #hashtags
// (lower-cased, without '#'). A mention is '@' + 1..15 word characters not preceded by a
// word character (so e-mail addresses are not mentions); hashtags are '#' + word characters
// (ASCII letters, digits, '_' and any non-ASCII letter byte sequence) not preceded by one.
std::vector<std::string> extract_mentions(std::string_view text);
std::vector<std::string> extract_hashtags(std::string_view text);

// Validation of user input; each returns an error sentence, or nullopt when valid.
std::optional<std::string> check_tweet_content(std::string_view trimmed);
std::optional<std::string> check_message_content(std::string_view trimmed);
std::optional<std::string> check_display_name(std::string_view trimmed);
std::optional<std::string> check_password(std::string_view password);

// Parses a positive decimal 64-bit id ("42"); rejects "-1", "abc", "0", overflow, "+1".
std::optional<long long> parse_id(std::string_view s) noexcept;

inline constexpr std::size_t max_tweet_code_points = 280;
inline constexpr std::size_t max_message_code_points = 1000;

}  // namespace chirp::domain
