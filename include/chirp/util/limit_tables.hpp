// The storage of the abuse limits' state (issue 12 follow-up: the limits hold for the whole
// server when it runs as N workers). A region is a few fixed-capacity tables of small slots:
// the token buckets (registrations per address, writes per user, replays per user), the
// failed-login windows (per handle+address, per address, per handle) and the per-user session
// counts. The same code runs over private memory (one process: `--workers 1`, unit tests) or
// over a memfd mapped MAP_SHARED by every worker of one chirpd (the supervisor creates it and
// hands it down as `--limits-fd`), so a limit is one limit for the whole server.
//
// Each table: open addressing over a keyed hash (SipHash-2-4 under a random per-region key,
// so clients cannot aim keys at one probe window) of the key; a key lives in the window of
// `window` slots from hash % capacity; a new key takes an empty slot of its window or evicts
// the least recently touched one there. Never more than `capacity` keys, no allocation after
// creation. Guarded by one process-shared robust mutex per table: a critical section is a
// probe of a few cache lines; a worker killed while holding the mutex does not wedge the
// others (the next locker gets EOWNERDEAD, recounts the table and carries on).
//
// Session counts are one column per worker per user, so a dead worker's sessions are dropped
// by zeroing its column (the supervisor when it reaps the worker, and the worker at start);
// a session table's key is never evicted while any column counts (a full window admits the
// session uncounted instead: fail open, practically unreachable at the sizes used).
//
// Memory: the default shape is ~22 MB (six tables of 100,000 32-byte slots, 131,072 session
// slots), mapped with MAP_POPULATE: a fixed cost from the start. Left to fault in page by
// page, the keyed hash puts almost every new user's slot on another 4 KiB page, so RSS grew
// by ~3 KiB per connection up to the table's size (idle 1,000: 10.3 KiB per connection
// instead of ~8), a cost that looked per connection but is bounded by the tables.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>
#include <type_traits>

namespace chirp::util {

enum class limit_table : std::uint8_t {
    registrations,    // token buckets per client address
    writes,           // token buckets per user
    replays,          // token buckets per user (WebSocket/SSE subscribes with `since`)
    login_pairs,      // failed-login windows per (handle, address)
    login_addresses,  // failed-login windows per address
    login_handles,    // failed-login windows per handle
};
inline constexpr int limit_table_count = 6;

class limits_region {
public:
    struct layout {
        std::uint32_t slots = 100000;          // keys per limit_table
        std::uint32_t session_slots = 131072;  // users with sessions
        std::uint32_t workers = 1;             // session count columns (1..1024)
    };
    static constexpr std::uint32_t window = 8;           // probe window of a limit_table
    static constexpr std::uint32_t session_window = 32;  // probe window of the session counts
    static constexpr std::size_t value_bytes = 16;       // a limit_table slot's value

    // Private memory (anonymous, lazily zero-filled pages).
    static std::shared_ptr<limits_region> create_private(const layout& l);
    // A memfd (close-on-exec; the supervisor dup2s it into each worker), mapped shared.
    static std::shared_ptr<limits_region> create_shared(const layout& l);
    // Maps a region made by create_shared from an inherited descriptor (which it keeps open).
    // Throws std::runtime_error when the descriptor is not such a region.
    static std::shared_ptr<limits_region> attach(int fd);

    ~limits_region();
    limits_region(const limits_region&) = delete;
    limits_region& operator=(const limits_region&) = delete;

    int fd() const noexcept { return fd_; }  // -1 for private memory
    const layout& shape() const noexcept { return shape_; }
    std::size_t bytes() const noexcept { return bytes_; }

    std::uint64_t hash(std::string_view key) const noexcept;

    // Runs f(V& value, bool fresh) on key's slot under the table's lock and returns true; the
    // value is written back unless f returns false, which erases the key. Absent key: with
    // create, a zeroed slot (fresh = true); without, nothing runs and it returns false.
    // V is trivially copyable, at most value_bytes. When the lock cannot be had at all (a
    // mutex left unrecoverable: not reached by this code), nothing runs: the limit fails open.
    template <class V, class F>
    bool update(limit_table t, std::string_view key, bool create, F&& f) {
        static_assert(std::is_trivially_copyable_v<V> && sizeof(V) <= value_bytes);
        guard g(*this, static_cast<int>(t));
        if (!g.ok()) return false;
        bool fresh = false;
        unsigned char* v = locate(static_cast<int>(t), hash(key), create, fresh);
        if (v == nullptr) return false;
        V value;
        std::memcpy(&value, v, sizeof value);
        if (f(value, fresh)) {
            std::memcpy(v, &value, sizeof value);
        } else {
            erase_at(static_cast<int>(t), v);
        }
        return true;
    }
    void erase(limit_table t, std::string_view key);
    std::size_t entries(limit_table t) const;

    // Session counts. admit: when the user's sessions on all workers are below cap, counts
    // one more on `worker` and returns true. release undoes one admit on `worker`.
    bool admit_session(long long user, std::uint32_t worker, int cap);
    void release_session(long long user, std::uint32_t worker);
    // Forgets every session counted on `worker` (it died, or is starting afresh); returns how
    // many there were.
    long long clear_sessions_of(std::uint32_t worker);
    int sessions_of(long long user) const;  // on all workers
    std::size_t session_entries() const;

    // Times a lock was taken over from a process that died holding it (all tables).
    std::uint64_t recovered_locks() const;

    struct table_header;  // in the mapping (limit_tables.cpp)

    // Holds a table's lock (tests: a process that dies holding it). Index limit_table_count
    // is the session table.
    class guard {
    public:
        guard(const limits_region& r, int table);
        ~guard();
        guard(const guard&) = delete;
        guard& operator=(const guard&) = delete;
        bool ok() const noexcept { return ok_; }

    private:
        const limits_region& r_;
        int table_;
        bool ok_ = false;
    };

private:
    limits_region(int fd, unsigned char* base, std::size_t bytes);
    table_header& header(int table) const noexcept;
    unsigned char* slot(int table, std::uint32_t i) const noexcept;
    // The value of the slot holding h (touched), or a new zeroed one when create (fresh).
    unsigned char* locate(int table, std::uint64_t h, bool create, bool& fresh);
    void erase_at(int table, unsigned char* value);
    void recount(int table) const;

    int fd_ = -1;
    unsigned char* base_ = nullptr;
    std::size_t bytes_ = 0;
    layout shape_;
};

}  // namespace chirp::util
