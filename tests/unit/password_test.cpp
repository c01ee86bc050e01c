// Unit tests of auth/password: argon2id hashing and verification (minimal cost for speed).
#include "chirp/auth/password.hpp"

#include <gtest/gtest.h>

#include <string>

namespace {

using chirp::auth::hash_cost;
using chirp::auth::hash_password;
using chirp::auth::verify_password;

TEST(Password, HashVerifiesTheRightPasswordOnly) {
    const auto h = hash_password("correct horse battery", hash_cost::minimal);
    EXPECT_TRUE(verify_password(h, "correct horse battery"));
    EXPECT_FALSE(verify_password(h, "correct horse batterY"));
    EXPECT_FALSE(verify_password(h, "correct horse battery "));
    EXPECT_FALSE(verify_password(h, ""));
}

TEST(Password, HashIsArgon2idAndSalted) {
    const auto a = hash_password("same password", hash_cost::minimal);
    const auto b = hash_password("same password", hash_cost::minimal);
    EXPECT_EQ(a.rfind("$argon2id$", 0), 0u) << a;
    EXPECT_NE(a, b) << "each hash has its own salt";
    EXPECT_TRUE(verify_password(a, "same password"));
    EXPECT_TRUE(verify_password(b, "same password"));
    EXPECT_EQ(a.find("same password"), std::string::npos) << "the password is not in the hash";
}

TEST(Password, HandlesBinaryAndUnicodePasswords) {
    const std::string with_nul("pass\0word", 9);
    const auto h = hash_password(with_nul, hash_cost::minimal);
    EXPECT_TRUE(verify_password(h, with_nul));
    EXPECT_FALSE(verify_password(h, "pass")) << "the NUL does not truncate the password";
    const std::string unicode = "p\xC3\xA4ssw\xC3\xB6rd \xF0\x9F\x94\x91";
    EXPECT_TRUE(verify_password(hash_password(unicode, hash_cost::minimal), unicode));
}

TEST(Password, GarbageHashesNeverVerify) {
    for (const char* h :
         {"", "x", "$argon2id$", "$argon2id$v=19$m=8,t=1,p=1$AAAA$AAAA", "plaintext-password"}) {
        EXPECT_FALSE(verify_password(h, "plaintext-password")) << h;
        EXPECT_FALSE(verify_password(h, "")) << h;
    }
}

TEST(Password, InteractiveCostHashesVerifyToo) {
    // One interactive hash (the production cost) to prove both settings are wired.
    const auto h = hash_password("production-cost", hash_cost::interactive);
    EXPECT_EQ(h.rfind("$argon2id$", 0), 0u);
    EXPECT_TRUE(verify_password(h, "production-cost"));
    EXPECT_NE(h, hash_password("production-cost", hash_cost::minimal));
}

}  // namespace
