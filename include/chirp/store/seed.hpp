// `chirpd seed`: bulk-creates users and follows for benchmarks and demos. Setup only; it goes
// through chirp_exec like every other write, so the log stays the truth.
#pragma once

#include <string>

namespace chirp::store {

// spec: "users=N,prefix=P,password=PW[,follow=A:F]". Users are P0..P(N-1); with follow=A:F
// each of the first A users (the authors) is followed by F of the others. Users that exist
// already are kept. Prints a JSON summary on stdout; false on a bad spec.
bool seed(const std::string& database_url, const std::string& spec);

}  // namespace chirp::store
