// argon2id through libsodium; the encoded string carries its own salt and parameters.
#include "chirp/auth/password.hpp"

#include <sodium.h>

#include <stdexcept>

namespace chirp::auth {

std::string hash_password(std::string_view password, hash_cost cost) {
    if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialise");
    char out[crypto_pwhash_STRBYTES];
    const auto ops = cost == hash_cost::interactive ? crypto_pwhash_OPSLIMIT_INTERACTIVE
                                                    : crypto_pwhash_OPSLIMIT_MIN;
    const auto mem = cost == hash_cost::interactive ? crypto_pwhash_MEMLIMIT_INTERACTIVE
                                                    : crypto_pwhash_MEMLIMIT_MIN;
    if (crypto_pwhash_str_alg(out, password.data(), password.size(), ops, mem,
                              crypto_pwhash_ALG_ARGON2ID13) != 0)
        throw std::runtime_error("out of memory while hashing a password");
    return out;
}

bool verify_password(std::string_view hash, std::string_view password) {
    if (sodium_init() < 0) return false;
    const std::string h(hash);  // needs NUL termination
    return crypto_pwhash_str_verify(h.c_str(), password.data(), password.size()) == 0;
}

}  // namespace chirp::auth
