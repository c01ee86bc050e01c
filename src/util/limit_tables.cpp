// The limits' tables in private or shared memory (see limit_tables.hpp for the design).
//
// Layout (all offsets from the mapping's base, everything 64-byte aligned):
//   region_header | table_header x (limit_table_count + 1) | slots of table 0 | ... | sessions
// A slot is {key, touched} and its value: 16 bytes for a limit table (a token bucket or a
// failed-login window), one int32 per worker for the session table. Key 0 marks an empty slot
// (a hash of 0 is stored as 1). The region header carries a magic, a version and the layout,
// so a worker refuses a descriptor that is not the region its supervisor made.
#include "chirp/util/limit_tables.hpp"

#include <pthread.h>
#include <sodium.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <limits>
#include <stdexcept>
#include <string>
#include <system_error>

namespace chirp::util {
namespace {

constexpr std::uint64_t magic = 0x7374696d696c7063ULL;  // "cplimits"
constexpr std::uint32_t version = 1;
constexpr int session_table = limit_table_count;
constexpr int tables = limit_table_count + 1;
constexpr std::uint32_t max_workers = 1024;

struct region_header {
    std::uint64_t magic;
    std::uint32_t version;
    std::uint32_t workers;
    std::uint32_t slots;
    std::uint32_t session_slots;
    std::uint64_t bytes;
    unsigned char hash_key[crypto_shorthash_KEYBYTES];
};

struct slot_head {
    std::uint64_t key;
    std::uint64_t touched;
};

constexpr std::size_t align64(std::size_t n) {
    return (n + 63) & ~std::size_t{63};
}

[[noreturn]] void throw_errno(const char* what) {
    throw std::system_error(errno, std::generic_category(), what);
}

}  // namespace

struct alignas(64) limits_region::table_header {
    pthread_mutex_t mu;
    std::uint64_t offset;  // of slot 0
    std::uint32_t capacity, stride, window, columns;
    std::uint64_t clock;      // touches, for "least recently touched"
    std::uint64_t used;       // keys held
    std::uint64_t recovered;  // locks taken over from a dead owner
};

namespace {

constexpr std::size_t headers_bytes =
    align64(sizeof(region_header)) + tables * sizeof(limits_region::table_header);

}  // namespace

limits_region::limits_region(int fd, unsigned char* base, std::size_t bytes)
    : fd_(fd), base_(base), bytes_(bytes) {
    const auto* rh = reinterpret_cast<const region_header*>(base_);
    shape_ = {rh->slots, rh->session_slots, rh->workers};
}

limits_region::~limits_region() {
    ::munmap(base_, bytes_);
    if (fd_ >= 0) ::close(fd_);
}

limits_region::table_header& limits_region::header(int table) const noexcept {
    return reinterpret_cast<table_header*>(base_ + align64(sizeof(region_header)))[table];
}

unsigned char* limits_region::slot(int table, std::uint32_t i) const noexcept {
    const auto& h = header(table);
    return base_ + h.offset + std::size_t{i} * h.stride;
}

namespace {

// Sizes the region for `l` and, when `base` is given, writes its headers (the memory is zero).
std::size_t lay_out(const limits_region::layout& l, unsigned char* base) {
    if (l.workers < 1 || l.workers > max_workers)
        throw std::invalid_argument("limits region: 1.." + std::to_string(max_workers) +
                                    " workers");
    std::size_t offset = align64(headers_bytes);
    for (int t = 0; t < tables; ++t) {
        const bool sessions = t == session_table;
        const std::uint32_t cap = std::max<std::uint32_t>(1, sessions ? l.session_slots : l.slots);
        const auto stride = static_cast<std::uint32_t>(
            sessions ? (sizeof(slot_head) + 4 * l.workers + 7) & ~std::size_t{7}
                     : sizeof(slot_head) + limits_region::value_bytes);
        if (base != nullptr) {
            auto& h = reinterpret_cast<limits_region::table_header*>(
                base + align64(sizeof(region_header)))[t];
            pthread_mutexattr_t a;
            pthread_mutexattr_init(&a);
            pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
            pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
            pthread_mutex_init(&h.mu, &a);
            pthread_mutexattr_destroy(&a);
            h.offset = offset;
            h.capacity = cap;
            h.stride = stride;
            h.window =
                std::min(cap, sessions ? limits_region::session_window : limits_region::window);
            h.columns = sessions ? l.workers : 0;
        }
        offset = align64(offset + std::size_t{cap} * stride);
    }
    const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    const std::size_t bytes = (offset + page - 1) / page * page;
    if (base != nullptr) {
        auto* rh = reinterpret_cast<region_header*>(base);
        rh->version = version;
        rh->workers = l.workers;
        rh->slots = l.slots;
        rh->session_slots = l.session_slots;
        rh->bytes = bytes;
        randombytes_buf(rh->hash_key, sizeof rh->hash_key);
        rh->magic = magic;
    }
    return bytes;
}

}  // namespace

std::shared_ptr<limits_region> limits_region::create_private(const layout& l) {
    if (sodium_init() < 0) throw std::runtime_error("limits region: libsodium init failed");
    const std::size_t bytes = lay_out(l, nullptr);
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (p == MAP_FAILED) throw_errno("limits region: mmap");
    lay_out(l, static_cast<unsigned char*>(p));
    return std::shared_ptr<limits_region>(
        new limits_region(-1, static_cast<unsigned char*>(p), bytes));
}

std::shared_ptr<limits_region> limits_region::create_shared(const layout& l) {
    if (sodium_init() < 0) throw std::runtime_error("limits region: libsodium init failed");
    const std::size_t bytes = lay_out(l, nullptr);
    const int fd = ::memfd_create("chirp-limits", MFD_CLOEXEC);
    if (fd < 0) throw_errno("limits region: memfd_create");
    if (::ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
        const int e = errno;
        ::close(fd);
        errno = e;
        throw_errno("limits region: ftruncate");
    }
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
    if (p == MAP_FAILED) {
        const int e = errno;
        ::close(fd);
        errno = e;
        throw_errno("limits region: mmap");
    }
    lay_out(l, static_cast<unsigned char*>(p));
    return std::shared_ptr<limits_region>(
        new limits_region(fd, static_cast<unsigned char*>(p), bytes));
}

std::shared_ptr<limits_region> limits_region::attach(int fd) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) throw_errno("limits region: fstat of the inherited descriptor");
    const auto bytes = static_cast<std::size_t>(st.st_size);
    if (bytes < headers_bytes) throw std::runtime_error("limits region: descriptor too small");
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
    if (p == MAP_FAILED) throw_errno("limits region: mmap of the inherited descriptor");
    const auto* rh = static_cast<const region_header*>(p);
    layout l{rh->slots, rh->session_slots, rh->workers};
    if (rh->magic != magic || rh->version != version || rh->bytes != bytes || rh->workers < 1 ||
        rh->workers > max_workers || lay_out(l, nullptr) != bytes) {
        ::munmap(p, bytes);
        throw std::runtime_error("limits region: the descriptor is not a chirp limits region");
    }
    ::close(fd);  // the mapping stays; workers need no descriptor
    return std::shared_ptr<limits_region>(
        new limits_region(-1, static_cast<unsigned char*>(p), bytes));
}

std::uint64_t limits_region::hash(std::string_view key) const noexcept {
    const auto* rh = reinterpret_cast<const region_header*>(base_);
    unsigned char out[crypto_shorthash_BYTES];
    crypto_shorthash(out, reinterpret_cast<const unsigned char*>(key.data()), key.size(),
                     rh->hash_key);
    std::uint64_t h = 0;
    std::memcpy(&h, out, sizeof h);
    return h == 0 ? 1 : h;
}

limits_region::guard::guard(const limits_region& r, int table) : r_(r), table_(table) {
    auto& h = r.header(table);
    int rc = pthread_mutex_lock(&h.mu);
    if (rc == EOWNERDEAD) {
        // The owner died inside a critical section: at most one slot is half-written (a
        // limit's value, worst case reset) and `used` may be off: recount, then carry on.
        ++h.recovered;
        r.recount(table);
        pthread_mutex_consistent(&h.mu);
        rc = 0;
    }
    ok_ = rc == 0;
}

limits_region::guard::~guard() {
    if (ok_) pthread_mutex_unlock(&r_.header(table_).mu);
}

void limits_region::recount(int table) const {
    auto& h = header(table);
    std::uint64_t used = 0;
    for (std::uint32_t i = 0; i < h.capacity; ++i)
        used += reinterpret_cast<const slot_head*>(slot(table, i))->key != 0 ? 1 : 0;
    h.used = used;
}

unsigned char* limits_region::locate(int table, std::uint64_t h, bool create, bool& fresh) {
    auto& th = header(table);
    const std::uint64_t key = h == 0 ? 1 : h;
    const auto start = static_cast<std::uint32_t>(key % th.capacity);
    slot_head* empty = nullptr;
    slot_head* oldest = nullptr;
    for (std::uint32_t i = 0; i < th.window; ++i) {
        auto* s = reinterpret_cast<slot_head*>(slot(table, (start + i) % th.capacity));
        if (s->key == key) {
            s->touched = ++th.clock;
            fresh = false;
            return reinterpret_cast<unsigned char*>(s + 1);
        }
        if (s->key == 0) {
            if (empty == nullptr) empty = s;
        } else if (oldest == nullptr || s->touched < oldest->touched) {
            oldest = s;
        }
    }
    if (!create) return nullptr;
    slot_head* s = empty;
    if (s != nullptr) {
        ++th.used;
    } else {
        // The session counts are never evicted (the caller admits uncounted instead).
        if (table == session_table) return nullptr;
        s = oldest;
    }
    std::memset(s + 1, 0, th.stride - sizeof(slot_head));
    s->touched = ++th.clock;
    s->key = key;
    fresh = true;
    return reinterpret_cast<unsigned char*>(s + 1);
}

void limits_region::erase_at(int table, unsigned char* value) {
    auto* s = reinterpret_cast<slot_head*>(value) - 1;
    if (s->key == 0) return;
    s->key = 0;
    --header(table).used;
}

void limits_region::erase(limit_table t, std::string_view key) {
    guard g(*this, static_cast<int>(t));
    if (!g.ok()) return;
    bool fresh = false;
    if (auto* v = locate(static_cast<int>(t), hash(key), false, fresh))
        erase_at(static_cast<int>(t), v);
}

std::size_t limits_region::entries(limit_table t) const {
    guard g(*this, static_cast<int>(t));
    return header(static_cast<int>(t)).used;
}

namespace {

std::string_view user_key(const long long& user) {
    return {reinterpret_cast<const char*>(&user), sizeof user};
}

}  // namespace

bool limits_region::admit_session(long long user, std::uint32_t worker, int cap) {
    guard g(*this, session_table);
    if (!g.ok()) return true;
    const std::uint32_t columns = header(session_table).columns;
    if (worker >= columns) worker = 0;
    bool fresh = false;
    auto* v = locate(session_table, hash(user_key(user)), true, fresh);
    if (v == nullptr) return true;  // a full window: admitted uncounted (fail open)
    auto* counts = reinterpret_cast<std::int32_t*>(v);
    long long sum = 0;
    for (std::uint32_t c = 0; c < columns; ++c) sum += counts[c];
    if (sum >= cap) {
        if (sum == 0) erase_at(session_table, v);
        return false;
    }
    ++counts[worker];
    return true;
}

void limits_region::release_session(long long user, std::uint32_t worker) {
    guard g(*this, session_table);
    if (!g.ok()) return;
    const std::uint32_t columns = header(session_table).columns;
    if (worker >= columns) worker = 0;
    bool fresh = false;
    auto* v = locate(session_table, hash(user_key(user)), false, fresh);
    if (v == nullptr) return;
    auto* counts = reinterpret_cast<std::int32_t*>(v);
    if (counts[worker] > 0) --counts[worker];
    for (std::uint32_t c = 0; c < columns; ++c)
        if (counts[c] != 0) return;
    erase_at(session_table, v);
}

long long limits_region::clear_sessions_of(std::uint32_t worker) {
    guard g(*this, session_table);
    if (!g.ok()) return 0;
    const auto& h = header(session_table);
    if (worker >= h.columns) return 0;
    long long forgotten = 0;
    for (std::uint32_t i = 0; i < h.capacity; ++i) {
        auto* s = reinterpret_cast<slot_head*>(slot(session_table, i));
        if (s->key == 0) continue;
        auto* counts = reinterpret_cast<std::int32_t*>(s + 1);
        forgotten += counts[worker];
        counts[worker] = 0;
        bool any = false;
        for (std::uint32_t c = 0; c < h.columns; ++c) any = any || counts[c] != 0;
        if (!any) erase_at(session_table, reinterpret_cast<unsigned char*>(counts));
    }
    return forgotten;
}

int limits_region::sessions_of(long long user) const {
    guard g(*this, session_table);
    if (!g.ok()) return 0;
    auto& self = const_cast<limits_region&>(*this);
    bool fresh = false;
    auto* v = self.locate(session_table, hash(user_key(user)), false, fresh);
    if (v == nullptr) return 0;
    const auto* counts = reinterpret_cast<const std::int32_t*>(v);
    long long sum = 0;
    for (std::uint32_t c = 0; c < header(session_table).columns; ++c) sum += counts[c];
    return static_cast<int>(std::min<long long>(sum, std::numeric_limits<int>::max()));
}

std::size_t limits_region::session_entries() const {
    guard g(*this, session_table);
    return header(session_table).used;
}

std::uint64_t limits_region::recovered_locks() const {
    std::uint64_t n = 0;
    for (int t = 0; t < tables; ++t) n += header(t).recovered;
    return n;
}

}  // namespace chirp::util
