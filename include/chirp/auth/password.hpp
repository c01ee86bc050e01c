// Password hashing with argon2id (libsodium's crypto_pwhash_str). CPU- and memory-heavy by
// design: call it off the event loop.
#pragma once

#include <string>
#include <string_view>

namespace chirp::auth {

enum class hash_cost { interactive, minimal };  // minimal: tests and benchmarks only

std::string hash_password(std::string_view password, hash_cost cost = hash_cost::interactive);
bool verify_password(std::string_view hash, std::string_view password);

}  // namespace chirp::auth
