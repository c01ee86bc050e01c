// Unit tests of domain/text: UTF-8 validity, code points, trimming, handles, @mentions,
// #hashtags, content rules and parse_id. Pure functions, no I/O.
#include "chirp/domain/text.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

using chirp::domain::check_display_name;
using chirp::domain::check_message_content;
using chirp::domain::check_password;
using chirp::domain::check_tweet_content;
using chirp::domain::code_points;
using chirp::domain::extract_hashtags;
using chirp::domain::extract_mentions;
using chirp::domain::parse_id;
using chirp::domain::trim;
using chirp::domain::valid_handle;
using chirp::domain::valid_utf8;
using strings = std::vector<std::string>;

std::string repeat(std::string_view s, std::size_t n) {
    std::string out;
    for (std::size_t i = 0; i < n; ++i) out += s;
    return out;
}

// ---------------------------------------------------------------------------- UTF-8

TEST(Utf8, AcceptsWellFormedText) {
    EXPECT_TRUE(valid_utf8(""));
    EXPECT_TRUE(valid_utf8("hello"));
    EXPECT_TRUE(valid_utf8("caf\xC3\xA9"));               // é, 2 bytes
    EXPECT_TRUE(valid_utf8("\xE6\x97\xA5\xE6\x9C\xAC"));  // 日本, 3 bytes each
    EXPECT_TRUE(valid_utf8("\xF0\x9F\x98\x80"));          // 😀, 4 bytes
    EXPECT_TRUE(valid_utf8(std::string("a\0b", 3)));      // NUL is a valid code point
    // Boundaries: U+007F, U+0080, U+07FF, U+0800, U+D7FF, U+E000, U+FFFF, U+10000, U+10FFFF.
    EXPECT_TRUE(valid_utf8("\x7F"));
    EXPECT_TRUE(valid_utf8("\xC2\x80"));
    EXPECT_TRUE(valid_utf8("\xDF\xBF"));
    EXPECT_TRUE(valid_utf8("\xE0\xA0\x80"));
    EXPECT_TRUE(valid_utf8("\xED\x9F\xBF"));
    EXPECT_TRUE(valid_utf8("\xEE\x80\x80"));
    EXPECT_TRUE(valid_utf8("\xEF\xBF\xBF"));
    EXPECT_TRUE(valid_utf8("\xF0\x90\x80\x80"));
    EXPECT_TRUE(valid_utf8("\xF4\x8F\xBF\xBF"));
}

TEST(Utf8, RejectsOverlongForms) {
    EXPECT_FALSE(valid_utf8("\xC0\x80"));          // NUL in 2 bytes
    EXPECT_FALSE(valid_utf8("\xC0\xAF"));          // '/' in 2 bytes
    EXPECT_FALSE(valid_utf8("\xC1\xBF"));          // U+007F in 2 bytes
    EXPECT_FALSE(valid_utf8("\xE0\x80\xAF"));      // '/' in 3 bytes
    EXPECT_FALSE(valid_utf8("\xE0\x9F\xBF"));      // U+07FF in 3 bytes
    EXPECT_FALSE(valid_utf8("\xF0\x80\x80\xAF"));  // '/' in 4 bytes
    EXPECT_FALSE(valid_utf8("\xF0\x8F\xBF\xBF"));  // U+FFFF in 4 bytes
}

TEST(Utf8, RejectsSurrogates) {
    EXPECT_FALSE(valid_utf8("\xED\xA0\x80"));  // U+D800, a lone high surrogate
    EXPECT_FALSE(valid_utf8("\xED\xAF\xBF"));  // U+DBFF
    EXPECT_FALSE(valid_utf8("\xED\xB0\x80"));  // U+DC00, a lone low surrogate
    EXPECT_FALSE(valid_utf8("\xED\xBF\xBF"));  // U+DFFF
    // A CESU-8 pair (surrogates encoded separately) is not UTF-8 either.
    EXPECT_FALSE(valid_utf8("\xED\xA0\xBD\xED\xB8\x80"));
    EXPECT_FALSE(valid_utf8("ok \xED\xA0\x80 ok"));
}

TEST(Utf8, RejectsTruncatedAndStraySequences) {
    EXPECT_FALSE(valid_utf8("\xC3"));             // lead byte alone
    EXPECT_FALSE(valid_utf8("\xE6\x97"));         // 2 of 3 bytes
    EXPECT_FALSE(valid_utf8("\xF0\x9F\x98"));     // 3 of 4 bytes
    EXPECT_FALSE(valid_utf8("abc\xF0\x9F\x98"));  // truncated at the end of text
    EXPECT_FALSE(
        valid_utf8("\xE6\x97"
                   "abc"));            // interrupted by ASCII
    EXPECT_FALSE(valid_utf8("\x80"));  // continuation byte alone
    EXPECT_FALSE(
        valid_utf8("a\xBF"
                   "b"));              // stray continuation
    EXPECT_FALSE(valid_utf8("\xFF"));  // never valid
    EXPECT_FALSE(valid_utf8("\xFE"));
    EXPECT_FALSE(valid_utf8("\xF8\x88\x80\x80\x80"));  // 5-byte form
    EXPECT_FALSE(valid_utf8("\xF4\x90\x80\x80"));      // U+110000, above the range
    EXPECT_FALSE(valid_utf8("\xF5\x80\x80\x80"));
}

// ---------------------------------------------------------------------------- code points

TEST(CodePoints, CountsCodePointsNotBytes) {
    EXPECT_EQ(code_points(""), 0u);
    EXPECT_EQ(code_points("hello"), 5u);
    EXPECT_EQ(code_points("caf\xC3\xA9"), 4u);
    EXPECT_EQ(code_points("\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E"), 3u);  // 日本語
    EXPECT_EQ(code_points("\xF0\x9F\x98\x80"), 1u);                      // 😀
    // A family emoji is several code points joined by ZWJ (U+200D): 👨‍👩‍👧 = 5.
    EXPECT_EQ(
        code_points("\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA7"),
        5u);
    // e + combining acute accent: 2 code points.
    EXPECT_EQ(code_points("e\xCC\x81"), 2u);
}

// ---------------------------------------------------------------------------- trim

TEST(Trim, RemovesAsciiWhiteSpace) {
    EXPECT_EQ(trim("  hi  "), "hi");
    EXPECT_EQ(trim("\t\n\r\v\fhi\t\n\r\v\f"), "hi");
    EXPECT_EQ(trim("hi"), "hi");
    EXPECT_EQ(trim("a b"), "a b");  // inner space stays
    EXPECT_EQ(trim(""), "");
    EXPECT_EQ(trim("   "), "");
}

TEST(Trim, RemovesUnicodeSpaces) {
    const std::string nbsp = "\xC2\xA0";             // U+00A0
    const std::string ideographic = "\xE3\x80\x80";  // U+3000
    const std::string em_space = "\xE2\x80\x83";     // U+2003
    const std::string narrow = "\xE2\x80\xAF";       // U+202F
    const std::string line_sep = "\xE2\x80\xA8";     // U+2028
    const std::string nel = "\xC2\x85";              // U+0085
    EXPECT_EQ(trim(nbsp + "hi" + nbsp), "hi");
    EXPECT_EQ(trim(ideographic + " hi " + ideographic), "hi");
    EXPECT_EQ(trim(em_space + narrow + "x" + line_sep + nel), "x");
    EXPECT_EQ(trim(nbsp + ideographic + em_space + " \t"), "");
    // Inner Unicode spaces stay.
    EXPECT_EQ(trim(" a" + ideographic + "b "), "a" + ideographic + "b");
}

TEST(Trim, KeepsNonSpaceCharactersAtTheEdges) {
    const std::string zwsp = "\xE2\x80\x8B";  // U+200B ZERO WIDTH SPACE is not white space
    EXPECT_EQ(trim(zwsp + "a" + zwsp), zwsp + "a" + zwsp);
    EXPECT_EQ(trim(" \xC3\xA9 "), "\xC3\xA9");
    EXPECT_EQ(trim("\xF0\x9F\x98\x80 "), "\xF0\x9F\x98\x80");
    // Invalid bytes are not white space and are not eaten.
    EXPECT_EQ(trim(" \xFF "), "\xFF");
}

// ---------------------------------------------------------------------------- content rules

TEST(TweetContent, AcceptsOneTo280CodePoints) {
    EXPECT_EQ(check_tweet_content("a"), std::nullopt);
    EXPECT_EQ(check_tweet_content(repeat("a", 280)), std::nullopt);
    EXPECT_NE(check_tweet_content(repeat("a", 281)), std::nullopt);
    EXPECT_NE(check_tweet_content(""), std::nullopt);
}

TEST(TweetContent, CountsEmojiAndCjkAsOneEach) {
    const std::string emoji = "\xF0\x9F\x98\x80";  // 4 bytes
    const std::string cjk = "\xE6\x97\xA5";        // 3 bytes
    EXPECT_EQ(check_tweet_content(repeat(emoji, 280)), std::nullopt) << "1120 bytes, 280 points";
    EXPECT_NE(check_tweet_content(repeat(emoji, 281)), std::nullopt);
    EXPECT_EQ(check_tweet_content(repeat(cjk, 280)), std::nullopt);
    EXPECT_NE(check_tweet_content(repeat(cjk, 281)), std::nullopt);
    EXPECT_EQ(check_tweet_content(repeat(cjk, 140) + repeat(emoji, 140)), std::nullopt);
    EXPECT_NE(check_tweet_content(repeat(cjk, 141) + repeat(emoji, 140)), std::nullopt);
}

TEST(TweetContent, WhiteSpaceOnlyIsEmptyAfterTrimming) {
    for (std::string s : {"", " ", "\t\n", "\xC2\xA0", "\xE3\x80\x80 \xE2\x80\x83"}) {
        EXPECT_NE(check_tweet_content(trim(s)), std::nullopt) << '"' << s << '"';
    }
    // 280 letters surrounded by white space are fine after trimming.
    EXPECT_EQ(check_tweet_content(trim("   " + repeat("x", 280) + "\xE3\x80\x80")), std::nullopt);
}

TEST(MessageContent, AcceptsOneTo1000CodePoints) {
    EXPECT_EQ(check_message_content("a"), std::nullopt);
    EXPECT_EQ(check_message_content(repeat("\xE6\x97\xA5", 1000)), std::nullopt);
    EXPECT_NE(check_message_content(repeat("a", 1001)), std::nullopt);
    EXPECT_NE(check_message_content(""), std::nullopt);
}

TEST(DisplayName, AcceptsOneTo50CodePoints) {
    EXPECT_EQ(check_display_name("A"), std::nullopt);
    EXPECT_EQ(check_display_name(repeat("\xC3\xA9", 50)), std::nullopt);
    EXPECT_NE(check_display_name(repeat("\xC3\xA9", 51)), std::nullopt);
    EXPECT_NE(check_display_name(""), std::nullopt);
}

TEST(Password, AcceptsEightTo128Bytes) {
    EXPECT_NE(check_password(""), std::nullopt);
    EXPECT_NE(check_password("1234567"), std::nullopt);
    EXPECT_EQ(check_password("12345678"), std::nullopt);
    EXPECT_EQ(check_password(repeat("p", 128)), std::nullopt);
    EXPECT_NE(check_password(repeat("p", 129)), std::nullopt);
    // Bytes, not code points: 43 three-byte characters are 129 bytes.
    EXPECT_NE(check_password(repeat("\xE6\x97\xA5", 43)), std::nullopt);
}

// ---------------------------------------------------------------------------- handles

TEST(Handle, AcceptsThreeToFifteenWordCharacters) {
    for (const char* h : {"bob", "Alice_99", "___", "abcdefghijklmno", "ABC", "a1_"})
        EXPECT_TRUE(valid_handle(h)) << h;
}

TEST(Handle, RejectsEverythingElse) {
    for (const char* h :
         {"", "ab", "abcdefghijklmnop", "bob smith", "bob-smith", "bob.s", "@bob", "caf\xC3\xA9",
          "b\xC3\xB6"
          "b",
          "../etc", "bob\n", "a%20b", "'; --"})
        EXPECT_FALSE(valid_handle(h)) << h;
    EXPECT_FALSE(valid_handle(std::string("bob\0x", 5)));
}

// ---------------------------------------------------------------------------- mentions

TEST(Mentions, ExtractsHandlesInOrder) {
    EXPECT_EQ(extract_mentions("hi @alice and @bob_2"), (strings{"alice", "bob_2"}));
    EXPECT_EQ(extract_mentions("@alice"), (strings{"alice"}));
    EXPECT_EQ(extract_mentions("@a"), (strings{"a"}));
    EXPECT_EQ(extract_mentions("no mentions here"), strings{});
    EXPECT_EQ(extract_mentions(""), strings{});
    EXPECT_EQ(extract_mentions("@"), strings{});
    EXPECT_EQ(extract_mentions("@ alice"), strings{});
}

TEST(Mentions, EmailAddressesAreNotMentions) {
    EXPECT_EQ(extract_mentions("mail bob@example.com now"), strings{});
    EXPECT_EQ(extract_mentions("x_y@example.com"), strings{});
    EXPECT_EQ(extract_mentions("write to a1@b.c and @carol"), (strings{"carol"}));
    // A letter of another script before '@' is a word character too.
    EXPECT_EQ(extract_mentions("caf\xC3\xA9@alice"), strings{});
}

TEST(Mentions, StopsAtPunctuation) {
    EXPECT_EQ(extract_mentions("@alice, @bob. @carol! (@dave) @erin's @frank:"),
              (strings{"alice", "bob", "carol", "dave", "erin", "frank"}));
    EXPECT_EQ(extract_mentions("hey-@alice"), (strings{"alice"}));
    EXPECT_EQ(extract_mentions("\xE3\x80\x80@alice"), (strings{"alice"}));  // after U+3000
}

TEST(Mentions, DeduplicatesIgnoringCaseAndKeepsTheFirstSpelling) {
    EXPECT_EQ(extract_mentions("@Alice @alice @ALICE @bob @alice"), (strings{"Alice", "bob"}));
}

TEST(Mentions, HandlesLongerThanFifteenAreNotMentions) {
    EXPECT_EQ(extract_mentions("@abcdefghijklmno"), (strings{"abcdefghijklmno"}));  // 15
    EXPECT_EQ(extract_mentions("@abcdefghijklmnop"), strings{});                    // 16
    EXPECT_EQ(extract_mentions("@abcdefghijklmnop @bob"), (strings{"bob"}));
}

TEST(Mentions, SurviveInvalidUtf8WithoutCrashing) {
    EXPECT_EQ(extract_mentions("\xFF@alice \xE6\x97"), strings{"alice"});
    EXPECT_EQ(extract_mentions("\x80\x80\x80@bob"), strings{"bob"});
}

// ---------------------------------------------------------------------------- hashtags

TEST(Hashtags, ExtractsLowerCasedTags) {
    EXPECT_EQ(extract_hashtags("I like #Cpp and #rust_lang"), (strings{"cpp", "rust_lang"}));
    EXPECT_EQ(extract_hashtags("#2024"), (strings{"2024"}));
    EXPECT_EQ(extract_hashtags("nothing"), strings{});
    EXPECT_EQ(extract_hashtags("#"), strings{});
    EXPECT_EQ(extract_hashtags("# tag"), strings{});
}

TEST(Hashtags, DeduplicatesIgnoringCase) {
    EXPECT_EQ(extract_hashtags("#CPP #cpp #Cpp #go"), (strings{"cpp", "go"}));
}

TEST(Hashtags, StopAtAsciiPunctuation) {
    EXPECT_EQ(extract_hashtags("#one, #two. #three! (#four) #five's #C++ #a-b"),
              (strings{"one", "two", "three", "four", "five", "c", "a"}));
}

TEST(Hashtags, NeedNoWordCharacterBefore) {
    EXPECT_EQ(extract_hashtags("a#b c#d"), strings{});
    EXPECT_EQ(extract_hashtags("x #y"), (strings{"y"}));
    EXPECT_EQ(extract_hashtags("(#y)"), (strings{"y"}));
}

TEST(Hashtags, KeepLettersOfOtherScripts) {
    EXPECT_EQ(extract_hashtags("#\xE6\x97\xA5\xE6\x9C\xAC"), (strings{"\xE6\x97\xA5\xE6\x9C\xAC"}));
    EXPECT_EQ(extract_hashtags("#caf\xC3\xA9 ok"), (strings{"caf\xC3\xA9"}));
    // Non-ASCII letters are not lower-cased (only ASCII is), but the ASCII part is.
    EXPECT_EQ(extract_hashtags("#Caf\xC3\xA9"), (strings{"caf\xC3\xA9"}));
}

TEST(Hashtags, StopAtUnicodeWhiteSpaceAndPunctuation) {
    EXPECT_EQ(extract_hashtags("#one\xE3\x80\x80#two\xC2\xA0x"), (strings{"one", "two"}));
    // Punctuation and symbols outside ASCII are not letters either (docs/api.md: letters,
    // digits, _): an ideographic full stop, an ellipsis, curly quotes, an em dash, an emoji.
    EXPECT_EQ(extract_hashtags("#\xE6\x97\xA5\xE6\x9C\xAC\xE3\x80\x82"),  // #日本。
              (strings{"\xE6\x97\xA5\xE6\x9C\xAC"}));
    EXPECT_EQ(extract_hashtags("#wow\xE2\x80\xA6"), (strings{"wow"}));                    // …
    EXPECT_EQ(extract_hashtags("\xE2\x80\x9C#quoted\xE2\x80\x9D"), (strings{"quoted"}));  // “”
    EXPECT_EQ(extract_hashtags("#a\xE2\x80\x94#b"), (strings{"a", "b"}));                 // —
    EXPECT_EQ(extract_hashtags("#party\xF0\x9F\x8E\x89"), (strings{"party"}));            // 🎉
    EXPECT_EQ(extract_hashtags("#x\xEF\xBC\x81"), (strings{"x"}));                        // ！
}

TEST(Hashtags, SurviveInvalidUtf8WithoutCrashing) {
    EXPECT_EQ(extract_hashtags("#ok\xFF"), (strings{"ok"}));
    EXPECT_EQ(extract_hashtags("#\xE6\x97"), strings{});
    EXPECT_EQ(extract_hashtags("\xF0#tag"), (strings{"tag"}));
}

// ---------------------------------------------------------------------------- parse_id

TEST(ParseId, AcceptsPositiveDecimalIds) {
    EXPECT_EQ(parse_id("1"), 1);
    EXPECT_EQ(parse_id("42"), 42);
    EXPECT_EQ(parse_id("9223372036854775807"), 9223372036854775807LL);
}

TEST(ParseId, RejectsEverythingElse) {
    for (const char* s : {"",
                          "0",
                          "-1",
                          "+1",
                          "abc",
                          "1a",
                          "a1",
                          " 1",
                          "1 ",
                          "01",
                          "1.0",
                          "0x10",
                          "99999999999999999999",
                          "9223372036854775808",
                          "18446744073709551616",
                          "../etc/passwd",
                          "..%2Fetc%2Fpasswd",
                          "1e3",
                          "1/2",
                          "\xEF\xBC\x91"}) {
        EXPECT_EQ(parse_id(s), std::nullopt) << s;
    }
    EXPECT_EQ(parse_id(std::string("1\0", 2)), std::nullopt);
}

}  // namespace
