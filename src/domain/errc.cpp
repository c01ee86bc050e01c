// Error category and the HTTP mapping of chirp::errc.
#include "chirp/domain/errc.hpp"

#include <nlohmann/json.hpp>

namespace chirp {
namespace {

struct category final : std::error_category {
    const char* name() const noexcept override { return "chirp"; }
    std::string message(int ev) const override {
        return std::string(code_string(static_cast<errc>(ev)));
    }
};

}  // namespace

const std::error_category& chirp_category() noexcept {
    static const category cat;
    return cat;
}

unsigned http_status(errc e) noexcept {
    switch (e) {
        case errc::ok:
            return 200;
        case errc::bad_request:
            return 400;
        case errc::malformed_json:
            return 400;
        case errc::unauthorized:
            return 401;
        case errc::forbidden:
            return 403;
        case errc::not_found:
            return 404;
        case errc::method_not_allowed:
            return 405;
        case errc::conflict:
            return 409;
        case errc::payload_too_large:
            return 413;
        case errc::unsupported_media_type:
            return 415;
        case errc::validation_failed:
            return 422;
        case errc::rate_limited:
            return 429;
        case errc::unavailable:
            return 503;
        case errc::outcome_unknown:
            return 503;
        case errc::internal:
            return 500;
    }
    return 500;
}

std::string_view code_string(errc e) noexcept {
    switch (e) {
        case errc::ok:
            return "ok";
        case errc::bad_request:
            return "bad_request";
        case errc::malformed_json:
            return "malformed_json";
        case errc::unauthorized:
            return "unauthorized";
        case errc::forbidden:
            return "forbidden";
        case errc::not_found:
            return "not_found";
        case errc::method_not_allowed:
            return "method_not_allowed";
        case errc::conflict:
            return "conflict";
        case errc::payload_too_large:
            return "payload_too_large";
        case errc::unsupported_media_type:
            return "unsupported_media_type";
        case errc::validation_failed:
            return "validation_failed";
        case errc::rate_limited:
            return "rate_limited";
        case errc::unavailable:
            return "unavailable";
        case errc::outcome_unknown:
            return "outcome_unknown";
        case errc::internal:
            return "internal";
    }
    return "internal";
}

std::string error_body(errc e, std::string_view message) {
    nlohmann::json j = {{"error", {{"code", code_string(e)}, {"message", message}}}};
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace chirp
