// DESIGN
// The loop never touches PostgreSQL. Two kinds of threads own connections:
//  - reader threads (cfg.db_threads) take typed reads (typed_reads.cpp) from a bounded queue;
//  - one writer thread takes every queued command at once and runs them as one batch:
//    SELECT chirp_exec_rows(<all commands>) as one implicit transaction. That is group commit: one
//    fsync for the whole batch, so throughput grows with load. It takes the append advisory lock
//    first, so seq order is commit order across processes (ARCHITECTURE guarantee 3).
// chirp_exec_rows (migration 004) answers the fast paths (plain tweets, likes) with raw columns,
// other commands with JSON. A committed batch goes to one completer thread, which renders the
// answers and live frames (serialized once) while the writer runs the next batch, and posts
// them in commit order to the loop, where the awaiting coroutine resumes and the on_committed
// hook runs (fan-out).
// A command is answered only after its commit (guarantee 1).
#include "chirp/store/store.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <thread>

#include "chirp/config/config.hpp"
#include "chirp/metrics/metrics.hpp"
#include "queries.hpp"
#include "typed_reads.hpp"

namespace asio = boost::asio;

namespace chirp::store {
namespace {

template <class T>
using completion = std::function<void(T)>;

// Wraps a move-only completion handler so that std::function can hold it.
// With a hook (the fan-out), the hook sees a committed write on the loop before the awaiting
// coroutine resumes, and decides when it resumes.
template <class T, class Handler>
completion<T> make_completion(Handler&& h, const event_store::commit_hook* hook = nullptr) {
    auto p = std::make_shared<std::decay_t<Handler>>(std::forward<Handler>(h));
    return [p, hook](T v) {
        auto ex = asio::get_associated_executor(*p);
        asio::post(ex, [p, hook, v = std::move(v)]() mutable {
            if constexpr (std::is_same_v<T, write_result>) {
                if (hook != nullptr && *hook && !v.deliveries.empty()) {
                    auto r = std::make_shared<write_result>(std::move(v));
                    (*hook)(*r, [p, r] { (*p)(std::move(*r)); });
                    return;
                }
            }
            (*p)(std::move(v));
        });
    };
}

std::shared_ptr<const std::string> make_frame(std::string_view channel, const std::string& seq,
                                              const nlohmann::json& event) {
    std::string s;
    s.reserve(256);
    s += R"({"type":"event","channel":")";
    s += channel;
    s += R"(","seq":")";
    s += seq;
    s += R"(","event":)";
    s += event.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    s += '}';
    return std::make_shared<const std::string>(std::move(s));
}

// Appends `v` as a JSON string (quoted, escaped). The text is UTF-8 from PostgreSQL.
void append_json_string(std::string& out, std::string_view v) {
    static constexpr char hex[] = "0123456789abcdef";
    out += '"';
    for (const char ch : v) {
        const auto c = static_cast<unsigned char>(ch);
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            case '\b':
                out += "\\b";
                break;
            case '\f':
                out += "\\f";
                break;
            default:
                if (c < 0x20) {
                    out += "\\u00";
                    out += hex[c >> 4];
                    out += hex[c & 0xf];
                } else {
                    out += ch;
                }
        }
    }
    out += '"';
}

// chirp_ts(): microseconds since 1970 as "YYYY-MM-DDTHH:MM:SS.mmmZ" (UTC, milliseconds
// truncated like to_char's MS).
std::string format_ts(long long us) {
    long long secs = us / 1000000;
    long long rem = us % 1000000;
    if (rem < 0) {
        rem += 1000000;
        --secs;
    }
    const auto t = static_cast<std::time_t>(secs);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[96];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<int>(rem / 1000));
    return buf;
}

long long to_ll(const nlohmann::json& j) {
    if (j.is_string()) return std::stoll(j.get<std::string>());
    if (j.is_number_integer()) return j.get<long long>();
    return 0;
}

// Columns of chirp_exec_rows (migration 004) as the writer selects them.
enum col : int {
    c_json,
    c_kind,
    c_seq,
    c_tid,
    c_actor,
    c_eid,
    c_ts,
    c_content,
    c_handle,
    c_name,
    c_hashtags,
    c_author,
    c_likes,
    c_retweets,
    c_replies,
    c_flag,
    c_base,
    c_for_author
};

// `obj` (a JSON object's text) with `fields` (",\"k\":v..." ) added before its closing brace.
void append_extended(std::string& out, std::string_view obj, std::string_view fields) {
    const auto close = obj.rfind('}');
    out.append(obj.substr(0, close));
    if (obj.find_first_not_of(" {", 0) != close) {
        out.append(fields);
    } else {
        out.append(fields.substr(1));  // an empty object: no leading comma
    }
    out += '}';
}

// The envelope of a live frame up to the event's payload:
// {"type":"event","channel":C,"seq":"S","event":{"id":E,"type":T,"userId":U,"timestamp":TS,
// "version":1,"payload":  — the caller appends the payload and "}}}". (version: the
// events.version column's default, which the fast paths do not set.)
std::string open_frame(std::string_view channel, std::string_view seq, std::string_view eid,
                       std::string_view type, std::string_view actor, std::string_view ts,
                       std::size_t reserve) {
    std::string f;
    f.reserve(reserve + 256);
    f += R"({"type":"event","channel":")";
    f += channel;
    f += R"(","seq":")";
    f += seq;
    f += R"(","event":{"id":")";
    f += eid;
    f += R"(","type":")";
    f += type;
    f += R"(","userId":")";
    f += actor;
    f += R"(","timestamp":")";
    f += ts;
    f += R"(","version":1,"payload":)";
    return f;
}

// A like from chirp_exec_likes_rows' raw columns: the answer (the tweet as the liker sees it),
// and for a new like the timeline frame (the counts) and the author's notification frame; the
// same JSON as the likes fast path of 002 built in SQL.
write_result render_like(const pqxx::row& row) {
    const std::string tid = row[c_tid].c_str(), actor = row[c_actor].c_str();
    const std::string likes = row[c_likes].c_str();
    write_result wr;
    wr.status = 200;
    std::string fields = R"(,"likes":)";
    fields += likes;
    fields += R"(,"likedByMe":true,"retweetedByMe":)";
    fields += row[c_flag].as<bool>() ? "true" : "false";
    append_extended(wr.body, row[c_base].c_str(), fields);
    if (row[c_seq].is_null()) return wr;  // already liked: nothing appended

    const std::string seq = row[c_seq].c_str(), eid = row[c_eid].c_str();
    const auto ts = format_ts(row[c_ts].as<long long>());
    const auto author = row[c_author].as<long long>();
    wr.seq = row[c_seq].as<long long>();
    std::string frame = open_frame("timeline", seq, eid, "TweetLiked", actor, ts, 128);
    frame += R"({"tweetId":")";
    frame += tid;
    frame += R"(","likes":)";
    frame += likes;
    frame += R"(,"retweets":)";
    frame += row[c_retweets].c_str();
    frame += R"(,"replies":)";
    frame += row[c_replies].c_str();
    frame += "}}}";
    delivery del;
    del.channel = channel_kind::timeline;
    del.seq = wr.seq;
    del.author = author;
    del.actor = row[c_actor].as<long long>();
    del.frame = std::make_shared<const std::string>(std::move(frame));
    wr.deliveries.push_back(std::move(del));
    if (author == wr.deliveries[0].actor) return wr;  // no notification for your own like

    std::string note = open_frame("notifications", seq, eid, "Notification", actor, ts, 768);
    note += R"({"notification":{"id":")";
    note += seq;
    note += R"(","seq":")";
    note += seq;
    note += R"(","type":"like","actor":{"id":")";
    note += actor;
    note += R"(","handle":)";
    append_json_string(note, row[c_handle].c_str());
    note += R"(,"displayName":)";
    append_json_string(note, row[c_name].c_str());
    note += R"(},"tweet":)";
    append_extended(note, row[c_for_author].c_str(), R"(,"likes":)" + likes);
    note += R"(,"conversationId":null,"createdAt":")";
    note += ts;
    note += R"(","read":false}}}})";
    delivery n;
    n.channel = channel_kind::notifications;
    n.seq = wr.seq;
    n.actor = wr.deliveries[0].actor;
    n.users.push_back(author);
    n.frame = std::make_shared<const std::string>(std::move(note));
    wr.deliveries.push_back(std::move(n));
    return wr;
}

// The answer and the timeline frame of a plain tweet from chirp_exec_plain_tweets_rows' raw
// columns: the same JSON as chirp_tweet_json and chirp_wire_timeline give for it, without
// JSON in SQL.
write_result render_plain_tweet(const pqxx::row& row) {
    const std::string seq = row[c_seq].c_str(), tid = row[c_tid].c_str(),
                      actor = row[c_actor].c_str();
    const auto ts = format_ts(row[c_ts].as<long long>());
    std::string tweet;
    tweet.reserve(384);
    tweet += R"({"id":")";
    tweet += tid;
    tweet += R"(","author":{"id":")";
    tweet += actor;
    tweet += R"(","handle":)";
    append_json_string(tweet, row[c_handle].c_str());
    tweet += R"(,"displayName":)";
    append_json_string(tweet, row[c_name].c_str());
    tweet += R"(},"content":)";
    append_json_string(tweet, row[c_content].c_str());
    tweet += R"(,"createdAt":")";
    tweet += ts;
    tweet += R"(","replyTo":null,"retweetOf":null,"mentions":[],"hashtags":)";
    tweet += row[c_hashtags].c_str();  // jsonb text of an array of strings
    tweet += R"(,"likes":0,"retweets":0,"replies":0,"likedByMe":false,"retweetedByMe":false})";

    std::string frame =
        open_frame("timeline", seq, row[c_eid].c_str(), "TweetCreated", actor, ts, tweet.size());
    frame += R"({"tweet":)";
    frame += tweet;
    frame += "}}}";

    write_result wr;
    wr.status = 201;
    wr.seq = row[c_seq].as<long long>();
    wr.body = std::move(tweet);
    delivery del;
    del.channel = channel_kind::timeline;
    del.seq = wr.seq;
    del.author = row[c_actor].as<long long>();
    del.actor = del.author;
    del.tweet_id = row[c_tid].as<long long>();
    del.frame = std::make_shared<const std::string>(std::move(frame));
    wr.deliveries.push_back(std::move(del));
    return wr;
}

struct pending_write {
    std::string command;  // JSON text
    completion<write_result> done;
    std::chrono::steady_clock::time_point submitted;
};

// A committed batch waiting for its answers to be rendered.
struct committed_batch {
    std::vector<pending_write> writes;
    pqxx::result rows;
    std::chrono::steady_clock::time_point committed{};
    std::int64_t committed_us = 0;
};

// Committed batches the completer may lag behind the writer.
constexpr std::size_t max_done_batches = 4;

// A typed read: runs on a reader thread with its connection, or with nullptr and the error
// when the connection or the statement failed.
struct pending_read {
    const char* name = "";
    std::function<void(pqxx::connection*, errc)> run;
};

class pg_event_store final : public event_store {
public:
    pg_event_store(asio::io_context& ioc, const config& cfg, metrics::registry& m)
        : ioc_(ioc),
          url_(cfg.database_url),
          max_batch_(cfg.writer_max_batch),
          max_queue_(cfg.writer_max_queue),
          metrics_(m) {
        completer_ = std::thread([this] { completer_loop(); });
        writer_ = std::thread([this] { writer_loop(); });
        for (int i = 0; i < cfg.db_threads; ++i) readers_.emplace_back([this] { reader_loop(); });
    }

    ~pg_event_store() override { stop(); }

    // Not coroutines: GCC 12 mishandles lambdas with captures inside co_await expressions, so
    // these return the awaitable of async_initiate directly.
    asio::awaitable<write_result> submit(nlohmann::json command) override {
        auto text = command.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        return asio::async_initiate<const asio::use_awaitable_t<>, void(write_result)>(
            [this, text = std::move(text)](auto handler) mutable {
                auto done = make_completion<write_result>(std::move(handler), &committed_hook_);
                {
                    std::lock_guard lk(write_mu_);
                    if (!stopping_ && write_queue_.size() < max_queue_) {
                        write_queue_.push_back(
                            {std::move(text), std::move(done), std::chrono::steady_clock::now()});
                        write_cv_.notify_one();
                        return;
                    }
                }
                write_result busy;
                busy.status = 503;
                busy.body = error_body(errc::unavailable, "the event writer is overloaded");
                done(std::move(busy));
            },
            asio::use_awaitable);
    }

    read<user_credentials> credentials(std::string handle) override {
        return run_read<user_credentials>(
            "credentials", [h = std::move(handle)](conn_t& c) { return reads::credentials(c, h); });
    }
    read<domain::user> user_by_id(long long id) override {
        return run_read<domain::user>("user_by_id",
                                      [id](conn_t& c) { return reads::user_by_id(c, id); });
    }
    read<domain::user> user_by_handle(std::string handle, long long viewer) override {
        return run_read<domain::user>("user_by_handle", [h = std::move(handle), viewer](conn_t& c) {
            return reads::user_by_handle(c, h, viewer);
        });
    }
    read<std::vector<domain::user>> search_users(std::string prefix, int limit,
                                                 long long viewer) override {
        return run_read<std::vector<domain::user>>(
            "search_users", [p = std::move(prefix), limit, viewer](conn_t& c) {
                return reads::search_users(c, p, limit, viewer);
            });
    }
    read<page<domain::user>> follow_page(bool followers, std::string handle, long long before,
                                         int limit, long long viewer) override {
        return run_read<page<domain::user>>(
            "follow_page", [followers, h = std::move(handle), before, limit, viewer](conn_t& c) {
                return reads::follow_page(c, followers, h, before, limit, viewer);
            });
    }
    read<page<domain::tweet>> user_tweets(std::string handle, long long before, int limit,
                                          long long viewer) override {
        return run_read<page<domain::tweet>>(
            "user_tweets", [h = std::move(handle), before, limit, viewer](conn_t& c) {
                return reads::user_tweets(c, h, before, limit, viewer);
            });
    }
    read<domain::tweet> tweet(long long id, long long viewer) override {
        return run_read<domain::tweet>(
            "tweet", [id, viewer](conn_t& c) { return reads::tweet(c, id, viewer); });
    }
    read<page<domain::tweet>> replies(long long id, long long before, int limit,
                                      long long viewer) override {
        return run_read<page<domain::tweet>>(
            "replies", [=](conn_t& c) { return reads::replies(c, id, before, limit, viewer); });
    }
    read<page<domain::tweet>> home_timeline(long long user, long long before, int limit) override {
        return run_read<page<domain::tweet>>("home_timeline", [=](conn_t& c) {
            return reads::home_timeline(c, user, before, limit);
        });
    }
    read<notifications_page> notifications(long long user, long long before, int limit) override {
        return run_read<notifications_page>("notifications", [=](conn_t& c) {
            return reads::notifications(c, user, before, limit);
        });
    }
    read<page<domain::audit_event>> events(long long user, long long after, int limit) override {
        return run_read<page<domain::audit_event>>(
            "events", [=](conn_t& c) { return reads::events(c, user, after, limit); });
    }
    read<std::vector<domain::conversation>> conversations(long long user) override {
        return run_read<std::vector<domain::conversation>>(
            "conversations", [=](conn_t& c) { return reads::conversations(c, user); });
    }
    read<page<domain::message>> messages(long long conversation, long long user, long long before,
                                         int limit) override {
        return run_read<page<domain::message>>("messages", [=](conn_t& c) {
            return reads::messages(c, conversation, user, before, limit);
        });
    }
    read<std::vector<long long>> conversation_members(long long conversation) override {
        return run_read<std::vector<long long>>("conversation_members", [=](conn_t& c) {
            return reads::conversation_members(c, conversation);
        });
    }
    read<std::vector<long long>> celebrity_followees(long long user, long long threshold) override {
        return run_read<std::vector<long long>>("celebrity_followees", [=](conn_t& c) {
            return reads::celebrity_followees(c, user, threshold);
        });
    }
    read<follower_ids> followers_of(long long author) override {
        return run_read<follower_ids>("followers_of",
                                      [=](conn_t& c) { return reads::followers_of(c, author); });
    }
    read<stats_counts> counts() override {
        return run_read<stats_counts>("counts", [](conn_t& c) { return reads::counts(c); });
    }
    read<home_list> home_ids(long long user, int max) override {
        return run_read<home_list>("home_ids",
                                   [=](conn_t& c) { return reads::home_ids(c, user, max); });
    }
    read<home_fill> home_records(std::vector<long long> ids, long long viewer,
                                 std::vector<long long> flag_ids) override {
        return run_read<home_fill>(
            "home_records", [ids = std::move(ids), viewer, f = std::move(flag_ids)](conn_t& c) {
                return reads::home_records(c, ids, viewer, f);
            });
    }
    read<replay_answer> replay(domain::channel stream, std::vector<replay_request> requests,
                               int limit) override {
        return run_read<replay_answer>("replay",
                                       [stream, r = std::move(requests), limit](conn_t& c) {
                                           return reads::replay(c, stream, r, limit);
                                       });
    }

    void on_committed(commit_hook fn) override { committed_hook_ = std::move(fn); }

    asio::awaitable<bool> ping() override {
        auto r = co_await run_read<bool>("ping", [](conn_t& c) {
            pqxx::nontransaction tx(c);
            tx.exec_prepared("ping");
            return result<bool>(true);
        });
        co_return r.has_value();
    }

    void stop() override {
        {
            std::scoped_lock lk(write_mu_, read_mu_);
            if (stopping_) return;
            stopping_ = true;
        }
        write_cv_.notify_all();
        read_cv_.notify_all();
        if (writer_.joinable()) writer_.join();
        {
            std::lock_guard lk(done_mu_);
            writer_done_ = true;
        }
        done_cv_.notify_all();
        if (completer_.joinable()) completer_.join();
        for (auto& t : readers_)
            if (t.joinable()) t.join();
    }

private:
    using conn_t = pqxx::connection;

    // Queues `fn` (conn_t& → result<T>) for a reader thread. Not a coroutine: see submit().
    template <class T, class F>
    asio::awaitable<result<T>> run_read(const char* name, F fn) {
        return asio::async_initiate<const asio::use_awaitable_t<>, void(result<T>)>(
            [this, name, fn = std::move(fn)](auto handler) mutable {
                auto done = make_completion<result<T>>(std::move(handler));
                auto run = [fn = std::move(fn), done](conn_t* c, errc e) {
                    if (c == nullptr)
                        done(result<T>(e));
                    else
                        done(fn(*c));
                };
                {
                    std::lock_guard lk(read_mu_);
                    if (!stopping_ && read_queue_.size() < max_queue_) {
                        read_queue_.push_back({name, std::move(run)});
                        read_cv_.notify_one();
                        return;
                    }
                }
                done(result<T>(errc::unavailable));
            },
            asio::use_awaitable);
    }

    std::unique_ptr<pqxx::connection> connect() {
        auto c = std::make_unique<pqxx::connection>(url_);
        return c;
    }

    void writer_loop() {
        std::unique_ptr<pqxx::connection> conn;
        auto backoff = std::chrono::milliseconds(50);
        for (;;) {
            std::vector<pending_write> batch;
            {
                std::unique_lock lk(write_mu_);
                write_cv_.wait(lk, [&] { return stopping_ || !write_queue_.empty(); });
                if (write_queue_.empty()) return;  // stopping, and everything is flushed
                const auto n = std::min(write_queue_.size(), max_batch_);
                batch.reserve(n);
                for (std::size_t i = 0; i < n; ++i) {
                    batch.push_back(std::move(write_queue_.front()));
                    write_queue_.pop_front();
                }
            }
            try {
                if (!conn || !conn->is_open()) {
                    conn.reset();
                    conn = connect();
                    backoff = std::chrono::milliseconds(50);
                }
                run_batch(*conn, batch);
            } catch (const pqxx::sql_error& e) {
                // The database answered but rejected the batch (a bug or an input the checks
                // missed). Isolate it: each command alone, so one bad command fails only itself.
                spdlog::error("event writer: batch of {} failed ({}); retrying one by one",
                              batch.size(), e.what());
                run_one_by_one(*conn, batch);
            } catch (const std::exception& e) {
                // Nothing of this batch was acknowledged. A broken connection in COMMIT is
                // "in doubt": answer 503 so the client retries with its Idempotency-Key.
                spdlog::error("event writer: {}", e.what());
                conn.reset();
                for (auto& w : batch) {
                    write_result r;
                    r.status = 503;
                    r.body = error_body(errc::unavailable, "the database is unavailable");
                    w.done(std::move(r));
                }
                std::this_thread::sleep_for(backoff);
                backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
            }
        }
    }

    void run_one_by_one(pqxx::connection& conn, std::vector<pending_write>& batch) {
        for (auto& w : batch) {
            std::vector<pending_write> one;
            one.push_back(std::move(w));
            try {
                run_batch(conn, one);
            } catch (const pqxx::sql_error& e) {
                spdlog::error("event writer: command rejected: {}", e.what());
                write_result r;
                r.status = 500;
                r.body = error_body(errc::internal, "the command could not be stored");
                one[0].done(std::move(r));
            } catch (const std::exception& e) {
                spdlog::error("event writer: {}", e.what());
                write_result r;
                r.status = 503;
                r.body = error_body(errc::unavailable, "the database is unavailable");
                one[0].done(std::move(r));
            }
        }
    }

    void run_batch(pqxx::connection& conn, std::vector<pending_write>& batch) {
        std::string cmds;
        std::size_t total = 2;
        for (const auto& w : batch) total += w.command.size() + 1;
        cmds.reserve(total);
        cmds += '[';
        for (std::size_t i = 0; i < batch.size(); ++i) {
            if (i) cmds += ',';
            cmds += batch[i].command;
        }
        cmds += ']';

        // One statement in its own implicit transaction: one round trip instead of three
        // (BEGIN, SELECT, COMMIT). PQexecParams returns only after the server's ReadyForQuery,
        // which follows the commit, so nothing is answered before it is durable; the advisory
        // lock chirp_exec_rows takes is held until that commit.
        pqxx::result rows;
        {
            pqxx::nontransaction tx(conn);
            rows = tx.exec_params(
                "SELECT o_json::text, o_kind, o_seq, o_tid, o_actor, o_eid, o_ts, o_content, "
                "o_handle, o_name, o_hashtags, o_author, o_likes, o_retweets, o_replies, o_flag, "
                "o_base, o_for_author FROM chirp_exec_rows($1::jsonb)",
                cmds);
        }
        const auto committed = std::chrono::steady_clock::now();
        const auto committed_us = std::chrono::duration_cast<std::chrono::microseconds>(
                                      std::chrono::system_clock::now().time_since_epoch())
                                      .count();
        if (rows.size() != batch.size())
            throw std::runtime_error("chirp_exec_rows returned a short batch");
        metrics_.append_batches.fetch_add(1, std::memory_order_relaxed);
        // Committed: the completer renders and answers it while this thread runs the next
        // batch. One FIFO completer, so answers (and fan-out) keep commit order.
        committed_batch done{std::move(batch), std::move(rows), committed, committed_us};
        batch.clear();
        std::unique_lock lk(done_mu_);
        done_cv_.wait(lk, [&] { return done_queue_.size() < max_done_batches; });
        done_queue_.push_back(std::move(done));
        done_cv_.notify_all();
    }

    // Renders the answers of committed batches, in commit order, and hands them to the loop.
    void completer_loop() {
        for (;;) {
            committed_batch b;
            {
                std::unique_lock lk(done_mu_);
                done_cv_.wait(lk, [&] { return writer_done_ || !done_queue_.empty(); });
                if (done_queue_.empty()) return;  // the writer has stopped, everything answered
                b = std::move(done_queue_.front());
                done_queue_.pop_front();
                done_cv_.notify_all();
            }
            complete(b);
        }
    }

    void complete(committed_batch& b) {
        for (std::size_t i = 0; i < b.writes.size(); ++i) {
            write_result wr;
            try {
                const auto row = b.rows[static_cast<int>(i)];
                wr = !row[c_json].is_null()
                         ? parse_write_result(nlohmann::json::parse(row[c_json].c_str()))
                     : std::string_view(row[c_kind].c_str()) == "like" ? render_like(row)
                                                                       : render_plain_tweet(row);
            } catch (const std::exception& e) {
                // Committed, but the answer is unreadable: in doubt, like a lost COMMIT reply.
                spdlog::error("event writer: unreadable result: {}", e.what());
                wr = write_result{};
                wr.status = 503;
                wr.body = error_body(errc::unavailable, "the database is unavailable");
            }
            wr.committed_at = b.committed;
            wr.committed_unix_us = b.committed_us;
            if (wr.seq != 0) metrics_.events_appended.fetch_add(1, std::memory_order_relaxed);
            metrics_.append_latency.record(
                static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                               b.committed - b.writes[i].submitted)
                                               .count()));
            b.writes[i].done(std::move(wr));
        }
    }

    void reader_loop() {
        std::unique_ptr<pqxx::connection> conn;
        for (;;) {
            pending_read job;
            {
                std::unique_lock lk(read_mu_);
                read_cv_.wait(lk, [&] { return stopping_ || !read_queue_.empty(); });
                if (read_queue_.empty()) return;
                job = std::move(read_queue_.front());
                read_queue_.pop_front();
            }
            // The job answers exactly once: with its rows, or (when connecting or a statement
            // threw before it answered) with the error.
            errc failed = errc::ok;
            try {
                if (!conn || !conn->is_open()) {
                    conn.reset();
                    conn = connect();
                    for (const auto& q : named_queries())
                        conn->prepare(std::string(q.name), std::string(q.sql));
                }
                job.run(conn.get(), errc::ok);
            } catch (const pqxx::broken_connection& e) {
                spdlog::warn("database reader: {}", e.what());
                conn.reset();
                failed = errc::unavailable;
            } catch (const pqxx::data_exception& e) {
                // Parameters the handler validated should never get here; treat as bad input.
                spdlog::warn("read {}: {}", job.name, e.what());
                failed = errc::bad_request;
            } catch (const std::exception& e) {
                spdlog::error("read {}: {}", job.name, e.what());
                if (conn && !conn->is_open()) conn.reset();
                failed = errc::unavailable;
            }
            if (failed != errc::ok) job.run(nullptr, failed);
        }
    }

    asio::io_context& ioc_;
    std::string url_;
    std::size_t max_batch_;
    std::size_t max_queue_;
    metrics::registry& metrics_;
    commit_hook committed_hook_;

    std::mutex write_mu_;
    std::condition_variable write_cv_;
    std::deque<pending_write> write_queue_;
    std::mutex read_mu_;
    std::condition_variable read_cv_;
    std::deque<pending_read> read_queue_;
    bool stopping_ = false;
    std::mutex done_mu_;
    std::condition_variable done_cv_;
    std::deque<committed_batch> done_queue_;  // at most max_done_batches
    bool writer_done_ = false;
    std::thread writer_;
    std::thread completer_;
    std::vector<std::thread> readers_;
};

}  // namespace

write_result parse_write_result(const nlohmann::json& r) {
    write_result wr;
    wr.status = r.value("status", 500u);
    wr.body = r.at("body").dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    wr.replayed = r.value("replayed", false);
    if (auto s = r.find("seq"); s != r.end() && s->is_string()) wr.seq = to_ll(*s);
    if (auto d = r.find("deliveries"); d != r.end() && d->is_array()) {
        for (const auto& x : *d) {
            delivery del;
            const auto ch = x.at("channel").get<std::string>();
            const auto seq = x.at("seq").get<std::string>();
            del.seq = std::stoll(seq);
            if (auto a = x.find("actor"); a != x.end()) del.actor = to_ll(*a);
            if (auto t = x.find("tweetId"); t != x.end() && x.value("type", "") == "TweetCreated")
                del.tweet_id = to_ll(*t);
            if (auto c = x.find("conversation"); c != x.end()) del.conversation = to_ll(*c);
            if (ch == "follow") {
                del.follow_change = true;
                del.author = to_ll(x.at("author"));
                wr.deliveries.push_back(std::move(del));
                continue;
            }
            if (ch == "timeline") {
                del.channel = channel_kind::timeline;
                del.author = to_ll(x.at("author"));
            } else if (ch == "notifications") {
                del.channel = channel_kind::notifications;
                del.users.push_back(to_ll(x.at("user")));
            } else {
                del.channel = channel_kind::messages;
                for (const auto& u : x.at("users")) del.users.push_back(to_ll(u));
            }
            del.frame = make_frame(ch, seq, x.at("event"));
            wr.deliveries.push_back(std::move(del));
        }
    }
    return wr;
}

std::unique_ptr<event_store> create_event_store(asio::io_context& ioc, const config& cfg,
                                                metrics::registry& metrics) {
    return std::make_unique<pg_event_store>(ioc, cfg, metrics);
}

long long rebuild_projections(const std::string& database_url) {
    pqxx::connection conn(database_url);
    pqxx::work tx(conn);
    auto r = tx.exec("SELECT chirp_rebuild()");
    tx.commit();
    return r[0][0].as<long long>();
}

}  // namespace chirp::store
