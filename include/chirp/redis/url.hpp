// The Redis URL: redis://[[user]:password@]host[:port][/db]. Parsed once by the config check
// (a malformed URL stops chirpd at start) and again by the client, which sends AUTH and SELECT
// on every connection it opens.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace chirp::redis {

struct endpoint {
    std::string host = "127.0.0.1";  // "localhost" and an empty host mean 127.0.0.1
    int port = 6379;
    std::string user;      // ACL user (AUTH user password); empty: AUTH password
    std::string password;  // empty: no AUTH
    int db = 0;            // SELECT db when not 0
};

// Percent-escapes (%40 for '@', ...) are decoded in the user and the password. nullopt (and
// the reason in *error) when the URL is malformed.
std::optional<endpoint> parse_url(std::string_view url, std::string* error = nullptr);

// --redis-url may list several servers, comma-separated ("redis://a:6379,redis://b:6379"):
// the shards of the fan-out (fanout/routing.hpp), the first one its home. Each URL is parsed
// as above (its own AUTH and database). Empty when the list is malformed (*error says why):
// an empty element, a malformed URL, or one server (host and port) listed twice (pub/sub
// channels ignore the database, so two shards on one server would hear each other).
std::vector<std::string> split_url_list(std::string_view list, std::string* error = nullptr);

}  // namespace chirp::redis
