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

using util::limit_table;

std::string pair_key(const std::string& handle, const std::string& address) {
    return handle + '\n' + address;  // '\n' is in neither
}

// A window of 60 s from its first failure (a fresh, zeroed one has ended long ago).
struct window {
    std::int64_t start;
    std::int64_t failures;
};

}  // namespace

util::limits_region& login_limiter::region() {
    if (!region_)
        region_ =
            util::limits_region::create_private({static_cast<std::uint32_t>(max_entries_), 1, 1});
    return *region_;
}

std::size_t login_limiter::entries() const {
    if (!region_) return 0;
    return region_->entries(limit_table::login_pairs) +
           region_->entries(limit_table::login_addresses) +
           region_->entries(limit_table::login_handles);
}

int login_limiter::retry_after(std::string_view raw_handle, const std::string& address,
                               std::int64_t now) {
    const auto handle = normalize_handle(raw_handle);
    int wait = 0;
    auto check = [&](limit_table t, const std::string& key, int limit) {
        region().update<window>(t, key, false, [&](window& w, bool) {
            if (now - w.start >= window_seconds) return false;  // ended: forget it
            if (w.failures >= limit)
                wait = std::max(wait, static_cast<int>(w.start + window_seconds - now));
            return true;
        });
    };
    check(limit_table::login_pairs, pair_key(handle, address), per_pair);
    check(limit_table::login_addresses, address, per_address);
    check(limit_table::login_handles, handle, per_handle);
    return wait;
}

void login_limiter::failed(std::string_view raw_handle, const std::string& address,
                           std::int64_t now) {
    const auto handle = normalize_handle(raw_handle);
    auto count = [&](limit_table t, const std::string& key) {
        region().update<window>(t, key, true, [&](window& w, bool) {
            if (now - w.start >= window_seconds) w = {now, 0};
            ++w.failures;
            return true;
        });
    };
    count(limit_table::login_pairs, pair_key(handle, address));
    count(limit_table::login_addresses, address);
    count(limit_table::login_handles, handle);
}

void login_limiter::succeeded(std::string_view raw_handle, const std::string& address) {
    const auto handle = normalize_handle(raw_handle);
    region().erase(limit_table::login_pairs, pair_key(handle, address));
    region().erase(limit_table::login_handles, handle);
}

}  // namespace chirp::http
