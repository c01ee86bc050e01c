// One config struct for chirpd, from flags and CHIRP_* environment variables (flags win),
// validated once in main and passed by const&.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <variant>
#include <vector>

namespace chirp {

struct config {
    std::string command = "serve";  // serve | rebuild-projections | migrate | seed | bench-append
    std::string bind = "0.0.0.0";   // listen address
    std::uint16_t port = 8000;
    std::string database_url = "postgresql://chirp@127.0.0.1:5432/chirp";
    std::string redis_url = "redis://127.0.0.1:6379";
    std::string jwt_secret;           // required unless dev mode
    bool dev = false;                 // dev mode: a fixed JWT secret is allowed
    std::string web_root;             // static files of the web client; empty: none
    std::string log_level = "info";   // trace|debug|info|warn|error|off
    std::string log_format = "text";  // text | json (one JSON object per line)
    std::chrono::seconds jwt_ttl{24 * 3600};
    int db_threads = 4;                        // PostgreSQL reader connections (plus the writer)
    std::size_t writer_max_batch = 2000;       // commands per group commit at most
    std::size_t writer_max_queue = 50000;      // queued commands at most; beyond: 503
    bool fast_password_hash = false;           // minimal argon2id cost: tests and benchmarks only
    std::vector<std::string> allowed_origins;  // empty: own origin and localhost
    std::chrono::milliseconds ws_auth_timeout{5000};
    std::chrono::milliseconds heartbeat{20000};
    std::size_t replay_max = 1000;
    std::size_t ws_queue_messages = 4096;          // per-socket send queue bound (> replay-max)
    std::size_t ws_queue_bytes = 4 * 1024 * 1024;  // per-socket send queue bound (bytes)
    std::size_t celebrity_threshold = 10000;       // followers above which fan-out is on read
    int ws_rate_limit = 50;  // client messages per second (burst 2x) before 4029
    // Connection limits and deadlines (issue 10, items 3, 4, 6; README "Limits").
    int max_sessions_per_user = 16;  // WebSocket + SSE sessions of one user in this process
    // Open client sockets at most; 0: RLIMIT_NOFILE minus connection_reserve(). At the cap the
    // listener stops accepting (the kernel's backlog holds the rest) until a socket closes.
    std::size_t max_connections = 0;
    int replays_per_minute = 60;  // subscribes with `since` per user (burst: half); over: resync
    std::chrono::milliseconds write_timeout{10000};         // one socket write, any transport
    std::chrono::milliseconds request_read_timeout{10000};  // a request's headers and body
    std::chrono::milliseconds keep_alive_timeout{30000};    // idle between keep-alive requests
    std::string seed_spec;             // chirpd seed: "users=N,prefix=P,password=PW,follow=..."
    long bench_events = 50000;         // chirpd bench-append: events in the saturation phase
    int bench_rate = 1000;             // chirpd bench-append: events/s in the fixed-rate phase
    int bench_seconds = 10;            // chirpd bench-append: length of the fixed-rate phase
    std::string bench_type = "tweet";  // chirpd bench-append: tweet or like
    // Abuse limits of the REST API (docs/api.md "Limits"); 0 switches a rate limit off.
    int write_rate_limit = 100;    // writes per second per user (burst 2x) before 429
    int register_rate_limit = 20;  // registrations per minute per client address before 429
    int password_queue = 32;       // argon2 jobs queued or running before 503 (1/4 kept for logins)
    int idempotency_purge_seconds = 600;  // how often records past their 24 h are deleted
    // PostgreSQL deadlines (store/guard.hpp): libpq connect_timeout (seconds, libpq's minimum
    // is 2), the server-side statement_timeout (the client gives up 500 ms later), and the
    // longest wait of a read or write for a pool connection; beyond each: 503.
    int db_connect_timeout_s = 2;
    std::chrono::milliseconds db_statement_timeout{3000};
    std::chrono::milliseconds db_queue_timeout{1000};
    // Redis: command deadline and health-check deadline (a PING every quarter of it).
    std::chrono::milliseconds redis_timeout{2000};
    std::size_t redis_queue_bytes = 16 * 1024 * 1024;  // bytes queued toward Redis at most
    // Processes (issue 12, item 1; docs/architecture.md "Processes"): `serve` with more than
    // one worker runs a supervisor that starts that many single-threaded serving processes
    // sharing the port (SO_REUSEPORT). 0: one per CPU this process may run on; 1: one process,
    // no supervisor.
    int workers = 0;
    int worker_index = -1;     // set by the supervisor for its workers (0..N-1); -1: not a worker
    int worker_ready_fd = -1;  // set by the supervisor: one byte is written here once listening
    // Set by the supervisor: a memfd holding the abuse limits' state, shared by its workers
    // (util/limit_tables.hpp); -1: this process keeps its own.
    int limits_fd = -1;
};

// The public development secret of docker-compose.yml: refused unless --dev.
inline constexpr const char* compose_dev_secret =
    "chirp-compose-dev-secret-change-me-0123456789abcdef";

// Parses argv and the environment. On error returns a one-line message. --help yields
// the help text with help=true.
struct parse_result {
    config cfg;
    std::string message;  // error or help text
    bool help = false;
    bool ok = false;
};
using env_lookup = std::function<const char*(const char*)>;
parse_result parse_config(int argc, const char* const* argv, const env_lookup& getenv_fn);

// Descriptors kept free of client sockets: PostgreSQL (readers, writer), Redis, the listener,
// log files, stdio and some slack.
std::size_t connection_reserve(const config& c);
// max_connections, or (0) the soft RLIMIT_NOFILE minus connection_reserve(), at least 1.
std::size_t effective_max_connections(const config& c);

}  // namespace chirp
