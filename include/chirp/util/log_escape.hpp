// Log lines carry client-controlled text (request targets, handles, Origin headers, database
// errors quoting input). A decoded %0A in a path must not start a forged line: every control
// character (C0, DEL) becomes a visible \xNN escape and a backslash becomes \\, so one log
// call is always one line and an escape in the log is never ambiguous.
#pragma once

#include <string>
#include <string_view>

namespace chirp::util {

template <class Out>
void append_log_escaped(Out& out, std::string_view s) {
    static constexpr char hex[] = "0123456789abcdef";
    for (char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if (c < 0x20 || c == 0x7f) {
            const char esc[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};
            out.append(esc, esc + 4);
        } else if (c == '\\') {
            out.push_back('\\');
            out.push_back('\\');
        } else {
            out.push_back(ch);
        }
    }
}

inline std::string log_escaped(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    append_log_escaped(out, s);
    return out;
}

}  // namespace chirp::util
