// strata/local/internal/local_cache_core.h: the engine behind LocalCache<V>. Internal: use
// strata/local/local_cache.h.
//
// Why one header of ~700 lines: a shard's table, policy, timer wheel, read buffers and loads
// share its lock and its invariants, and the hit path must inline across all of them.
//
// Layout. The cache is split into shards by the top bits of the key's hash. A shard owns a
// lock for its writers (ShardMutex), an EntryTable of entry pointers (a control byte and 8
// bytes a slot, looked up by key and stored hash), an eviction policy, a timer wheel (timed
// caches only), the loads in flight (a second EntryTable), striped read buffers and the list
// of what it retired.
//
// Entries are one allocation each: the struct (policy links, hash, weight, the value, and for
// timed caches the deadline and timer links) followed by the key bytes. Untimed caches use a
// smaller entry type, so that a cache without TTLs pays nothing for them. An entry's key and
// value never change once it is in the table: a put on a resident key builds a new entry,
// which takes the old one's place in the table (one pointer store) and in the policy's lists.
//
// Reads take no lock. A read pins the thread (EpochGuard, strata/local/internal/epoch.h),
// finds the entry with EntryTable::find_concurrent, copies the value and records the entry
// in one of the shard's read buffers, picked by thread (so with up to four threads no two
// share one): a bounded ring whose tail the reader advances with one CAS. A full ring drops
// the record (the policy only needs a sample of the accesses) and asks for a drain: the
// reader try-locks the shard and, if it gets the lock, replays the rings to the policy.
// Writers (put, erase, loads, expiry) take the shard's lock, replay the rings first, and
// retire what they unlink with the current epoch instead of freeing it.
//
// Reclamation. A retired entry (or a table's old block) is freed under the shard's lock once
// (a) the global epoch is two past its retirement, so no reader still holds it, and (b) a
// drain that reached every ring's tail started after that, so no ring still records it (a
// record is written by a pinned reader before it unpins). A replayed record whose entry left
// the policy (prev == nullptr, set by the cache on removal) is skipped.
//
// A waiter for a load in flight blocks on an atomic flag (C++20 atomic wait), which the leader
// sets after publishing the result. Listener calls happen after the lock is released, with the
// thread still pinned, so the removed entries they see are still allocated.
//
// Headers. Nothing here reaches absl, <shared_mutex>, <condition_variable>, <random> or
// <thread>: what needs them and is off the hot path (TTL jitter) is compiled in
// src/local/local_cache_core.cc.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "strata/clock.h"
#include "strata/error.h"
#include "strata/local/cache_stats.h"
#include "strata/local/eviction_policy.h"
#include "strata/local/internal/entry_table.h"
#include "strata/local/internal/epoch.h"
#include "strata/local/internal/function_ref.h"
#include "strata/local/internal/shard_mutex.h"
#include "strata/local/internal/timer_wheel.h"

namespace strata::internal {

inline constexpr std::size_t kMaxKeySize = 65535;

struct CacheOptions {
  std::uint64_t maximum = 0;
  bool counting_entries = false;
  std::optional<std::chrono::nanoseconds> expire_after_write;
  std::optional<std::chrono::nanoseconds> expire_after_access;
  double ttl_jitter = 0;
  std::optional<std::chrono::nanoseconds> stale_window;
  PolicyKind policy = PolicyKind::kWindowTinyLfu;
  std::size_t shards = 0;  // 0: chosen by build()
  std::size_t max_key_size = kMaxKeySize;
};

// The default shard count for a cache of about `entries` entries: one shard per 4096 entries,
// a power of two from 1 to 64 (a policy needs enough entries per shard to rank them well).
inline std::size_t default_shard_count(std::uint64_t entries) noexcept {
  std::size_t shards = 1;
  while (shards < 64 && entries / (shards * 2) >= 4096) shards *= 2;
  return shards;
}

// A small per-thread index used to pick read-buffer and counter stripes.
inline std::size_t thread_stripe() noexcept {
  static std::atomic<std::size_t> next{0};
  thread_local const std::size_t stripe = next.fetch_add(1, std::memory_order_relaxed);
  return stripe;
}

// A counter that many threads increment without sharing a cache line (a LongAdder).
class StripedCounter {
 public:
  void add(std::uint64_t n = 1) noexcept {
    cells_[thread_stripe() & (kCells - 1)].value.fetch_add(n, std::memory_order_relaxed);
  }
  [[nodiscard]] std::uint64_t sum() const noexcept {
    std::uint64_t total = 0;
    for (const auto& cell : cells_) total += cell.value.load(std::memory_order_relaxed);
    return total;
  }

 private:
  static constexpr std::size_t kCells = 16;
  struct alignas(64) Cell {
    std::atomic<std::uint64_t> value{0};
  };
  std::array<Cell, kCells> cells_;
};

// A factor in (1 - jitter, 1] drawn from a per-thread generator: a TTL is multiplied by it.
// REQUIRES: 0 <= jitter < 1. Compiled (src/local/local_cache_core.cc), off the hot path.
[[nodiscard]] double ttl_jitter_factor(double jitter);

inline std::uint64_t hash_key(std::string_view key) noexcept {
  return std::hash<std::string_view>{}(key);
}

// Entry<V, kTimed>: policy links + value (+ deadline and timer links), then the key bytes.
template <typename V, bool kTimed>
struct Entry;

template <typename V>
struct Entry<V, false> : PolicyNode {
  template <typename... Args>
  explicit Entry(Args&&... args) : value(std::forward<Args>(args)...) {}
  [[nodiscard]] std::string_view key() const noexcept {
    return {reinterpret_cast<const char*>(this) + sizeof(Entry), aux};
  }
  V value;
};

template <typename V>
struct Entry<V, true> : PolicyNode, TimerLinks {
  template <typename... Args>
  explicit Entry(Args&&... args) : value(std::forward<Args>(args)...) {}
  [[nodiscard]] std::string_view key() const noexcept {
    return {reinterpret_cast<const char*>(this) + sizeof(Entry), aux};
  }
  [[nodiscard]] std::int64_t deadline() const noexcept {
    return deadline_ns.load(std::memory_order_relaxed);
  }
  std::atomic<std::int64_t> deadline_ns{INT64_MAX};  // INT64_MAX: never
  std::atomic<bool> refreshing{false};
  V value;
};

template <typename E>
struct EntryDeleter {
  void operator()(E* e) const noexcept {
    e->~E();
    ::operator delete (e, std::align_val_t{alignof(E)});
  }
};
template <typename E>
using EntryPtr = std::unique_ptr<E, EntryDeleter<E>>;

// One allocation: the entry, then the key bytes.
template <typename E, typename Value>
EntryPtr<E> make_entry(std::string_view key, std::uint64_t hash, Value&& value) {
  void* memory = ::operator new (sizeof(E) + key.size(), std::align_val_t{alignof(E)});
  E* e;
  try {
    e = new (memory) E(std::forward<Value>(value));
  } catch (...) {
    ::operator delete (memory, std::align_val_t{alignof(E)});
    throw;
  }
  if (!key.empty()) std::memcpy(reinterpret_cast<char*>(e) + sizeof(E), key.data(), key.size());
  e->aux = static_cast<std::uint16_t>(key.size());
  e->hash = hash;
  return EntryPtr<E>(e);
}

// The interface LocalCache<V> talks to; ShardedCache<V, Policy, kTimed> implements it.
template <typename V>
class CacheCore {
 public:
  using Weigher = std::function<std::uint64_t(std::string_view, const V&)>;
  using Listener = std::function<void(std::string_view, const V&, RemovalCause)>;
  using Loader = FunctionRef<std::optional<V>(std::string_view)>;

  virtual ~CacheCore() = default;
  virtual std::optional<V> get(std::string_view key) = 0;
  virtual std::optional<CacheLookup<V>> lookup(std::string_view key) = 0;
  virtual std::optional<V> peek(std::string_view key) = 0;
  virtual void put(std::string_view key, V value, std::optional<std::chrono::nanoseconds> ttl) = 0;
  virtual std::optional<V> get_or_load(std::string_view key, Loader loader) = 0;
  virtual bool begin_refresh(std::string_view key) = 0;
  virtual void end_refresh(std::string_view key) = 0;
  virtual bool erase(std::string_view key) = 0;
  virtual void clear() = 0;
  virtual void cleanup() = 0;
  [[nodiscard]] virtual CacheStats stats() const = 0;
};

template <typename V, typename Policy, bool kTimed>
class ShardedCache final : public CacheCore<V> {
  using E = Entry<V, kTimed>;
  using Base = CacheCore<V>;

  // A load in flight, in its shard's `loads` table while it runs: the leader fills it, the
  // waiters block on `done`. `value` and `error` are written before `done` is set (release)
  // and read after it is seen (acquire); `invalidated` is read and written under the shard's
  // exclusive lock only. A put(), erase() or clear() during the load sets `invalidated` and takes
  // the load out of the table: its result is not cached, and a caller arriving after the write
  // starts a load of its own instead of joining one that may have read the old value.
  struct Load : std::enable_shared_from_this<Load> {
    Load(std::string_view k, std::uint64_t h) : hash(h), key_bytes(k) {}
    [[nodiscard]] std::string_view key() const noexcept { return key_bytes; }
    const std::uint64_t hash;
    const std::string key_bytes;
    bool invalidated = false;  // a write ran during the load: not cached, not in `loads`
    std::optional<V> value;
    std::exception_ptr error;
    // 1 once value and error are set. An int, so that waiting on it is a futex on the flag
    // itself (libstdc++ waits on other types through a proxy counter).
    std::atomic<int> done{0};
  };

  // Entries leaving the cache (already retired): reported to the listener after the lock is
  // released, while the thread is still pinned.
  struct Removal {
    E* entry;
    RemovalCause cause;
  };

  // Something unlinked under the lock, freed by free(object) once safe (see Reclamation).
  // A table block is never in a read buffer: only the epoch condition applies to it.
  struct Retired {
    std::uint64_t epoch;
    void* object;
    void (*free)(void*);
    bool recorded;  // an entry: read buffers may hold it
  };

  // One recorded hit in kReadSample is replayed to the policy. 1: every hit whose record fits
  // in its ring. Replaying a random half of W-TinyLFU's hits made hits faster but biased its
  // admission (misses still count in full in the sketch, so resident entries looked rarer than
  // newcomers): a 50-entry L1 over 500 Zipf keys fell from above 50% to 49% hits.
  static constexpr std::uint32_t kReadSample = 1;

  // Retired objects a shard gathers before it tries to advance the epoch and free them.
  static constexpr std::size_t kRetiredBatch = 64;

  // A bounded ring of recorded hits: readers claim a slot by advancing `tail` (CAS) and fill
  // it; the drainer (under the shard's lock) empties filled slots from `head` and stops at one
  // still being filled.
  struct alignas(64) ReadBuffer {
    static constexpr std::uint32_t kSize = 32;
    std::atomic<std::uint64_t> tail{0};     // never wraps: it also counts the recorded hits
    std::atomic<std::uint64_t> dropped{0};  // hits not recorded (sampled out, ring full, contended)
    std::array<std::atomic<E*>, kSize> slots{};
    alignas(64) std::atomic<std::uint64_t> head{0};
  };

  struct Shard {
    explicit Shard(std::uint64_t capacity) : policy(capacity) {}
    mutable ShardMutex mutex;
    EntryTable<E> table;
    Policy policy;
    std::conditional_t<kTimed, TimerWheel<E>, char> wheel{};
    EntryTable<Load> loads;  // not owning: each Load is owned by its leader and waiters
    std::array<ReadBuffer, 4> read_buffers;
    std::uint64_t entries = 0;
    std::vector<Retired> retired;
    // The global epoch read at the start of the last drain that emptied every ring.
    std::uint64_t drained_epoch = 0;
    std::size_t reclaim_at = kRetiredBatch;  // the retired count that triggers a reclaim
  };

 public:
  ShardedCache(const CacheOptions& options, typename Base::Weigher weigher,
               typename Base::Listener listener, std::shared_ptr<const Clock> clock)
      : options_(options),
        weigher_(std::move(weigher)),
        listener_(std::move(listener)),
        clock_(std::move(clock)),
        shard_shift_(64 - std::countr_zero(options.shards)) {
    const std::uint64_t per_shard = std::max<std::uint64_t>(1, options.maximum / options.shards);
    shards_.reserve(options.shards);
    for (std::size_t i = 0; i < options.shards; ++i)
      shards_.push_back(std::make_unique<Shard>(per_shard));
    shard_capacity_ = per_shard;
  }

  ~ShardedCache() override {
    for (auto& shard : shards_) {
      shard->table.for_each([](E* e) { EntryDeleter<E>{}(e); });
      for (const Retired& r : shard->retired) r.free(r.object);
    }
  }

  std::optional<V> get(std::string_view key) override {
    check_key(key);
    const std::uint64_t hash = hash_key(key);
    return get_hashed(key, hash, /*confirm_miss=*/true);
  }

  // get() with the hash computed. A miss that a concurrent erase may have caused is confirmed
  // under the lock unless !confirm_miss (get_or_load, which looks again under the lock anyway).
  std::optional<V> get_hashed(std::string_view key, std::uint64_t hash, bool confirm_miss) {
    Shard& shard = shard_for(hash);
    EpochGuard pin;
    std::optional<V> result;
    E* e =
        confirm_miss ? find_pinned(shard, key, hash) : shard.table.find_concurrent(key, hash).entry;
    if (e != nullptr && is_live(e)) {
      result.emplace(e->value);
      if (record_read(shard, e)) try_drain(shard);
    } else {
      misses_.add();
    }
    return result;
  }

  // lookup() that records nothing: no hit or miss, no access for the policy, no TTL touch.
  std::optional<V> peek(std::string_view key) override {
    check_key(key);
    const std::uint64_t hash = hash_key(key);
    Shard& shard = shard_for(hash);
    EpochGuard pin;
    std::optional<V> result;
    if (E* e = find_pinned(shard, key, hash); e != nullptr) {
      if constexpr (kTimed) {
        if (e->deadline() > clock_->now().count()) result.emplace(e->value);
      } else {
        result.emplace(e->value);
      }
    }
    return result;
  }

  std::optional<CacheLookup<V>> lookup(std::string_view key) override {
    check_key(key);
    const std::uint64_t hash = hash_key(key);
    Shard& shard = shard_for(hash);
    EpochGuard pin;
    bool drain = false;
    std::optional<CacheLookup<V>> result;
    {
      if (E* e = find_pinned(shard, key, hash); e != nullptr) {
        if constexpr (kTimed) {
          const std::int64_t now = clock_->now().count();
          const std::int64_t deadline = e->deadline();
          if (deadline > now) {
            result.emplace(CacheLookup<V>{e->value, false, std::nullopt});
            if (deadline != INT64_MAX) {
              result->expires_in = std::chrono::nanoseconds(deadline - now);
              result->stale =
                  options_.stale_window && deadline - now <= options_.stale_window->count();
            }
            touch(e, now);
            drain = record_read(shard, e);
          }
        } else {
          result.emplace(CacheLookup<V>{e->value, false, std::nullopt});
          drain = record_read(shard, e);
        }
      }
    }
    if (!result) misses_.add();
    if (drain) try_drain(shard);
    return result;
  }

  void put(std::string_view key, V value, std::optional<std::chrono::nanoseconds> ttl) override {
    check_key(key);
    const std::uint64_t hash = hash_key(key);
    insert(shard_for(hash), key, hash, std::move(value), ttl);
  }

  std::optional<V> get_or_load(std::string_view key, typename Base::Loader loader) override {
    check_key(key);
    const std::uint64_t hash = hash_key(key);
    if (auto hit = get_hashed(key, hash, /*confirm_miss=*/false)) return hit;
    Shard& shard = shard_for(hash);
    std::shared_ptr<Load> load;
    bool leader = false;
    {
      auto own = std::make_shared<Load>(key, hash);  // allocated outside the lock
      EpochGuard pin;  // not held during the load: a slow loader must not stall reclamation
      std::vector<Removal> removals;
      WriteLock lock(shard.mutex);
      maintain(shard, removals);
      if (E* e = shard.table.find(key, hash); e != nullptr && is_live(e)) {
        std::optional<V> value(e->value);  // filled while we waited for the lock
        lock.unlock();
        notify(removals);
        return value;
      }
      if (Load* running = shard.loads.find(key, hash); running != nullptr) {
        load = running->shared_from_this();
      } else {
        load = std::move(own);
        shard.loads.insert(load.get());
        leader = true;
      }
      lock.unlock();
      notify(removals);
    }
    if (!leader) {
      load_waits_.add();
      return wait_for(*load);
    }

    const auto start = clock_->now();
    std::optional<V> value;
    try {
      value = loader(key);
    } catch (...) {
      load_failures_.add();
      load_time_ns_.add(static_cast<std::uint64_t>((clock_->now() - start).count()));
      finish_load(shard, key, *load, std::nullopt, std::current_exception(), hash);
      throw;
    }
    load_successes_.add();
    load_time_ns_.add(static_cast<std::uint64_t>((clock_->now() - start).count()));
    finish_load(shard, key, *load, value, nullptr, hash);
    return value;
  }

  bool begin_refresh(std::string_view key) override {
    bool claimed = false;
    if constexpr (kTimed) {
      with_resident(
          key, [&](E* e) { claimed = !e->refreshing.exchange(true, std::memory_order_acq_rel); });
    } else {
      (void)key;  // without TTLs nothing is ever stale
    }
    return claimed;
  }

  void end_refresh(std::string_view key) override {
    if constexpr (kTimed) {
      with_resident(key, [](E* e) { e->refreshing.store(false, std::memory_order_release); });
    } else {
      (void)key;
    }
  }

  bool erase(std::string_view key) override {
    check_key(key);
    const std::uint64_t hash = hash_key(key);
    Shard& shard = shard_for(hash);
    EpochGuard pin;
    std::vector<Removal> removals;
    bool found = false;
    {
      WriteLock lock(shard.mutex);
      maintain(shard, removals);
      if (Load* load = shard.loads.find(key, hash); load != nullptr) detach(shard, *load);
      if (E* e = shard.table.find(key, hash); e != nullptr) {
        found = is_live(e);
        remove(shard, e, found ? RemovalCause::kExplicit : RemovalCause::kExpired, removals);
      }
    }
    notify(removals);
    return found;
  }

  void clear() override {
    EpochGuard pin;
    for (auto& shard : shards_) {
      std::vector<Removal> removals;
      {
        WriteLock lock(shard->mutex);
        drain_reads(*shard);
        std::vector<E*> all;
        all.reserve(shard->table.size());
        shard->table.for_each([&](E* e) { all.push_back(e); });
        for (E* e : all) remove(*shard, e, RemovalCause::kExplicit, removals);
        std::vector<Load*> running;
        shard->loads.for_each([&](Load* load) { running.push_back(load); });
        for (Load* load : running) detach(*shard, *load);
      }
      notify(removals);
    }
  }

  void cleanup() override {
    EpochGuard pin;
    for (auto& shard : shards_) {
      std::vector<Removal> removals;
      {
        WriteLock lock(shard->mutex);
        maintain(*shard, removals);
      }
      notify(removals);
    }
  }

  [[nodiscard]] CacheStats stats() const override {
    CacheStats s;
    s.hits = 0;
    s.misses = misses_.sum();
    s.load_successes = load_successes_.sum();
    s.load_failures = load_failures_.sum();
    s.load_waits = load_waits_.sum();
    s.total_load_time = std::chrono::nanoseconds(load_time_ns_.sum());
    s.evicted_size = removed_[static_cast<int>(RemovalCause::kSize)].sum();
    s.evicted_expired = removed_[static_cast<int>(RemovalCause::kExpired)].sum();
    s.removed_explicit = removed_[static_cast<int>(RemovalCause::kExplicit)].sum();
    s.replaced = removed_[static_cast<int>(RemovalCause::kReplaced)].sum();
    s.rejected_too_heavy = rejected_.sum();
    for (const auto& shard : shards_) {
      WriteLock lock(shard->mutex);
      s.entries += shard->entries;
      s.weight += shard->policy.weight();
      for (const auto& buffer : shard->read_buffers) {
        s.hits += buffer.tail.load(std::memory_order_relaxed) +
                  buffer.dropped.load(std::memory_order_relaxed);
      }
    }
    return s;
  }

 private:
  void check_key(std::string_view key) const {
    if (key.empty()) throw InvalidArgumentError("LocalCache: empty key");
    if (key.size() > options_.max_key_size) {
      throw InvalidArgumentError("LocalCache: key of " + std::to_string(key.size()) +
                                 " bytes exceeds max_key_size " +
                                 std::to_string(options_.max_key_size));
    }
  }

  // Runs fn(entry) under the shard's shared lock if the key is resident.
  template <typename Fn>
  void with_resident(std::string_view key, Fn&& fn) {
    check_key(key);
    const std::uint64_t hash = hash_key(key);
    Shard& shard = shard_for(hash);
    EpochGuard pin;
    if (E* e = find_pinned(shard, key, hash); e != nullptr) fn(e);
  }

  // Pinned: the entry for the key, found without the lock unless an erase hid it. The entry
  // stays allocated while the caller is pinned, even if a writer removes it meanwhile.
  E* find_pinned(Shard& shard, std::string_view key, std::uint64_t hash) {
    const auto found = shard.table.find_concurrent(key, hash);
    if (found.entry != nullptr || found.settled) return found.entry;
    WriteLock lock(shard.mutex);
    return shard.table.find(key, hash);
  }

  Shard& shard_for(std::uint64_t hash) noexcept {
    return *shards_[shard_shift_ >= 64 ? 0 : static_cast<std::size_t>(hash >> shard_shift_)];
  }

  // Pinned: is the entry unexpired (and, with expire_after_access, extend it).
  bool is_live(E* e) {
    if constexpr (kTimed) {
      const std::int64_t now = clock_->now().count();
      if (e->deadline() <= now) return false;
      touch(e, now);
    } else {
      (void)e;
    }
    return true;
  }

  void touch(E* e, std::int64_t now) {
    if constexpr (kTimed) {
      if (options_.expire_after_access) {
        // A racy store is fine: readers only ever move the deadline later; the wheel finds
        // the entry at its old bucket and reschedules it.
        e->deadline_ns.store(now + options_.expire_after_access->count(),
                             std::memory_order_relaxed);
      }
    } else {
      (void)e;
      (void)now;
    }
  }

  // A per-thread xorshift draw for read sampling.
  static std::uint32_t sample_draw() noexcept {
    thread_local std::uint32_t state =
        static_cast<std::uint32_t>(thread_stripe() * 2654435761u) | 1;
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    return state;
  }

  // Pinned: counts the hit and records the access for the policy. Returns true when the ring
  // is full and should be drained. A record that finds the ring full, or loses the race for
  // its slot, is dropped (and counted apart, so that tail + dropped is the hit count).
  bool record_read(Shard& shard, E* e) noexcept {
    ReadBuffer& buffer = shard.read_buffers[thread_stripe() & (shard.read_buffers.size() - 1)];
    if constexpr (kReadSample > 1) {
      if ((sample_draw() & (kReadSample - 1)) != 0) {
        buffer.dropped.fetch_add(1, std::memory_order_relaxed);
        return false;
      }
    }
    std::uint64_t tail = buffer.tail.load(std::memory_order_relaxed);
    const std::uint64_t used = tail - buffer.head.load(std::memory_order_acquire);
    if (used >= ReadBuffer::kSize) {
      buffer.dropped.fetch_add(1, std::memory_order_relaxed);
      return true;
    }
    if (!buffer.tail.compare_exchange_strong(tail, tail + 1, std::memory_order_relaxed)) {
      buffer.dropped.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    buffer.slots[tail & (ReadBuffer::kSize - 1)].store(e, std::memory_order_release);
    return used + 1 == ReadBuffer::kSize;
  }

  void try_drain(Shard& shard) {
    std::vector<Removal> removals;
    {
      WriteLock lock(shard.mutex, kTryLock);
      if (!lock.owns_lock()) return;  // whoever holds it drains
      maintain(shard, removals);
    }
    notify(removals);
  }

  // Under the lock: replay the rings to the policy; true if every ring was emptied up to the
  // tail it had when read. The accesses touch random memory (list neighbours, sketch blocks),
  // so they are prefetched in a first pass and applied in a second, overlapping the misses.
  bool drain_reads(Shard& shard) {
    bool complete = true;
    for (auto& buffer : shard.read_buffers) {
      std::uint64_t head = buffer.head.load(std::memory_order_relaxed);
      const std::uint64_t tail = buffer.tail.load(std::memory_order_acquire);
      std::array<E*, ReadBuffer::kSize> batch;
      std::uint32_t n = 0;
      for (; head != tail; ++head) {
        auto& slot = buffer.slots[head & (ReadBuffer::kSize - 1)];
        E* e = slot.load(std::memory_order_acquire);
        if (e == nullptr) {  // claimed, not yet filled: its reader is still pinned
          complete = false;
          break;
        }
        slot.store(nullptr, std::memory_order_relaxed);
        batch[n++] = e;
        if (e->prev != nullptr) __builtin_prefetch(e->prev, 1);
        if (e->next != nullptr) __builtin_prefetch(e->next, 1);
        if constexpr (requires { shard.policy.prefetch(e); }) shard.policy.prefetch(e);
      }
      buffer.head.store(head, std::memory_order_release);
      for (std::uint32_t i = 0; i < n; ++i) {
        if (batch[i]->prev != nullptr) shard.policy.on_access(batch[i]);  // else: removed
      }
    }
    return complete;
  }

  // Under the lock: drain reads, expire what is due, free what is safe to free.
  void maintain(Shard& shard, std::vector<Removal>& removals) {
    // Advancing the epoch reads every thread's record, and reclaiming scans the retired list:
    // both wait until enough has been retired since the last scan.
    const bool reclaiming = shard.retired.size() >= shard.reclaim_at;
    const std::uint64_t epoch =
        reclaiming ? try_advance_epoch() : global_epoch.load(std::memory_order_seq_cst);
    if (drain_reads(shard)) shard.drained_epoch = epoch;
    if constexpr (kTimed) {
      shard.wheel.advance(clock_->now().count(),
                          [&](E* e) { remove(shard, e, RemovalCause::kExpired, removals); });
    }
    if (reclaiming) reclaim(shard);
  }

  void reclaim(Shard& shard) noexcept {
    auto& retired = shard.retired;
    std::size_t kept = 0;
    bool block_kept = false;
    const std::uint64_t epoch = global_epoch.load(std::memory_order_seq_cst);
    for (std::size_t i = 0; i < retired.size(); ++i) {
      if (retired[i].epoch + 2 <= (retired[i].recorded ? shard.drained_epoch : epoch)) {
        retired[i].free(retired[i].object);
      } else {
        block_kept = block_kept || !retired[i].recorded;
        retired[kept++] = retired[i];
      }
    }
    retired.resize(kept);
    shard.reclaim_at = block_kept ? 0 : std::max(kRetiredBatch, 2 * kept);
  }

  // Under the lock, pinned.
  void retire(Shard& shard, E* e) {
    shard.retired.push_back(Retired{retire_epoch(), e, &free_entry, true});
  }
  void retire_block(Shard& shard, void* block, void (*free)(void*)) {
    shard.retired.push_back(Retired{retire_epoch(), block, free, false});
    shard.reclaim_at = 0;  // a block is large: free it as soon as possible
  }

  static void free_entry(void* e) noexcept { EntryDeleter<E>{}(static_cast<E*>(e)); }

  std::int64_t deadline_for(std::optional<std::chrono::nanoseconds> ttl) {
    std::optional<std::chrono::nanoseconds> chosen = ttl;
    if (!chosen) chosen = options_.expire_after_write;
    if (!chosen) chosen = options_.expire_after_access;
    if (!chosen) return INT64_MAX;
    auto nanos = static_cast<double>(chosen->count());
    if (options_.ttl_jitter > 0) nanos *= ttl_jitter_factor(options_.ttl_jitter);
    return clock_->now().count() + std::max<std::int64_t>(1, static_cast<std::int64_t>(nanos));
  }

  std::uint32_t weigh(std::string_view key, const V& value) const {
    const std::uint64_t w = weigher_(key, value);
    return static_cast<std::uint32_t>(std::min<std::uint64_t>(w, UINT32_MAX));
  }

  // Writes the key.
  void insert(Shard& shard, std::string_view key, std::uint64_t hash, V value,
              std::optional<std::chrono::nanoseconds> ttl) {
    const std::uint32_t weight = weigh(key, value);
    const std::int64_t deadline = kTimed ? deadline_for(ttl) : INT64_MAX;
    EntryPtr<E> fresh = make_entry<E>(key, hash, std::move(value));  // outside the lock
    EpochGuard pin;
    std::vector<Removal> removals;
    {
      WriteLock lock(shard.mutex);
      maintain(shard, removals);
      // A load in flight read the value this write replaces: not cached (even once this entry
      // is evicted), and not joined by later callers.
      if (Load* load = shard.loads.find(key, hash); load != nullptr) detach(shard, *load);
      insert_locked(shard, std::move(fresh), weight, deadline, removals);
    }
    notify(removals);
  }

  // Under the lock: `fresh` (key, hash and value set) becomes the key's entry.
  void insert_locked(Shard& shard, EntryPtr<E> fresh, std::uint32_t weight, std::int64_t deadline,
                     std::vector<Removal>& removals) {
    const std::string_view key = fresh->key();
    E* existing = shard.table.find(key, fresh->hash);
    if (existing != nullptr && !is_live(existing)) {
      remove(shard, existing, RemovalCause::kExpired, removals);
      existing = nullptr;
    }
    if (weight > options_.maximum || weight > shard_capacity_) {
      // Heavier than the whole cache (or its shard): never admitted. The old value goes.
      rejected_.add();
      if (existing != nullptr) remove(shard, existing, RemovalCause::kReplaced, removals);
      return;  // fresh was never published: freed here
    }
    if (shard.retired.capacity() == shard.retired.size()) {
      shard.retired.reserve(shard.retired.size() * 2 + kRetiredBatch);  // throws before changes
    }
    E* e = fresh.get();
    e->weight = weight;
    if constexpr (kTimed) e->deadline_ns.store(deadline, std::memory_order_relaxed);
    if (existing != nullptr) {
      // e takes existing's place: in the table (one store), then in the policy's lists.
      shard.table.replace(existing, fresh.release());
      e->prev = existing->prev;
      e->next = existing->next;
      e->prev->next = e;
      e->next->prev = e;
      e->queue = existing->queue;
      e->flags = existing->flags;
      existing->prev = existing->next = nullptr;
      const std::uint32_t old_weight = existing->weight;
      shard.policy.on_update(e, old_weight);
      if constexpr (kTimed) {
        TimerWheel<E>::deschedule(existing);
        if (deadline != INT64_MAX) shard.wheel.schedule(e);
      }
      removed_[static_cast<int>(RemovalCause::kReplaced)].add();
      retire(shard, existing);
      if (listener_) removals.push_back(Removal{existing, RemovalCause::kReplaced});
    } else {
      shard.table.insert(fresh.get(), [&](void* block, void (*free_block)(void*)) {
        retire_block(shard, block, free_block);
      });
      fresh.release();
      ++shard.entries;
      shard.policy.on_insert(e);
      if constexpr (kTimed) {
        if (deadline != INT64_MAX) shard.wheel.schedule(e);
      }
    }
    while (PolicyNode* victim = shard.policy.evict()) {
      unlink(shard, static_cast<E*>(victim), RemovalCause::kSize, removals);
    }
  }

  // Under the lock: takes the entry out of the table, the policy and the wheel.
  void remove(Shard& shard, E* e, RemovalCause cause, std::vector<Removal>& removals) {
    shard.policy.on_remove(e);
    unlink(shard, e, cause, removals);
  }

  // Under the lock, for an entry the policy no longer holds: out of the table, then retired.
  void unlink(Shard& shard, E* e, RemovalCause cause, std::vector<Removal>& removals) {
    shard.table.erase(e);
    --shard.entries;
    e->prev = e->next = nullptr;  // drained reads of it are skipped
    if constexpr (kTimed) TimerWheel<E>::deschedule(e);
    removed_[static_cast<int>(cause)].add();
    retire(shard, e);
    if (listener_) removals.push_back(Removal{e, cause});
  }

  // After the lock, still pinned: tell the listener (the entries are retired, not yet freed).
  void notify(std::vector<Removal>& removals) noexcept {
    if (!listener_) return;
    for (const auto& r : removals) {
      try {
        listener_(r.entry->key(), r.entry->value, r.cause);
      } catch (...) {
        // A listener must not throw; if it does, the cache carries on.
      }
    }
  }

  // Under the lock: a write (put, erase, clear) during the load. Its waiters still get its
  // result (they asked before the write); callers from now on do not join it.
  static void detach(Shard& shard, Load& load) noexcept {
    if (load.invalidated) return;
    load.invalidated = true;
    shard.loads.erase(&load);
  }

  // The leader's end of a load: cache the value (unless erase() ran meanwhile or another
  // writer got there first), retire the load, then wake the waiters.
  void finish_load(Shard& shard, std::string_view key, Load& load, const std::optional<V>& value,
                   std::exception_ptr error, std::uint64_t hash) {
    {
      const std::uint32_t weight = value ? weigh(key, *value) : 0;
      const std::int64_t deadline = kTimed && value ? deadline_for(std::nullopt) : INT64_MAX;
      EntryPtr<E> fresh;
      if (value && !error) fresh = make_entry<E>(key, hash, *value);  // outside the lock
      EpochGuard pin;
      std::vector<Removal> removals;
      {
        WriteLock lock(shard.mutex);
        maintain(shard, removals);
        if (fresh && !load.invalidated) {
          if (E* e = shard.table.find(key, hash); e == nullptr || !is_live(e)) {
            insert_locked(shard, std::move(fresh), weight, deadline, removals);
          }
        }
        if (!load.invalidated) shard.loads.erase(&load);  // else detach() took it out
      }
      notify(removals);
    }
    load.value = value;
    load.error = error;
    load.done.store(1, std::memory_order_release);
    load.done.notify_all();
  }

  std::optional<V> wait_for(Load& load) {
    load.done.wait(0, std::memory_order_acquire);
    if (load.error) std::rethrow_exception(load.error);
    return load.value;
  }

  const CacheOptions options_;
  const typename Base::Weigher weigher_;
  const typename Base::Listener listener_;
  const std::shared_ptr<const Clock> clock_;
  const int shard_shift_;
  std::uint64_t shard_capacity_ = 0;
  std::vector<std::unique_ptr<Shard>> shards_;

  StripedCounter misses_;
  StripedCounter load_successes_;
  StripedCounter load_failures_;
  StripedCounter load_waits_;
  StripedCounter load_time_ns_;
  StripedCounter rejected_;
  std::array<StripedCounter, 4> removed_;
};

}  // namespace strata::internal
