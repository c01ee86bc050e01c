// Flag and environment parsing: one table of options drives parsing and --help.
#include "chirp/config/config.hpp"

#include <sys/resource.h>

#include <charconv>
#include <sstream>

#include "chirp/redis/url.hpp"

namespace chirp {
namespace {

struct option {
    const char* flag;  // without "--"
    const char* env;
    const char* help;
    bool is_switch;
    std::function<bool(config&, const std::string&, std::string&)> set;
};

template <class T>
bool parse_int(const std::string& v, T& out, T lo, T hi) {
    long long x = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
    if (ec != std::errc{} || p != v.data() + v.size() || x < static_cast<long long>(lo) ||
        x > static_cast<long long>(hi))
        return false;
    out = static_cast<T>(x);
    return true;
}

bool parse_bool(const std::string& v, bool& out) {
    if (v == "1" || v == "true" || v == "yes" || v == "on" || v.empty()) return out = true, true;
    if (v == "0" || v == "false" || v == "no" || v == "off") return out = false, true;
    return false;
}

#define INT_OPT(field, lo, hi)                                                                \
    [](config& c, const std::string& v, std::string& err) {                                   \
        if (parse_int(v, c.field, decltype(c.field){lo}, decltype(c.field){hi})) return true; \
        err = "must be an integer from " #lo " to " #hi;                                      \
        return false;                                                                         \
    }
#define MS_OPT(field, lo, hi)                                  \
    [](config& c, const std::string& v, std::string& err) {    \
        long long ms = 0;                                      \
        if (!parse_int(v, ms, (long long)lo, (long long)hi)) { \
            err = "must be milliseconds from " #lo " to " #hi; \
            return false;                                      \
        }                                                      \
        c.field = std::chrono::milliseconds(ms);               \
        return true;                                           \
    }

const std::vector<option>& options() {
    static const std::vector<option> opts = {
        {"port", "CHIRP_PORT", "TCP port to listen on (default 8000)", false,
         INT_OPT(port, 1, 65535)},
        {"bind", "CHIRP_BIND", "address to listen on (default 0.0.0.0)", false,
         [](config& c, const std::string& v, std::string& err) {
             if (v.empty()) return err = "must not be empty", false;
             c.bind = v;
             return true;
         }},
        {"database-url", "CHIRP_DATABASE_URL", "PostgreSQL connection URL", false,
         [](config& c, const std::string& v, std::string& err) {
             if (v.rfind("postgres://", 0) != 0 && v.rfind("postgresql://", 0) != 0)
                 return err = "must start with postgresql://", false;
             c.database_url = v;
             return true;
         }},
        {"redis-url", "CHIRP_REDIS_URL",
         "Redis URL, redis://[[user]:password@]host[:port][/db] (default "
         "redis://127.0.0.1:6379); a comma-separated list shards users over several servers, "
         "the first one also carrying the cluster-wide broadcasts",
         false,
         [](config& c, const std::string& v, std::string& err) {
             if (redis::split_url_list(v, &err).empty()) return false;
             c.redis_url = v;
             return true;
         }},
        {"jwt-secret", "CHIRP_JWT_SECRET",
         "secret for signing JWTs, 16+ bytes (required unless --dev)", false,
         [](config& c, const std::string& v, std::string&) { return c.jwt_secret = v, true; }},
        {"dev", "CHIRP_DEV", "development mode: allows a missing JWT secret", true,
         [](config& c, const std::string& v, std::string& err) {
             if (!parse_bool(v, c.dev)) return err = "must be true or false", false;
             return true;
         }},
        {"web-root", "CHIRP_WEB_ROOT", "directory of the built web client served at /", false,
         [](config& c, const std::string& v, std::string&) { return c.web_root = v, true; }},
        {"log-level", "CHIRP_LOG_LEVEL", "trace, debug, info, warn, error or off (default info)",
         false,
         [](config& c, const std::string& v, std::string& err) {
             for (const char* l : {"trace", "debug", "info", "warn", "error", "off"})
                 if (v == l) return c.log_level = v, true;
             return err = "must be one of trace, debug, info, warn, error, off", false;
         }},
        {"log-format", "CHIRP_LOG_FORMAT", "text or json (JSON lines) (default text)", false,
         [](config& c, const std::string& v, std::string& err) {
             if (v != "text" && v != "json") return err = "must be text or json", false;
             c.log_format = v;
             return true;
         }},
        {"jwt-ttl-seconds", "CHIRP_JWT_TTL_SECONDS", "token lifetime in seconds (default 86400)",
         false,
         [](config& c, const std::string& v, std::string& err) {
             long long s = 0;
             if (!parse_int(v, s, 1LL, 31LL * 86400)) return err = "must be 1 to 2678400", false;
             c.jwt_ttl = std::chrono::seconds(s);
             return true;
         }},
        {"db-threads", "CHIRP_DB_THREADS", "PostgreSQL reader threads (default 4)", false,
         INT_OPT(db_threads, 1, 64)},
        {"writer-max-batch", "CHIRP_WRITER_MAX_BATCH", "commands per group commit (default 2000)",
         false, INT_OPT(writer_max_batch, 1, 100000)},
        {"writer-max-queue", "CHIRP_WRITER_MAX_QUEUE", "queued writes before 503 (default 50000)",
         false, INT_OPT(writer_max_queue, 1, 10000000)},
        {"fast-password-hash", "CHIRP_FAST_PASSWORD_HASH",
         "cheapest argon2id cost (tests, benchmarks only)", true,
         [](config& c, const std::string& v, std::string& err) {
             if (!parse_bool(v, c.fast_password_hash)) return err = "must be true or false", false;
             return true;
         }},
        {"allowed-origins", "CHIRP_ALLOWED_ORIGINS",
         "comma-separated WebSocket Origins (default: own origin and localhost)", false,
         [](config& c, const std::string& v, std::string&) {
             c.allowed_origins.clear();
             std::stringstream ss(v);
             for (std::string item; std::getline(ss, item, ',');)
                 if (!item.empty()) c.allowed_origins.push_back(item);
             return true;
         }},
        {"ws-auth-timeout-ms", "CHIRP_WS_AUTH_TIMEOUT_MS",
         "time to authenticate a WebSocket (default 5000)", false,
         MS_OPT(ws_auth_timeout, 100, 600000)},
        {"heartbeat-ms", "CHIRP_HEARTBEAT_MS", "WebSocket ping interval (default 20000)", false,
         MS_OPT(heartbeat, 100, 600000)},
        {"replay-max", "CHIRP_REPLAY_MAX", "most events replayed before a resync (default 1000)",
         false, INT_OPT(replay_max, 1, 1000000)},
        {"ws-queue-messages", "CHIRP_WS_QUEUE_MESSAGES",
         "per-socket send queue bound in messages (default 4096)", false,
         INT_OPT(ws_queue_messages, 1, 1000000)},
        {"ws-queue-bytes", "CHIRP_WS_QUEUE_BYTES",
         "per-socket send queue bound in bytes (default 4194304)", false,
         INT_OPT(ws_queue_bytes, 1024, 1073741824)},
        {"celebrity-threshold", "CHIRP_CELEBRITY_THRESHOLD",
         "followers above which tweets fan out on read (default 10000)", false,
         INT_OPT(celebrity_threshold, 0, 1000000000)},
        {"ws-rate-limit", "CHIRP_WS_RATE_LIMIT",
         "client WebSocket messages per second before 4029 (default 50)", false,
         INT_OPT(ws_rate_limit, 1, 1000000)},
        {"max-sessions-per-user", "CHIRP_MAX_SESSIONS_PER_USER",
         "WebSocket + SSE sessions of one user; the next gets 4009 / HTTP 429 (default 16)", false,
         INT_OPT(max_sessions_per_user, 1, 1000000)},
        {"max-connections", "CHIRP_MAX_CONNECTIONS",
         "open client sockets at most; 0: descriptor limit minus a reserve (default 0)", false,
         INT_OPT(max_connections, 0, 10000000)},
        {"replays-per-minute", "CHIRP_REPLAYS_PER_MINUTE",
         "subscribes with since per user and minute, burst half; over: resync (default 60)", false,
         INT_OPT(replays_per_minute, 1, 1000000)},
        {"write-timeout-ms", "CHIRP_WRITE_TIMEOUT_MS",
         "deadline of one socket write; then the connection is dropped (default 10000)", false,
         MS_OPT(write_timeout, 100, 600000)},
        {"request-read-timeout-ms", "CHIRP_REQUEST_READ_TIMEOUT_MS",
         "deadline to read a request's headers and body (default 10000)", false,
         MS_OPT(request_read_timeout, 100, 600000)},
        {"keep-alive-timeout-ms", "CHIRP_KEEP_ALIVE_TIMEOUT_MS",
         "idle time allowed between keep-alive requests (default 30000)", false,
         MS_OPT(keep_alive_timeout, 100, 3600000)},
        {"bench-events", "CHIRP_BENCH_EVENTS",
         "bench-append: events in the saturation phase (default 50000)", false,
         INT_OPT(bench_events, 1, 10000000)},
        {"bench-rate", "CHIRP_BENCH_RATE",
         "bench-append: events/s in the fixed-rate phase (default 1000)", false,
         INT_OPT(bench_rate, 1, 1000000)},
        {"bench-seconds", "CHIRP_BENCH_SECONDS",
         "bench-append: seconds of the fixed-rate phase (default 10)", false,
         INT_OPT(bench_seconds, 1, 3600)},
        {"bench-type", "CHIRP_BENCH_TYPE",
         "bench-append: tweet (TweetCreated) or like (TweetLiked + notification) (default tweet)",
         false,
         [](config& c, const std::string& v, std::string& err) {
             if (v != "tweet" && v != "like") return err = "must be tweet or like", false;
             c.bench_type = v;
             return true;
         }},
        {"write-rate-limit", "CHIRP_WRITE_RATE_LIMIT",
         "REST writes per second per user, burst twice that, before 429; 0: off (default 100)",
         false, INT_OPT(write_rate_limit, 0, 1000000)},
        {"register-rate-limit", "CHIRP_REGISTER_RATE_LIMIT",
         "registrations per minute per client address before 429; 0: off (default 20)", false,
         INT_OPT(register_rate_limit, 0, 1000000)},
        {"password-queue", "CHIRP_PASSWORD_QUEUE",
         "password hashes queued or running before 503 (default 32)", false,
         INT_OPT(password_queue, 4, 100000)},
        {"idempotency-purge-seconds", "CHIRP_IDEMPOTENCY_PURGE_SECONDS",
         "how often Idempotency-Key records older than 24 h are deleted (default 600)", false,
         INT_OPT(idempotency_purge_seconds, 1, 86400)},
        {"redis-timeout-ms", "CHIRP_REDIS_TIMEOUT_MS",
         "Redis command deadline; a connection silent this long after a PING is dropped "
         "(default 2000)",
         false, MS_OPT(redis_timeout, 100, 60000)},
        {"redis-queue-bytes", "CHIRP_REDIS_QUEUE_BYTES",
         "bytes queued toward Redis per connection before writes are dropped (default "
         "16777216)",
         false, INT_OPT(redis_queue_bytes, 65536, 1073741824)},
        {"seed", "CHIRP_SEED", "for `chirpd seed`: users=N,prefix=P,password=PW[,follow=A:F]",
         false,
         [](config& c, const std::string& v, std::string&) { return c.seed_spec = v, true; }},
        {"db-connect-timeout-s", "CHIRP_DB_CONNECT_TIMEOUT_S",
         "PostgreSQL connect timeout in seconds (default 2)", false,
         INT_OPT(db_connect_timeout_s, 2, 600)},
        {"db-statement-timeout-ms", "CHIRP_DB_STATEMENT_TIMEOUT_MS",
         "PostgreSQL statement_timeout; the client gives up 500 ms later (default 3000)", false,
         MS_OPT(db_statement_timeout, 100, 600000)},
        {"db-queue-timeout-ms", "CHIRP_DB_QUEUE_TIMEOUT_MS",
         "longest wait of a read or write for a PostgreSQL connection, then 503 (default 1000)",
         false, MS_OPT(db_queue_timeout, 10, 600000)},
        {"workers", "CHIRP_WORKERS",
         "serving processes sharing the port under a supervisor; 0: one per CPU, 1: a single "
         "process without supervisor (default 0)",
         false, INT_OPT(workers, 0, 1024)},
        {"worker-index", "CHIRP_WORKER_INDEX",
         "internal, set by the supervisor: this process is worker K (no migrations, SO_REUSEPORT)",
         false, INT_OPT(worker_index, 0, 1023)},
        {"worker-ready-fd", "CHIRP_WORKER_READY_FD",
         "internal, set by the supervisor: descriptor told once the worker listens", false,
         INT_OPT(worker_ready_fd, 3, 65535)},
        {"limits-fd", "CHIRP_LIMITS_FD",
         "internal, set by the supervisor: the abuse limits' memory shared by the workers", false,
         INT_OPT(limits_fd, 3, 65535)},
    };
    return opts;
}

std::string help_text() {
    std::ostringstream out;
    out << "usage: chirpd [serve|migrate|rebuild-projections|seed|bench-append] [options]\n\n"
           "  serve                 run the server (default)\n"
           "  migrate               apply database migrations and exit\n"
           "  rebuild-projections   empty the projections and replay the event log\n"
           "  seed                  bulk-create users and follows (benchmark setup only)\n"
           "  bench-append          measure the event append path (events/s, latency)\n\n"
           "options (each also as an environment variable; flags win):\n";
    for (const auto& o : options()) {
        std::string f = std::string("  --") + o.flag + (o.is_switch ? "" : " VALUE");
        if (f.size() < 30) f.resize(30, ' ');
        out << f << o.env << "\n      " << o.help << "\n";
    }
    out << "  --help                        show this text\n";
    return out.str();
}

}  // namespace

std::size_t connection_reserve(const config& c) {
    return 64 + 2 * static_cast<std::size_t>(c.db_threads);
}

std::size_t effective_max_connections(const config& c) {
    if (c.max_connections > 0) return c.max_connections;
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return 1000000;
    const auto reserve = connection_reserve(c);
    const auto limit = static_cast<std::size_t>(rl.rlim_cur);
    return limit > reserve + 1 ? limit - reserve : 1;
}

parse_result parse_config(int argc, const char* const* argv, const env_lookup& getenv_fn) {
    parse_result r;
    std::string err;
    for (const auto& o : options()) {
        // An empty variable is unset: `CHIRP_DEV=` must not switch dev mode on.
        if (const char* v = getenv_fn(o.env); v != nullptr && *v != '\0') {
            if (!o.set(r.cfg, v, err)) {
                r.message = std::string(o.env) + " " + err;
                return r;
            }
        }
    }
    int i = 1;
    if (i < argc && argv[i][0] != '-') {
        const std::string cmd = argv[i++];
        if (cmd != "serve" && cmd != "migrate" && cmd != "rebuild-projections" && cmd != "seed" &&
            cmd != "bench-append") {
            r.message = "unknown command '" + cmd + "' (see --help)";
            return r;
        }
        r.cfg.command = cmd;
    }
    for (; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            r.help = true;
            r.ok = true;
            r.message = help_text();
            return r;
        }
        if (arg.rfind("--", 0) != 0) {
            r.message = "unexpected argument '" + arg + "' (see --help)";
            return r;
        }
        std::string name = arg.substr(2), value;
        bool has_value = false;
        if (auto eq = name.find('='); eq != std::string::npos) {
            value = name.substr(eq + 1);
            name = name.substr(0, eq);
            has_value = true;
        }
        const option* opt = nullptr;
        for (const auto& o : options())
            if (name == o.flag) opt = &o;
        if (opt == nullptr) {
            r.message = "unknown option --" + name + " (see --help)";
            return r;
        }
        if (!has_value && !opt->is_switch) {
            if (i + 1 >= argc) {
                r.message = "--" + name + " needs a value";
                return r;
            }
            value = argv[++i];
        } else if (!has_value) {
            value = "true";
        }
        if (!opt->set(r.cfg, value, err)) {
            r.message = "--" + name + " " + err;
            return r;
        }
    }
    if (r.cfg.jwt_secret.empty()) {
        if (!r.cfg.dev && r.cfg.command == "serve") {
            r.message = "CHIRP_JWT_SECRET (or --jwt-secret) is required outside --dev mode";
            return r;
        }
        r.cfg.jwt_secret = "chirp-dev-secret-not-for-production";
    } else if (r.cfg.jwt_secret.size() < 16 && !r.cfg.dev) {
        r.message = "CHIRP_JWT_SECRET must be at least 16 bytes";
        return r;
    } else if (!r.cfg.dev && r.cfg.command == "serve" &&
               (r.cfg.jwt_secret == compose_dev_secret ||
                r.cfg.jwt_secret == "chirp-dev-secret-not-for-production")) {
        // Anyone can sign tokens with a secret published in the repository.
        r.message =
            "CHIRP_JWT_SECRET is the public development secret of docker-compose.yml: set "
            "your own (e.g. CHIRP_JWT_SECRET=$(head -c 32 /dev/urandom | base64)) or pass --dev "
            "(CHIRP_DEV=1) for a local try-out";
        return r;
    }
    r.ok = true;
    return r;
}

}  // namespace chirp
