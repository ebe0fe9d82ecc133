// strata/cache/internal/cache_state.h: the engine behind Cache<V> (strata/cache/cache.h). Not part
// of the API.
//
// Cache<V> is a handle on a shared CacheState<V>; background refreshes hold a weak_ptr to it,
// so a refresh queued on an executor that outlives the cache does nothing.
//
// Concurrency model
//  - L1 loads are single-flight through LocalCache::get_or_load; without an L1, a flight map
//    here plays that role. Batch reads (get_many) are not single-flight.
//  - Writes to L1 that do not come from LocalCache::get_or_load (refreshes, negative markers,
//    get_many fills) are guarded by a per-stripe generation: every write/invalidate bumps the
//    stripe of its key under the stripe's mutex, and a fill stores only if the generation it
//    read before going below L1 is unchanged (checked and stored under the same mutex).
//  - L2 fills are guarded in Redis by a fill token (internal/remote_store.h, docs/patterns.md).
//  - put/erase of keys of one stripe are serialized in this process (write_locks_), so two
//    writers of one key cannot leave the source with one value and a cache with the other.
//    Writers in different processes are not serialized (docs/patterns.md).
//  - L1Coherence::kTracking (docs/coherence.md): L1 holds only values read from L2 through a
//    tracked connection, so that the server invalidates them: a value loaded from the source
//    (its L2 fill would invalidate our own tracking at once) or read while L2 failed does not
//    fill L1, and writes drop the key from L1 instead of storing it (a write does not track
//    the key). Invalidations call drop_local / flush_local.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

#include "strata/cache/circuit_breaker.h"
#include "strata/cache/internal/cache_metrics.h"
#include "strata/cache/internal/remote_store.h"
#include "strata/cache/tiered_stats.h"
#include "strata/cache/write_mode.h"
#include "strata/clock.h"
#include "strata/codec/envelope.h"
#include "strata/coherence/coherence.h"
#include "strata/coherence/redis_tracking.h"
#include "strata/error.h"
#include "strata/executor.h"
#include "strata/local/cache_stats.h"
#include "strata/local/local_cache.h"
#include "strata/source/source.h"
#include "strata/stampede/stampede.h"
#include "strata/write_behind/write_behind_sink.h"

namespace strata {

namespace internal {

// A type-erased source of record of V.
template <typename V>
class AnySource {
 public:
  virtual ~AnySource() = default;
  virtual std::optional<V> load(std::string_view key) = 0;
  virtual std::vector<std::optional<V>> load_many(std::span<const std::string> keys) = 0;
  virtual void write(std::string_view key, const V& value) = 0;
  virtual void erase(std::string_view key) = 0;
  // write/erase inside begin() ... commit().
  virtual void write_in_transaction(std::string_view key, const V& value) = 0;
  virtual void erase_in_transaction(std::string_view key) = 0;
};

template <typename V, typename S>
class SourceModel final : public AnySource<V> {
 public:
  explicit SourceModel(std::shared_ptr<S> source) : source_(std::move(source)) {}
  std::optional<V> load(std::string_view key) override { return source_->load(key); }
  std::vector<std::optional<V>> load_many(std::span<const std::string> keys) override {
    return source_->load_many(keys);
  }
  void write(std::string_view key, const V& value) override { source_->write(key, value); }
  void erase(std::string_view key) override { source_->erase(key); }
  void write_in_transaction(std::string_view key, const V& value) override {
    auto txn = source_->begin();
    txn.write(key, value);
    txn.commit();
  }
  void erase_in_transaction(std::string_view key) override {
    auto txn = source_->begin();
    txn.erase(key);
    txn.commit();
  }

 private:
  std::shared_ptr<S> source_;
};

// The bytes stored in L2 for "not found" (negative caching) and for a write-behind delete.
// Neither an envelope (wrong magic) nor JSON, so it never collides with a value.
inline constexpr std::string_view kNegativeMarker{"\0strata:absent", 14};

// Everything CacheBuilder<V>::build() decided.
template <typename V>
struct CacheConfig {
  using L1Value = std::optional<V>;  // nullopt: a negative marker
  std::optional<LocalCache<L1Value>> l1;
  std::unique_ptr<RemoteStore> l2;
  std::chrono::milliseconds l2_ttl{0};
  double l2_ttl_jitter = 0;
  std::chrono::milliseconds fill_lease{0};
  std::shared_ptr<AnySource<V>> source;
  std::function<std::optional<V>(std::string_view)> loader;
  std::function<std::string(const V&, const EnvelopeTimes&)> encode;
  std::function<StoredValue<V>(std::string_view)> decode;
  WriteMode mode = WriteMode::kWriteAround;
  std::shared_ptr<WriteBehindSink<V>> sink;
  bool guarded_fills = true;
  std::optional<std::chrono::milliseconds> negative_ttl;
  std::optional<std::chrono::nanoseconds> refresh_after;
  std::optional<LeaseOptions> lease;    // the lease on a miss (needs l2)
  std::optional<XFetchOptions> xfetch;  // XFetch on L2 reads (needs l2, the envelope, a loader)
  // Stale-if-error: L2 keeps values this long past their hard expiry (the envelope's), to be
  // served when the source fails. Zero: off.
  std::chrono::milliseconds stale_if_error{0};
  L1Coherence coherence = L1Coherence::kNone;
  std::size_t max_key_size = 65535;               // bytes; longer keys: InvalidArgumentError
  std::size_t max_value_size = 16 * 1024 * 1024;  // encoded L2 bytes; larger: not stored in L2
  TrackingOptions tracking;                       // kTracking
  std::shared_ptr<const Clock> clock;
  bool clock_injected = false;
  // Weak: the Cache object owns the executor, so that the state (which a running refresh may
  // keep alive) never destroys an executor from one of the executor's own threads.
  std::weak_ptr<Executor> executor;
};

template <typename V>
class CacheState : public std::enable_shared_from_this<CacheState<V>> {
 public:
  using L1Value = std::optional<V>;

  explicit CacheState(CacheConfig<V> config)
      : c_(std::move(config)),
        xfetch_rng_(c_.xfetch && c_.xfetch->seed != 0 ? c_.xfetch->seed : std::random_device{}()) {
    if (c_.coherence == L1Coherence::kTracking && c_.l1 && c_.l2) {
      RedisTracking::Listener listener;
      listener.invalidate = [this](std::string_view redis_key) {
        const auto key = c_.l2->cache_key_of(redis_key);
        if (key && !key->empty()) drop_local(*key);
      };
      listener.flush = [this] { flush_local(); };
      tracking_ =
          std::make_unique<RedisTracking>(c_.l2->client(), c_.tracking, std::move(listener));
    }
  }

  [[nodiscard]] bool has_loader() const noexcept { return c_.source || c_.loader; }

  // get(): the owned loader (source or function).
  std::optional<V> get(std::string_view key) {
    if (!has_loader()) return read(key, nullptr, false);
    return read(
        key, [this](std::string_view k) { return owned_load(k); }, true);
  }

  // Reads L1, then L2, then `loader` (when not null), filling the layers above on the way back.
  // `loader` null: a cache-only read. The owned loader is the only one refresh-ahead reuses.
  template <typename F>
  std::optional<V> read(std::string_view key, F&& loader, bool owned) {
    check_key(key);
    // Latency: L1 hits are sampled, gets below L1 always timed (internal/cache_metrics.h).
    const bool sampled = CacheLatencyRecorder::sample();
    const auto start = sampled ? CacheLatencyRecorder::now() : CacheLatencyRecorder::TimePoint();
    if (c_.l1) {
      if (auto hit = c_.l1->lookup(key)) {
        l1_hits_.fetch_add(1, std::memory_order_relaxed);
        if (!hit->value) negative_hits_.fetch_add(1, std::memory_order_relaxed);
        // Negative markers are not refreshed ahead: they simply expire (negative_ttl).
        if (hit->stale && hit->value && owned && c_.refresh_after) {
          stale_served_.fetch_add(1, std::memory_order_relaxed);
          schedule_refresh(key);
        }
        if (sampled) latencies_.record_get(CacheLayer::kL1, start);
        return std::move(hit->value);
      }
      l1_misses_.fetch_add(1, std::memory_order_relaxed);
      const auto below_start = sampled ? start : CacheLatencyRecorder::now();
      const std::uint64_t gen = generation(key);
      bool negative = false;
      CacheLayer answered = CacheLayer::kL1;  // stays so when another thread's load answered
      auto result = c_.l1->get_or_load(key, [&](std::string_view k) -> std::optional<L1Value> {
        Below below = read_below(k, loader, owned);
        answered = below.loaded ? CacheLayer::kSource : CacheLayer::kL2;
        // Tracking: a value not read from L2 is not tracked; erase() during the load makes
        // get_or_load return it without caching it.
        if (tracking() && !below.from_l2) (void)c_.l1->erase(k);
        if (below.value) return L1Value(std::move(below.value));
        negative = below.cache_negative && (!tracking() || below.from_l2);
        return std::nullopt;  // not cached by get_or_load: a negative marker gets its own TTL
      });
      if (negative && c_.negative_ttl) put_l1_if(key, L1Value(), gen, *c_.negative_ttl);
      latencies_.record_get(answered, below_start);
      if (!result) return std::nullopt;
      return std::move(*result);
    }
    const auto below_start = sampled ? start : CacheLatencyRecorder::now();
    CacheLayer answered = CacheLayer::kSource;  // a follower of another thread's load
    auto value = single_flight(key, [&] {
      Below below = read_below(key, loader, owned);
      answered = below.loaded ? CacheLayer::kSource : CacheLayer::kL2;
      return std::move(below.value);
    });
    latencies_.record_get(answered, below_start);
    return value;
  }

  std::vector<std::optional<V>> get_many(std::span<const std::string> keys) {
    for (const auto& key : keys) check_key(key);
    std::vector<std::optional<V>> out(keys.size());
    std::vector<std::size_t> missing;
    std::vector<std::uint64_t> gens(keys.size(), 0);
    for (std::size_t i = 0; i < keys.size(); ++i) {
      if (c_.l1) {
        if (auto hit = c_.l1->lookup(keys[i])) {
          l1_hits_.fetch_add(1, std::memory_order_relaxed);
          if (!hit->value) negative_hits_.fetch_add(1, std::memory_order_relaxed);
          if (hit->stale && hit->value && has_loader() && c_.refresh_after) {
            schedule_refresh(keys[i]);
          }
          out[i] = std::move(hit->value);
          continue;
        }
        l1_misses_.fetch_add(1, std::memory_order_relaxed);
        gens[i] = generation(keys[i]);
      }
      missing.push_back(i);
    }
    if (missing.empty()) return out;

    std::vector<std::size_t> to_load;
    if (c_.l2) {
      std::vector<std::string> l2_keys;
      l2_keys.reserve(missing.size());
      for (const std::size_t i : missing) l2_keys.push_back(keys[i]);
      bool ok = false;
      auto values = c_.l2->mget(l2_keys, ok);
      if (!ok && tracking()) gens.assign(gens.size(), kNoFill);  // untracked: no L1 fills
      for (std::size_t j = 0; j < missing.size(); ++j) {
        const std::size_t i = missing[j];
        if (ok && values[j]) {
          if (*values[j] == kNegativeMarker) {
            negative_hits_.fetch_add(1, std::memory_order_relaxed);
            continue;
          }
          try {
            StoredValue<V> stored = c_.decode(*values[j]);
            if (hard_expired(stored)) {  // kept for stale-if-error only: a miss here
              to_load.push_back(i);
              continue;
            }
            if (soft_expired(stored) && has_loader()) schedule_refresh(keys[i]);
            out[i] = std::move(stored.value);
            if (c_.l1) put_l1_if(keys[i], L1Value(*out[i]), gens[i], std::nullopt);
            continue;
          } catch (const CorruptedError&) {
            c_.l2->drop_corrupted(keys[i]);
          }
        }
        to_load.push_back(i);
      }
    } else {
      to_load = missing;
    }
    if (to_load.empty() || !has_loader()) return out;

    std::vector<std::string> load_keys;
    load_keys.reserve(to_load.size());
    for (const std::size_t i : to_load) load_keys.push_back(keys[i]);
    std::vector<std::optional<std::string>> tokens(load_keys.size());
    if (c_.l2 && c_.guarded_fills) tokens = c_.l2->begin_fill_many(load_keys, c_.fill_lease);
    std::vector<std::optional<V>> loaded(load_keys.size());
    std::vector<bool> from_sink(load_keys.size(), false);
    std::vector<std::string> source_keys;  // the keys with no pending write-behind write
    for (std::size_t j = 0; j < load_keys.size(); ++j) {
      if (c_.sink) {
        if (std::optional<PendingWrite<V>> pending = c_.sink->pending(load_keys[j])) {
          write_behind_pending_reads_.fetch_add(1, std::memory_order_relaxed);
          loaded[j] = std::move(pending->value);
          from_sink[j] = true;
          continue;
        }
      }
      source_keys.push_back(load_keys[j]);
    }
    std::vector<std::optional<V>> from_source;
    try {
      if (c_.source) {
        from_source = c_.source->load_many(source_keys);
      } else {
        from_source.reserve(source_keys.size());
        for (const auto& key : source_keys) from_source.push_back(c_.loader(key));
      }
    } catch (...) {
      source_load_errors_.fetch_add(1, std::memory_order_relaxed);
      throw;
    }
    if (from_source.size() != source_keys.size()) {
      throw InternalError("Cache::get_many: the source returned a wrong number of values");
    }
    for (std::size_t j = 0, k = 0; j < load_keys.size(); ++j) {
      if (!from_sink[j]) loaded[j] = std::move(from_source[k++]);
    }
    for (std::size_t j = 0; j < to_load.size(); ++j) {
      const std::size_t i = to_load[j];
      if (tracking()) gens[i] = kNoFill;  // loaded from the source: not tracked (see read())
      if (!from_sink[j]) {
        source_loads_.fetch_add(1, std::memory_order_relaxed);
        if (!loaded[j]) source_not_found_.fetch_add(1, std::memory_order_relaxed);
      }
      fill_l2(load_keys[j], tokens[j], loaded[j], std::chrono::nanoseconds(0));
      if (c_.l1) {
        if (loaded[j]) {
          put_l1_if(load_keys[j], L1Value(*loaded[j]), gens[i], std::nullopt);
        } else if (c_.negative_ttl) {
          put_l1_if(load_keys[j], L1Value(), gens[i], *c_.negative_ttl);
        }
      }
      out[i] = std::move(loaded[j]);
    }
    return out;
  }

  void put(std::string_view key, const V& value) {
    check_key(key);
    std::optional<Encoded> encoded;  // what L2 will store, if put() stores into L2
    if (c_.l2 && (c_.mode != WriteMode::kWriteAround || !c_.source)) {
      encoded = encode_for_put(key, value);
    }
    // Writes of one key (one stripe) from this process are applied one at a time, so the
    // source, L2, L1 and the sink see them in the same order.
    std::lock_guard write_lock(write_locks_[stripe_index(key)]);
    switch (c_.mode) {
      case WriteMode::kWriteAround:
        if (c_.source) {
          write_source([&] { c_.source->write(key, value); });
          invalidate(key);
        } else {
          store(key, value, encoded, /*drop_l1_on_l2_failure=*/true);
        }
        return;
      case WriteMode::kWriteThrough:
        write_source([&] { c_.source->write_in_transaction(key, value); });
        store(key, value, encoded, /*drop_l1_on_l2_failure=*/true);
        return;
      case WriteMode::kWriteBehind:
        c_.sink->enqueue_put(key, value);
        write_behind_enqueued_.fetch_add(1, std::memory_order_relaxed);
        store(key, value, encoded, /*drop_l1_on_l2_failure=*/false);
        return;
    }
  }

  void erase(std::string_view key) {
    check_key(key);
    std::lock_guard write_lock(write_locks_[stripe_index(key)]);
    switch (c_.mode) {
      case WriteMode::kWriteAround:
        if (c_.source) write_source([&] { c_.source->erase(key); });
        invalidate(key);
        return;
      case WriteMode::kWriteThrough:
        write_source([&] { c_.source->erase_in_transaction(key); });
        invalidate(key);
        return;
      case WriteMode::kWriteBehind: {
        c_.sink->enqueue_erase(key);
        write_behind_enqueued_.fetch_add(1, std::memory_order_relaxed);
        // The source still holds the row until the flush: cache a tombstone, not a miss.
        if (c_.l2 && !c_.l2->write(key, kNegativeMarker, jittered_l2_ttl())) {
          l2_write_failures_.fetch_add(1, std::memory_order_relaxed);
          (void)c_.l2->remove(key);  // deferred if L2 is unreachable
        }
        Stripe& stripe = stripe_for(key);
        std::lock_guard lock(stripe.mutex);
        ++stripe.generation;
        if (c_.l1 && tracking()) {
          (void)c_.l1->erase(key);  // see store()
        } else if (c_.l1) {
          c_.l1->put(key, L1Value());
        }
        return;
      }
    }
  }

  // Deletes the key from L2 (value and fill token), then from L1. Never updates.
  void invalidate(std::string_view key) {
    check_key(key);
    if (c_.l2) (void)c_.l2->remove(key);
    drop_local(key);
  }

  // L1 coherence (the invalidation bus, Redis tracking): drops `key` from this process's L1 only,
  // and makes any load of it in flight skip its L1 fill (the generation check), so a value read
  // before the invalidation never lands in L1 after it.
  void drop_local(std::string_view key) {
    Stripe& stripe = stripe_for(key);
    std::lock_guard lock(stripe.mutex);
    ++stripe.generation;
    if (c_.l1) (void)c_.l1->erase(key);
  }

  // Drops everything from this process's L1 (an invalidation may have been missed: a sequence
  // gap, a lost subscriber connection, FLUSHALL), with the same in-flight guarantee.
  void flush_local() {
    for (Stripe& stripe : stripes_) {
      std::lock_guard lock(stripe.mutex);
      ++stripe.generation;
    }
    if (c_.l1) c_.l1->clear();
  }

  [[nodiscard]] TieredCacheStats stats() const {
    const auto load = [](const std::atomic<std::uint64_t>& a) {
      return a.load(std::memory_order_relaxed);
    };
    TieredCacheStats s;
    if (c_.l1) {
      s.l1.enabled = true;
      s.l1.hits = load(l1_hits_);
      s.l1.misses = load(l1_misses_);
      s.l1.cache = c_.l1->stats();
    }
    if (c_.l2) {
      const RemoteCounters r = c_.l2->counters();
      s.l2.enabled = true;
      s.l2.hits = r.hits;
      s.l2.misses = r.misses;
      s.l2.errors = r.errors;
      s.l2.short_circuited = r.short_circuited;
      s.l2.corrupted = r.corrupted;
      s.l2.fills = r.fills;
      s.l2.fills_skipped = r.fills_skipped;
      s.l2.writes = r.writes;
      s.l2.write_failures = load(l2_write_failures_);
      s.l2.deletes = r.deletes;
      s.l2.deletes_deferred = r.deletes_deferred;
      s.l2.deletes_replayed = r.deletes_replayed;
      s.l2.deletes_dropped = r.deletes_dropped;
      s.l2.breaker = c_.l2->breaker_state();
      s.l2.breaker_opens = c_.l2->breaker_opens();
    }
    s.source.loads = load(source_loads_);
    s.source.not_found = load(source_not_found_);
    s.source.load_errors = load(source_load_errors_);
    s.source.writes = load(source_writes_);
    s.source.write_errors = load(source_write_errors_);
    s.negative_hits = load(negative_hits_);
    s.refreshes_scheduled = load(refreshes_scheduled_);
    s.refreshes = load(refreshes_);
    s.refresh_failures = load(refresh_failures_);
    s.write_behind_enqueued = load(write_behind_enqueued_);
    s.write_behind_pending_reads = load(write_behind_pending_reads_);
    s.stampede.lease_acquired = load(lease_acquired_);
    s.stampede.lease_waits = load(lease_waits_);
    s.stampede.lease_wait_hits = load(lease_wait_hits_);
    s.stampede.lease_timeouts = load(lease_timeouts_);
    s.stampede.stale_served = load(stale_served_);
    s.stampede.stale_if_error_served = load(stale_if_error_served_);
    s.stampede.early_refreshes = load(early_refreshes_);
    if (tracking_) s.tracking = tracking_->stats();
    return s;
  }

  // The get and load latency summaries (strata/metrics/metrics.h).
  [[nodiscard]] CacheLatencies latencies() const { return latencies_.summaries(); }

  [[nodiscard]] RemoteStore* remote() noexcept { return c_.l2.get(); }
  // kTracking's subscriber side (nullptr in other modes): for tests and tools.
  [[nodiscard]] RedisTracking* redis_tracking() noexcept { return tracking_.get(); }
  [[nodiscard]] LocalCache<L1Value>* local() noexcept { return c_.l1 ? &*c_.l1 : nullptr; }

 private:
  struct Below {
    std::optional<V> value;
    bool cache_negative = false;  // "not found" worth a negative marker in L1
    bool loaded = false;          // the loader ran (else L2 answered)
    bool from_l2 = false;         // the answer came from L2 (so, with tracking, it is tracked)
  };

  // A generation no stripe reaches: put_l1_if never stores with it.
  static constexpr std::uint64_t kNoFill = ~std::uint64_t{0};

  [[nodiscard]] bool tracking() const noexcept { return tracking_ != nullptr; }

  struct Flight {
    std::mutex mutex;
    std::condition_variable done_cv;
    bool done = false;
    std::optional<V> value;
    std::exception_ptr error;
  };

  struct Stripe {
    std::mutex mutex;
    std::uint64_t generation = 0;
  };
  static constexpr std::size_t kStripes = 64;

  void check_key(std::string_view key) const {
    if (key.empty()) throw InvalidArgumentError("Cache: keys must not be empty");
    if (key.size() > c_.max_key_size) {
      throw InvalidArgumentError("Cache: key of " + std::to_string(key.size()) +
                                 " bytes exceeds max_key_size " + std::to_string(c_.max_key_size));
    }
  }

  // A value as put() stores it in L2, encoded before anything is written so that an oversized
  // value is refused (InvalidArgumentError) with the source, L2 and L1 untouched.
  struct Encoded {
    std::string bytes;
    std::chrono::milliseconds ttl;
  };
  Encoded encode_for_put(std::string_view key, const V& value) {
    const auto ttl = jittered_l2_ttl();
    Encoded e{encode_now(value, std::chrono::nanoseconds(0), ttl), ttl};
    if (e.bytes.size() > c_.max_value_size) {
      throw InvalidArgumentError("Cache: value of key '" + printable(key) + "' encodes to " +
                                 std::to_string(e.bytes.size()) + " bytes, over max_value_size " +
                                 std::to_string(c_.max_value_size));
    }
    return e;
  }
  // At most 64 bytes of a key, non-printable bytes escaped (\xNN), for error messages.
  static std::string printable(std::string_view key) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (std::size_t i = 0; i < key.size() && i < 64; ++i) {
      const auto c = static_cast<unsigned char>(key[i]);
      if (c >= 0x20 && c < 0x7f && c != '\\') {
        out += static_cast<char>(c);
      } else {
        out += "\\x";
        out += kHex[c >> 4];
        out += kHex[c & 15];
      }
    }
    if (key.size() > 64) out += "...";
    return out;
  }

  std::optional<V> owned_load(std::string_view key) {
    return c_.source ? c_.source->load(key) : c_.loader(key);
  }

  static std::size_t stripe_index(std::string_view key) {
    return std::hash<std::string_view>{}(key) % kStripes;
  }
  Stripe& stripe_for(std::string_view key) { return stripes_[stripe_index(key)]; }
  std::uint64_t generation(std::string_view key) {
    Stripe& stripe = stripe_for(key);
    std::lock_guard lock(stripe.mutex);
    return stripe.generation;
  }
  // Stores in L1 unless a write or invalidation of the key's stripe happened since `gen`.
  void put_l1_if(std::string_view key, L1Value value, std::uint64_t gen,
                 std::optional<std::chrono::nanoseconds> ttl) {
    Stripe& stripe = stripe_for(key);
    std::lock_guard lock(stripe.mutex);
    if (gen == kNoFill || stripe.generation != gen) return;
    if (ttl) {
      c_.l1->put(key, std::move(value), *ttl);
    } else {
      c_.l1->put(key, std::move(value));
    }
  }

  [[nodiscard]] EnvelopeTime wall_now() const {
    using std::chrono::microseconds;
    if (c_.clock_injected) {
      return EnvelopeTime(std::chrono::duration_cast<microseconds>(c_.clock->now()));
    }
    return std::chrono::time_point_cast<microseconds>(std::chrono::system_clock::now());
  }

  [[nodiscard]] bool soft_expired(const StoredValue<V>& stored) const {
    return c_.refresh_after && stored.times && stored.times->soft_expiry &&
           *stored.times->soft_expiry <= wall_now();
  }

  [[nodiscard]] std::chrono::milliseconds jittered_l2_ttl() {
    if (c_.l2_ttl_jitter <= 0) return c_.l2_ttl;
    thread_local std::mt19937_64 rng{std::random_device{}()};
    std::uniform_real_distribution<double> share(0.0, c_.l2_ttl_jitter);
    const auto cut = static_cast<std::int64_t>(static_cast<double>(c_.l2_ttl.count()) * share(rng));
    return std::max(std::chrono::milliseconds(1), c_.l2_ttl - std::chrono::milliseconds(cut));
  }

  [[nodiscard]] std::string encode_now(const V& value, std::chrono::nanoseconds compute_time,
                                       std::chrono::milliseconds ttl) const {
    const EnvelopeTime now = wall_now();
    EnvelopeTimes times;
    times.computed_at = now;
    if (c_.refresh_after) {
      times.soft_expiry =
          now + std::chrono::duration_cast<std::chrono::microseconds>(*c_.refresh_after);
    }
    times.hard_expiry = now + std::chrono::duration_cast<std::chrono::microseconds>(ttl);
    times.compute_time = std::chrono::duration_cast<std::chrono::microseconds>(compute_time);
    return c_.encode(value, times);
  }

  // Writes a loaded value (or a negative marker) to L2, through the guard when it is on.
  void fill_l2(std::string_view key, const std::optional<std::string>& token,
               const std::optional<V>& value, std::chrono::nanoseconds compute_time) {
    if (!c_.l2 || (c_.guarded_fills && !token)) return;
    if (value) {
      const auto ttl = jittered_l2_ttl();
      std::string bytes = encode_now(*value, compute_time, ttl);
      if (bytes.size() > c_.max_value_size) return;  // too large for L2: served from L1/source
      (void)c_.l2->fill(key, token, bytes, ttl + c_.stale_if_error);
    } else if (c_.negative_ttl) {
      (void)c_.l2->fill(key, token, kNegativeMarker, *c_.negative_ttl);
    }
  }

  // Past its hard expiry (the envelope's): only seen when stale-if-error keeps values in L2
  // longer than their TTL. Such a value is a miss, kept as the stale-if-error fallback.
  [[nodiscard]] bool hard_expired(const StoredValue<V>& stored) const {
    return c_.stale_if_error > std::chrono::milliseconds::zero() && stored.times &&
           stored.times->hard_expiry && *stored.times->hard_expiry <= wall_now();
  }

  // u in (0, 1] for XFetch: the injected function, else this cache's generator.
  [[nodiscard]] double xfetch_random() {
    if (c_.xfetch->random) return c_.xfetch->random();
    std::lock_guard lock(xfetch_mutex_);
    return 1.0 - std::uniform_real_distribution<double>(0.0, 1.0)(xfetch_rng_);
  }

  // XFetch (strata/stampede/stampede.h) on a value read from L2, against its hard expiry.
  [[nodiscard]] bool xfetch_due(const StoredValue<V>& stored) {
    if (!c_.xfetch || !stored.times || !stored.times->hard_expiry) return false;
    return xfetch_should_refresh(wall_now().time_since_epoch(),
                                 stored.times->hard_expiry->time_since_epoch(),
                                 stored.times->compute_time, c_.xfetch->beta, xfetch_random());
  }

  // Interprets bytes read from L2: a negative marker, a value (serving it stale past its soft
  // TTL or early under XFetch, with one refresh scheduled), or nothing usable (corrupted, or past
  // its hard expiry: then `stale` keeps it for stale-if-error).
  std::optional<Below> use_remote(std::string_view key, const std::string& bytes, bool owned,
                                  std::optional<V>& stale, std::string& stale_bytes) {
    if (bytes == kNegativeMarker) {
      negative_hits_.fetch_add(1, std::memory_order_relaxed);
      return Below{std::nullopt, true, false, true};
    }
    try {
      StoredValue<V> stored = c_.decode(bytes);
      if (hard_expired(stored)) {
        stale_bytes = bytes;  // the lease probe looks past it
        if (wall_now() - *stored.times->hard_expiry <= c_.stale_if_error) {
          stale = std::move(stored.value);
        }
        return std::nullopt;
      }
      if (owned && soft_expired(stored)) {
        stale_served_.fetch_add(1, std::memory_order_relaxed);
        schedule_refresh(key);
      } else if (owned && xfetch_due(stored)) {
        early_refreshes_.fetch_add(1, std::memory_order_relaxed);
        schedule_refresh(key, stored.times->computed_at);
      }
      return Below{std::move(stored.value), false, false, true};
    } catch (const CorruptedError&) {
      c_.l2->drop_corrupted(key);
      return std::nullopt;
    }
  }

  // Releases the lease on a miss when the load is over (or failed).
  struct LeaseRelease {
    RemoteStore* l2 = nullptr;
    std::string_view key;
    std::optional<std::string> token;
    LeaseRelease() = default;
    LeaseRelease(const LeaseRelease&) = delete;
    LeaseRelease& operator=(const LeaseRelease&) = delete;
    ~LeaseRelease() {
      if (!token) return;
      try {
        l2->release_lease(key, *token);
      } catch (...) {  // best effort: the lease then ends by expiry
      }
    }
  };

  // The lease on a miss: takes it (true: this caller loads), or waits for the holder's value
  // with backoff up to the deadline (a Below: the value arrived). After the deadline, or when L2
  // cannot be asked, returns false with no lease: the caller loads without it (the fallback).
  std::variant<bool, Below> await_lease(std::string_view key, bool owned, std::optional<V>& stale,
                                        std::string& stale_bytes, LeaseRelease& release) {
    const LeaseOptions& o = *c_.lease;
    const auto deadline = std::chrono::steady_clock::now() + o.wait_deadline;
    auto backoff = o.initial_backoff;
    bool waited = false;
    for (;;) {
      LeaseProbe probe = c_.l2->probe_lease(key, o.ttl, stale_bytes);
      if (!probe.ok) return false;
      if (probe.token) {
        lease_acquired_.fetch_add(1, std::memory_order_relaxed);
        release.l2 = c_.l2.get();
        release.key = key;
        release.token = std::move(probe.token);
        return true;
      }
      if (probe.bytes) {
        const std::string before = stale_bytes;
        if (auto hit = use_remote(key, *probe.bytes, owned, stale, stale_bytes)) {
          if (waited) lease_wait_hits_.fetch_add(1, std::memory_order_relaxed);
          return std::move(*hit);
        }
        // Past its hard expiry (newly learned: probe again at once, looking past it) or
        // corrupted (deleted): probe again, after the backoff when this repeats.
        if (stale_bytes != before) continue;
      }
      if (!waited) {
        lease_waits_.fetch_add(1, std::memory_order_relaxed);
        waited = true;
      }
      const auto now = std::chrono::steady_clock::now();
      if (now >= deadline) {
        lease_timeouts_.fetch_add(1, std::memory_order_relaxed);
        return false;
      }
      std::this_thread::sleep_for(
          std::min<std::chrono::steady_clock::duration>(backoff, deadline - now));
      backoff = std::min(backoff * 2, o.max_backoff);
    }
  }

  // L2, then the loader. Single-flight is the caller's job; the lease (when configured) makes
  // it one load across processes.
  template <typename F>
  Below read_below(std::string_view key, F& loader, bool owned) {
    std::optional<std::string> token;
    std::optional<V> stale;   // past its hard expiry, within the stale-if-error bound
    std::string stale_bytes;  // its bytes (the lease probe looks past them)
    LeaseRelease lease;
    if (c_.l2) {
      RemoteRead read = c_.l2->get(key);
      if (read.ok && read.bytes) {
        if (auto hit = use_remote(key, *read.bytes, owned, stale, stale_bytes)) {
          return std::move(*hit);
        }
      }
      if constexpr (!std::is_same_v<std::remove_cvref_t<F>, std::nullptr_t>) {
        if (read.ok && c_.lease) {
          auto outcome = await_lease(key, owned, stale, stale_bytes, lease);
          if (auto* below = std::get_if<Below>(&outcome)) return std::move(*below);
        }
        if (read.ok && c_.guarded_fills) token = c_.l2->begin_fill(key, c_.fill_lease);
      }
    }
    if constexpr (std::is_same_v<std::remove_cvref_t<F>, std::nullptr_t>) {
      return Below{};  // a cache-only read: past the hard TTL is a miss
    } else {
      const auto start = c_.clock->now();
      std::optional<V> value;
      try {
        value = load_counted(key, loader);
      } catch (...) {
        if (!stale) throw;
        stale_if_error_served_.fetch_add(1, std::memory_order_relaxed);
        return Below{std::move(stale), false, true, true};  // the stale copy was read from L2
      }
      fill_l2(key, token, value, c_.clock->now() - start);
      return Below{std::move(value), !value, true, false};
    }
  }

  template <typename F>
  std::optional<V> load_counted(std::string_view key, F& loader) {
    if (c_.sink) {
      // Write-behind: an acknowledged write the source does not hold yet wins over the source.
      if (std::optional<PendingWrite<V>> pending = c_.sink->pending(key)) {
        write_behind_pending_reads_.fetch_add(1, std::memory_order_relaxed);
        return std::move(pending->value);
      }
    }
    const auto start = CacheLatencyRecorder::now();
    try {
      std::optional<V> value = loader(key);
      latencies_.record_load(CacheLatencyRecorder::now() - start);
      source_loads_.fetch_add(1, std::memory_order_relaxed);
      if (!value) source_not_found_.fetch_add(1, std::memory_order_relaxed);
      return value;
    } catch (...) {
      source_load_errors_.fetch_add(1, std::memory_order_relaxed);
      throw;
    }
  }

  template <typename F>
  void write_source(F&& write) {
    try {
      write();
      source_writes_.fetch_add(1, std::memory_order_relaxed);
    } catch (...) {
      source_write_errors_.fetch_add(1, std::memory_order_relaxed);
      throw;
    }
  }

  // L2 then L1, for values the application wrote. When the L2 write fails the key is deleted
  // from L2 (best effort) and, if asked, from L1, so that no one reads a value older than this.
  void store(std::string_view key, const V& value, const std::optional<Encoded>& encoded,
             bool drop_l1_on_l2_failure) {
    bool l2_ok = true;
    if (c_.l2 && encoded) {
      l2_ok = c_.l2->write(key, encoded->bytes, encoded->ttl + c_.stale_if_error);
      if (!l2_ok) {
        l2_write_failures_.fetch_add(1, std::memory_order_relaxed);
        (void)c_.l2->remove(key);
      }
    }
    Stripe& stripe = stripe_for(key);
    std::lock_guard lock(stripe.mutex);
    ++stripe.generation;
    if (!c_.l1) return;
    if (tracking()) {
      (void)c_.l1->erase(key);  // the write did not track the key: the next read will
    } else if (l2_ok || !drop_l1_on_l2_failure) {
      c_.l1->put(key, L1Value(value));
    } else {
      (void)c_.l1->erase(key);
    }
  }

  template <typename F>
  std::optional<V> single_flight(std::string_view key, F&& load) {
    std::shared_ptr<Flight> flight;
    bool leader = false;
    {
      std::lock_guard lock(flights_mutex_);
      auto [it, inserted] = flights_.try_emplace(std::string(key));
      if (inserted) {
        it->second = std::make_shared<Flight>();
        leader = true;
      }
      flight = it->second;
    }
    if (!leader) {
      std::unique_lock lock(flight->mutex);
      flight->done_cv.wait(lock, [&] { return flight->done; });
      if (flight->error) std::rethrow_exception(flight->error);
      return flight->value;
    }
    std::optional<V> value;
    std::exception_ptr error;
    try {
      value = load();
    } catch (...) {
      error = std::current_exception();
    }
    {
      std::lock_guard lock(flights_mutex_);
      flights_.erase(std::string(key));
    }
    {
      std::lock_guard lock(flight->mutex);
      flight->value = value;
      flight->error = error;
      flight->done = true;
    }
    flight->done_cv.notify_all();
    if (error) std::rethrow_exception(error);
    return value;
  }

  // Refresh-ahead: at most one reload per key at a time in this process (L1's refresh claim,
  // or the set below without L1), on the executor; the old value is served meanwhile.
  // `seen`: the computed_at of the value that triggered an XFetch refresh (an L2 value computed
  // later means another process refreshed it already); nullopt: a soft-TTL refresh.
  void schedule_refresh(std::string_view key, std::optional<EnvelopeTime> seen = std::nullopt) {
    if (c_.l1) {
      if (!c_.l1->begin_refresh(key)) return;
    } else {
      std::lock_guard lock(refreshing_mutex_);
      if (!refreshing_.insert(std::string(key)).second) return;
    }
    const std::shared_ptr<Executor> executor = c_.executor.lock();
    if (!executor) {
      release_refresh_claim(key);
      return;
    }
    refreshes_scheduled_.fetch_add(1, std::memory_order_relaxed);
    std::weak_ptr<CacheState> weak = this->weak_from_this();
    executor->execute([weak, k = std::string(key), seen]() noexcept {
      if (auto self = weak.lock()) self->refresh(k, seen);
    });
  }

  void refresh(const std::string& key, std::optional<EnvelopeTime> seen) noexcept {
    std::optional<std::string> claimed;
    try {
      std::uint64_t gen = generation(key);
      std::optional<V> fresh;
      bool reloaded = false;
      bool skip = false;
      std::optional<std::string> token;
      if (c_.l2) {
        // Another process may have refreshed L2 already; else take the cross-process lease.
        RemoteRead read = c_.l2->get(key);
        if (!read.ok && tracking()) gen = kNoFill;  // untracked: L1 is not refreshed
        if (read.ok && read.bytes && *read.bytes != kNegativeMarker) {
          try {
            StoredValue<V> stored = c_.decode(*read.bytes);
            const bool newer = seen ? stored.times && stored.times->computed_at > *seen
                                    : !soft_expired(stored) && !hard_expired(stored);
            if (newer) fresh = std::move(stored.value);
          } catch (const CorruptedError&) {
            c_.l2->drop_corrupted(key);
          }
        }
        if (!fresh && read.ok) {
          claimed = c_.l2->claim_refresh(key, c_.fill_lease);
          skip = !claimed.has_value();
          if (claimed && c_.guarded_fills) token = c_.l2->begin_fill(key, c_.fill_lease);
        }
      }
      if (!fresh && !skip) {
        const auto start = c_.clock->now();
        auto loader = [this](std::string_view k) { return owned_load(k); };
        fresh = load_counted(key, loader);
        reloaded = true;
        if (tracking()) gen = kNoFill;  // from the source: not tracked (see read())
        if (fresh) {
          fill_l2(key, token, fresh, c_.clock->now() - start);
        } else if (c_.l2) {
          (void)c_.l2->remove(key);  // the row is gone
        }
      }
      if (c_.l1) {
        if (fresh) {
          put_l1_if(key, L1Value(std::move(fresh)), gen, std::nullopt);
        } else if (reloaded) {
          Stripe& stripe = stripe_for(key);
          std::lock_guard lock(stripe.mutex);
          if (stripe.generation == gen) (void)c_.l1->erase(key);
        }
      }
      refreshes_.fetch_add(1, std::memory_order_relaxed);
    } catch (...) {
      refresh_failures_.fetch_add(1, std::memory_order_relaxed);
    }
    try {
      if (claimed) c_.l2->release_refresh(key, *claimed);
      release_refresh_claim(key);
    } catch (...) {
    }
  }

  void release_refresh_claim(std::string_view key) {
    if (c_.l1) {
      c_.l1->end_refresh(key);
    } else {
      std::lock_guard lock(refreshing_mutex_);
      refreshing_.erase(std::string(key));
    }
  }

  CacheConfig<V> c_;
  CacheLatencyRecorder latencies_;
  std::array<Stripe, kStripes> stripes_;
  std::array<std::mutex, kStripes> write_locks_;
  std::mutex flights_mutex_;
  std::unordered_map<std::string, std::shared_ptr<Flight>> flights_;
  std::mutex refreshing_mutex_;
  std::unordered_set<std::string> refreshing_;
  std::atomic<std::uint64_t> l1_hits_{0}, l1_misses_{0}, negative_hits_{0}, source_loads_{0},
      source_not_found_{0}, source_load_errors_{0}, source_writes_{0}, source_write_errors_{0},
      l2_write_failures_{0}, refreshes_scheduled_{0}, refreshes_{0}, refresh_failures_{0},
      write_behind_enqueued_{0}, write_behind_pending_reads_{0};
  // Stampede protection (docs/stampede.md).
  std::atomic<std::uint64_t> lease_acquired_{0}, lease_waits_{0}, lease_wait_hits_{0},
      lease_timeouts_{0}, stale_served_{0}, stale_if_error_served_{0}, early_refreshes_{0};
  std::mutex xfetch_mutex_;
  std::mt19937_64 xfetch_rng_;
  // Last: destroyed first, so its threads (which call drop_local/flush_local) are joined while
  // the rest of the state is still alive.
  std::unique_ptr<RedisTracking> tracking_;
};

}  // namespace internal
}  // namespace strata
