// The REST API's abuse limits (see limits.hpp for the policy).
#include "chirp/http/limits.hpp"

#include <algorithm>
#include <cmath>

namespace chirp::http {

std::string normalize_handle(std::string_view handle) {
    std::string out(handle);
    for (auto& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

namespace {

std::string pair_key(const std::string& handle, const std::string& address) {
    return handle + '\n' + address;  // '\n' is in neither
}

}  // namespace

int login_limiter::retry_after(std::string_view raw_handle, const std::string& address,
                               std::int64_t now) {
    const auto handle = normalize_handle(raw_handle);
    int wait = 0;
    auto check = [&](lru_map<window>& m, const std::string& key, int limit) {
        window* w = m.find(key);
        if (w == nullptr) return;
        if (now - w->start >= window_seconds) {
            m.erase(key);
            return;
        }
        if (w->failures >= limit)
            wait = std::max(wait, static_cast<int>(w->start + window_seconds - now));
    };
    check(pairs_, pair_key(handle, address), per_pair);
    check(addresses_, address, per_address);
    check(handles_, handle, per_handle);
    return wait;
}

void login_limiter::failed(std::string_view raw_handle, const std::string& address,
                           std::int64_t now) {
    const auto handle = normalize_handle(raw_handle);
    for (auto* w : {&pairs_.get(pair_key(handle, address)), &addresses_.get(address),
                    &handles_.get(handle)}) {
        if (now - w->start >= window_seconds) *w = {now, 0};
        ++w->failures;
    }
}

void login_limiter::succeeded(std::string_view raw_handle, const std::string& address) {
    const auto handle = normalize_handle(raw_handle);
    pairs_.erase(pair_key(handle, address));
    handles_.erase(handle);
}

}  // namespace chirp::http
