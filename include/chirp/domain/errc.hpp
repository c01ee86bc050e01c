// The one error vocabulary of Chirp, and its mapping to HTTP and WebSocket answers.
// Bad input is answered the same way everywhere: handlers return an errc with a message.
#pragma once

#include <string>
#include <string_view>
#include <system_error>

namespace chirp {

enum class errc {
    ok = 0,
    bad_request,             // 400: bad query parameter, bad id
    malformed_json,          // 400: body is not JSON (or not UTF-8)
    unauthorized,            // 401
    forbidden,               // 403
    not_found,               // 404
    method_not_allowed,      // 405
    conflict,                // 409
    payload_too_large,       // 413
    unsupported_media_type,  // 415
    validation_failed,       // 422
    rate_limited,            // 429
    unavailable,             // 503: PostgreSQL or Redis down, queue full: nothing stored
    outcome_unknown,         // 503: a write's connection was lost during its commit
    internal,                // 500: a bug
};

const std::error_category& chirp_category() noexcept;
inline std::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), chirp_category()};
}

// The HTTP status for an error.
unsigned http_status(errc e) noexcept;
// The stable machine-readable code string ("validation_failed").
std::string_view code_string(errc e) noexcept;
// {"error": {"code": ..., "message": ...}}
std::string error_body(errc e, std::string_view message);

// An error value: what went wrong and a human sentence for the client.
struct error {
    errc code = errc::internal;
    std::string message;
};

}  // namespace chirp

template <>
struct std::is_error_code_enum<chirp::errc> : std::true_type {};
