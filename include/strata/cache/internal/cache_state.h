// strata/cache/internal/cache_state.h: the typed shell of the engine behind Cache<V>
// (strata/cache/cache.h). Not part of the API.
//
// CacheState<V> encodes and decodes values, touches the typed L1 and calls the source; every
// decision that does not depend on V (key checks, generations, counters, TTLs and envelope times,
// the verdict on an L2 value, the L2 write protocol, the lease loop, refresh claims,
// single-flight) is in the compiled TieredCacheCore (internal/tiered_core.h). Cache<V> is a handle
// on a shared CacheState<V>; background refreshes hold a weak_ptr to it, so a refresh queued on an
// executor that outlives the cache does nothing.
//
// Why this file is ~800 lines: what is left here is only what needs V, and the read path, the bulk
// read, the write paths and refresh all decode, encode or touch the typed L1; splitting them into
// several headers would make each one depend on all the others' private state. The parts, in this
// file's order: the read path (get, read, read_below, use_remote), the bulk
// read (read_many, get_many, through the same use_remote), the write paths (put, put_many, erase,
// invalidate, store),
// the coherence hooks (drop_local, flush_local), refresh (schedule_refresh, refresh), stats.
//
// Concurrency model
//  - Every read below L1 is single-flight through TieredCacheCore's flight table, with or
//    without an L1: get, get_or_load and the bulk reads (read_many) of one key share one flight.
//    A bulk read claims all its keys at once, leads the ones no one is loading (one MGET, one
//    batch load, the fills, then it ends those flights) and only then waits for the others, so
//    two bulk reads never wait on each other. A flight's leader fills L1 before it ends the
//    flight, and looks in L1 again (peek) after claiming it, so a key is loaded once however
//    the callers interleave (as long as nothing invalidates it).
//  - Writes to L1 (fills by a read's leader, refreshes, negative markers) are guarded by a
//    per-stripe generation:
//    every write/invalidate bumps the stripe of its key under the stripe's mutex, and a fill
//    stores only if the generation it read before going below L1 is unchanged (checked and
//    stored under the same mutex).
//  - L2 fills are guarded in Redis by a fill token (internal/remote_store.h, docs/patterns.md).
//  - put/erase of keys of one stripe are serialized in this process (TieredCacheCore::lock_writes),
//  so
//    two writers of one key cannot leave the source with one value and a cache with the other.
//    Writers in different processes are not serialized (docs/patterns.md).
//  - L1Coherence::kTracking (docs/coherence.md): L1 holds only values read from L2 through a
//    tracked connection, so that the server invalidates them: a value loaded from the source
//    (its L2 fill would invalidate our own tracking at once) or read while L2 failed does not
//    fill L1, and writes drop the key from L1 instead of storing it (a write does not track
//    the key). Invalidations call drop_local / flush_local.
//  - A value past its envelope's hard expiry is never returned: L2 reads judge it a miss, and an
//    L1 fill from L2 lives no longer than the value's remaining time.
#pragma once

#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "strata/cache/internal/cache_metrics.h"
#include "strata/cache/internal/remote_store.h"
#include "strata/cache/internal/tiered_core.h"
#include "strata/cache/tiered_stats.h"
#include "strata/cache/write_mode.h"
#include "strata/clock.h"
#include "strata/codec/envelope.h"
#include "strata/coherence/coherence.h"
#include "strata/coherence/redis_tracking.h"
#include "strata/error.h"
#include "strata/local/local_cache.h"
#include "strata/source/source.h"
#include "strata/stampede/internal/lease_wait.h"
#include "strata/write_behind/write_behind_sink.h"

namespace strata::internal {

// A type-erased source of record of V.
template <typename V>
class AnySource {
 public:
  virtual ~AnySource() = default;
  virtual std::optional<V> load(std::string_view key) = 0;
  virtual std::vector<std::optional<V>> load_many(std::span<const std::string> keys) = 0;
  virtual void write(std::string_view key, const V& value) = 0;
  virtual void erase(std::string_view key) = 0;
  virtual void write_batch(std::span<const KeyValue<V>> entries) = 0;
  // write/erase inside begin() ... commit().
  virtual void write_in_transaction(std::string_view key, const V& value) = 0;
  virtual void erase_in_transaction(std::string_view key) = 0;
  virtual void write_batch_in_transaction(std::span<const KeyValue<V>> entries) = 0;
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
  void write_batch(std::span<const KeyValue<V>> entries) override { source_->write_batch(entries); }
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
  void write_batch_in_transaction(std::span<const KeyValue<V>> entries) override {
    auto txn = source_->begin();
    for (const auto& [key, value] : entries) txn.write(key, value);
    txn.commit();
  }

 private:
  std::shared_ptr<S> source_;
};

// What CacheBuilder<V> configures that depends on V (CoreOptions holds the rest).
template <typename V>
struct TypedSettings {
  std::shared_ptr<AnySource<V>> source;
  std::function<std::optional<V>(std::string_view)> loader;
  std::function<std::string(const V&, const EnvelopeTimes&)> encode;
  std::function<StoredValue<V>(std::string_view)> decode;
  WriteMode mode = WriteMode::kWriteAround;
  std::shared_ptr<WriteBehindSink<V>> sink;
  L1Coherence coherence = L1Coherence::kNone;
  TrackingOptions tracking;  // kTracking
};

template <typename V>
class CacheState : public std::enable_shared_from_this<CacheState<V>> {
 public:
  using L1Value = std::optional<V>;  // nullopt: a negative marker

  // `l1`, `l2` may be empty (no such tier); `l1_ttl`: the L1's TTL (zero: none).
  CacheState(TypedSettings<V> settings, CoreOptions core, std::optional<LocalCache<L1Value>> l1,
             std::chrono::nanoseconds l1_ttl, std::unique_ptr<RemoteStore> l2,
             std::weak_ptr<Executor> executor)
      : t_(std::move(settings)),
        l1_(std::move(l1)),
        l1_ttl_(l1_ttl),
        core_(std::move(core), std::move(l2), std::move(executor)) {
    if (t_.coherence == L1Coherence::kTracking && l1_ && core_.l2()) {
      RedisTracking::Listener listener;
      listener.invalidate = [this](std::string_view redis_key) {
        const auto key = core_.l2()->cache_key_of(redis_key);
        if (key && !key->empty()) drop_local(*key);
      };
      listener.flush = [this] { flush_local(); };
      tracking_ =
          std::make_unique<RedisTracking>(core_.l2()->client(), t_.tracking, std::move(listener));
    }
  }

  [[nodiscard]] bool has_loader() const noexcept { return t_.source || t_.loader; }

  // CacheBuilder::dependencies on the read path: called with a loaded value's Redis key before
  // its L2 fill (get, the bulk reads, refreshes), so a value is never in L2 unlinked from the
  // entities it depends on. Set once by build(), before the cache is shared.
  void record_dependencies_on_fill(
      std::function<void(const std::string& redis_key, const V& value)> record) {
    record_on_fill_ = std::move(record);
  }

  // ---------------------------------------------------------------- the read path
  // get(): the owned loader (source or function).
  std::optional<V> get(std::string_view key) {
    if (!has_loader()) return read(key, nullptr, false);
    return read(
        key, [this](std::string_view k) { return owned_load(k); }, true);
  }

  // Reads L1, then L2, then `loader` (when not null), filling the layers above on the way back.
  // `loader` null: a cache-only read. The owned loader is the only one refresh-ahead reuses.
  // Below L1 every caller of one key shares one flight (TieredCacheCore::single_flight), with
  // the bulk reads too (read_many).
  template <typename F>
  std::optional<V> read(std::string_view key, F&& loader, bool owned) {
    core_.check_key(key);
    // Latency: L1 hits are sampled, gets below L1 always timed (internal/cache_metrics.h).
    const bool sampled = CacheLatencyRecorder::sample();
    const auto start = sampled ? CacheLatencyRecorder::now() : CacheLatencyRecorder::TimePoint();
    std::uint64_t gen = 0;
    if (l1_) {
      if (auto hit = probe_l1(key, owned)) {
        if (sampled) latencies_.record_get(CacheLayer::kL1, start);
        return std::move(*hit);
      }
      gen = core_.generation(key);
    }
    const auto below_start = sampled ? start : CacheLatencyRecorder::now();
    // kL1 when L1 answered after all, the source for a follower of another caller's load.
    CacheLayer answered = l1_ ? CacheLayer::kL1 : CacheLayer::kSource;
    std::shared_ptr<const void> shared = core_.single_flight(key, [&] {
      if (l1_) {
        // A flight of this key that ended between the lookup and this claim filled L1 first.
        if (auto again = l1_->peek(key)) return share(std::move(*again));
      }
      Below below = read_below(key, loader, owned);
      answered = below.loaded ? CacheLayer::kSource : CacheLayer::kL2;
      fill_l1(key, below, gen);
      return share(std::move(below.value));
    });
    latencies_.record_get(answered, below_start);
    return *static_cast<const L1Value*>(shared.get());
  }

  // ---------------------------------------------------------------- the bulk read
  // One slot of a bulk read: the value (nullopt: not found), or the error of its load.
  struct BulkSlot {
    std::optional<V> value;
    std::exception_ptr error;
  };

  // get_many / get_or_load_many: L1, then, under single-flight for each key (joining loads in
  // flight, and registering its own so that get() and other bulk reads of those keys wait on
  // it), one MGET for the keys it leads (split per node), then ONE call of `batch` with the
  // keys still missing (null: a cache-only read). Every value found in L2 goes through
  // use_remote, as get()'s do. A failed batch fails only the keys it was loading (a key with a
  // stale-if-error copy gets the copy); the slots say which. `batch`: the keys -> one optional
  // per key, in order (Source::load_many's contract).
  template <typename B>
  std::vector<BulkSlot> read_many(std::span<const std::string> keys, B&& batch, bool owned) {
    for (const auto& key : keys) core_.check_key(key);
    std::vector<BulkSlot> out(keys.size());
    // The distinct keys L1 did not answer (a key repeated in the request is looked up in L1 at
    // each position, counted each time, and read below L1 once).
    std::vector<std::string> unique;
    std::vector<std::uint64_t> gens;  // the generation of each, read before going below L1
    std::vector<std::pair<std::size_t, std::size_t>> misses;  // (position, index into unique)
    {
      std::unordered_map<std::string_view, std::size_t> seen;
      for (std::size_t i = 0; i < keys.size(); ++i) {
        if (l1_) {
          if (auto hit = probe_l1(keys[i], owned)) {
            out[i].value = std::move(*hit);
            continue;
          }
        }
        auto [it, inserted] = seen.try_emplace(keys[i], unique.size());
        if (inserted) {
          unique.push_back(keys[i]);
          gens.push_back(l1_ ? core_.generation(keys[i]) : 0);
        }
        misses.emplace_back(i, it->second);
      }
    }
    if (unique.empty()) return out;
    std::vector<BulkSlot> slots(unique.size());
    auto claims = core_.claim_flights(unique);
    // Lead first, then wait: a caller that waited while leading could wait on one waiting on it.
    std::vector<Led> led;
    for (std::size_t u = 0; u < unique.size(); ++u) {
      if (claims[u].leader) led.push_back(Led{u, claims[u].flight});
    }
    if (!led.empty()) lead_many(unique, led, gens, slots, batch, owned);
    for (std::size_t u = 0; u < unique.size(); ++u) {
      if (claims[u].leader) continue;
      try {
        slots[u].value =
            *static_cast<const L1Value*>(TieredCacheCore::await_flight(claims[u].flight).get());
      } catch (...) {
        slots[u].error = std::current_exception();
      }
    }
    for (const auto& [i, u] : misses) out[i] = slots[u];
    return out;
  }

  // get_many: the owned loader as the batch (the source's load_many, or the function loader
  // key by key); a failed key throws its error, after every key's flight ended.
  std::vector<std::optional<V>> get_many(std::span<const std::string> keys) {
    std::vector<BulkSlot> slots;
    if (has_loader()) {
      slots = read_many(
          keys, [this](std::span<const std::string> ks) { return owned_load_many(ks); }, true);
    } else {
      slots = read_many(keys, nullptr, false);
    }
    std::vector<std::optional<V>> out;
    out.reserve(slots.size());
    for (BulkSlot& slot : slots) {
      if (slot.error) std::rethrow_exception(slot.error);
      out.push_back(std::move(slot.value));
    }
    return out;
  }

  std::vector<std::optional<V>> owned_load_many(std::span<const std::string> keys) {
    if (t_.source) return t_.source->load_many(keys);
    std::vector<std::optional<V>> values;
    values.reserve(keys.size());
    for (const auto& key : keys) values.push_back(t_.loader(key));
    return values;
  }

  // ---------------------------------------------------------------- the write paths
  void put(std::string_view key, const V& value) {
    core_.check_key(key);
    std::optional<Encoded> encoded;  // what L2 will store, if put() stores into L2
    if (core_.l2() && (t_.mode != WriteMode::kWriteAround || !t_.source)) {
      encoded = encode_for_put(key, value);
    }
    // Writes of one key (one stripe) from this process are applied one at a time, so the
    // source, L2, L1 and the sink see them in the same order.
    const auto write_lock = core_.lock_writes(key);
    // An invalidation that lands while the source is written (another writer's, newer) must
    // not be overwritten by this value in L1: store() checks the generation read here.
    const std::uint64_t gen = core_.generation(key);
    switch (t_.mode) {
      case WriteMode::kWriteAround:
        if (t_.source) {
          write_source([&] { t_.source->write(key, value); });
          invalidate(key);
        } else {
          store(key, value, encoded, /*drop_l1_on_l2_failure=*/true);
        }
        return;
      case WriteMode::kWriteThrough:
        write_source([&] { t_.source->write_in_transaction(key, value); });
        store(key, value, encoded, /*drop_l1_on_l2_failure=*/true, gen);
        return;
      case WriteMode::kWriteBehind:
        t_.sink->enqueue_put(key, value);
        CacheCounters::bump(core_.counters().write_behind_enqueued);
        store(key, value, encoded, /*drop_l1_on_l2_failure=*/false);
        return;
    }
  }

  // put() for many entries, per the write mode, in one source call: kWriteAround one
  // write_batch then an invalidation per key; kWriteThrough one transaction, then L2 and L1 per
  // key; kWriteBehind each entry to the sink in order, then L2 and L1. Every value is encoded
  // (and its size checked) before anything is written; the write locks of every key's stripe
  // are held throughout. A key repeated in `entries`: the last entry wins.
  void put_many(std::span<const KeyValue<V>> entries) {
    for (const auto& entry : entries) core_.check_key(entry.first);
    if (entries.empty()) return;
    std::vector<std::optional<Encoded>> encoded(entries.size());
    if (core_.l2() && (t_.mode != WriteMode::kWriteAround || !t_.source)) {
      for (std::size_t i = 0; i < entries.size(); ++i) {
        encoded[i] = encode_for_put(entries[i].first, entries[i].second);
      }
    }
    std::vector<std::string> keys;
    keys.reserve(entries.size());
    for (const auto& entry : entries) keys.push_back(entry.first);
    const auto write_locks = core_.lock_writes_many(keys);
    // The generation of each stripe, read before the source write (see put), and advanced by one
    // for each store() of this call in that stripe (each bumps it once): a key whose stripe is
    // then elsewhere was invalidated meanwhile and is dropped from L1, not filled.
    std::unordered_map<std::size_t, std::uint64_t> expected;
    for (const auto& key : keys) {
      expected.try_emplace(TieredCacheCore::stripe_index(key), core_.generation(key));
    }
    auto write_all = [&](auto&& write) {
      try {
        write();
        core_.counters().source_writes.fetch_add(entries.size(), std::memory_order_relaxed);
      } catch (...) {
        CacheCounters::bump(core_.counters().source_write_errors);
        throw;
      }
    };
    switch (t_.mode) {
      case WriteMode::kWriteAround:
        if (t_.source) {
          write_all([&] { t_.source->write_batch(entries); });
          for (const auto& key : keys) invalidate(key);
        } else {
          for (std::size_t i = 0; i < entries.size(); ++i) {
            store(keys[i], entries[i].second, encoded[i], /*drop_l1_on_l2_failure=*/true);
          }
        }
        return;
      case WriteMode::kWriteThrough:
        write_all([&] { t_.source->write_batch_in_transaction(entries); });
        for (std::size_t i = 0; i < entries.size(); ++i) {
          std::uint64_t& gen = expected[TieredCacheCore::stripe_index(keys[i])];
          store(keys[i], entries[i].second, encoded[i], /*drop_l1_on_l2_failure=*/true, gen++);
        }
        return;
      case WriteMode::kWriteBehind:
        for (std::size_t i = 0; i < entries.size(); ++i) {
          t_.sink->enqueue_put(keys[i], entries[i].second);
          CacheCounters::bump(core_.counters().write_behind_enqueued);
          store(keys[i], entries[i].second, encoded[i], /*drop_l1_on_l2_failure=*/false);
        }
        return;
    }
  }

  void erase(std::string_view key) {
    core_.check_key(key);
    const auto write_lock = core_.lock_writes(key);
    switch (t_.mode) {
      case WriteMode::kWriteAround:
        if (t_.source) write_source([&] { t_.source->erase(key); });
        invalidate(key);
        return;
      case WriteMode::kWriteThrough:
        write_source([&] { t_.source->erase_in_transaction(key); });
        invalidate(key);
        return;
      case WriteMode::kWriteBehind:
        t_.sink->enqueue_erase(key);
        CacheCounters::bump(core_.counters().write_behind_enqueued);
        // The source still holds the row until the flush: cache a tombstone, not a miss.
        core_.write_tombstone(key);
        core_.bump_generation(key, [&] {
          if (l1_ && tracking()) {
            (void)l1_->erase(key);  // see store()
          } else if (l1_) {
            l1_->put(key, L1Value());
          }
        });
        return;
    }
  }

  // Deletes the key from L2 (value and fill token), then from L1. Never updates.
  void invalidate(std::string_view key) {
    core_.check_key(key);
    if (core_.l2()) (void)core_.l2()->remove(key);
    drop_local(key);
  }

  // ---------------------------------------------------------------- coherence hooks
  // L1 coherence (the invalidation bus, Redis tracking): drops `key` from this process's L1 only,
  // and makes any load of it in flight skip its L1 fill (the generation check), so a value read
  // before the invalidation never lands in L1 after it.
  void drop_local(std::string_view key) {
    core_.bump_generation(key, [&] {
      if (l1_) (void)l1_->erase(key);
    });
  }

  // Drops everything from this process's L1 (an invalidation may have been missed: a sequence
  // gap, a lost subscriber connection, FLUSHALL), with the same in-flight guarantee.
  void flush_local() {
    core_.bump_all_generations();
    if (l1_) l1_->clear();
  }

  // ---------------------------------------------------------------- stats
  [[nodiscard]] TieredCacheStats stats() const {
    TieredCacheStats s = core_.counters().snapshot(core_.l2(), l1_.has_value());
    if (l1_) {
      s.l1.cache = l1_->stats();
    }
    if (tracking_) s.tracking = tracking_->stats();
    return s;
  }

  // The get and load latency summaries (strata/metrics/metrics.h).
  [[nodiscard]] CacheLatencies latencies() const { return latencies_.summaries(); }

  [[nodiscard]] RemoteStore* remote() noexcept { return core_.l2(); }
  // kTracking's subscriber side (nullptr in other modes): for tests and tools.
  [[nodiscard]] RedisTracking* redis_tracking() noexcept { return tracking_.get(); }
  [[nodiscard]] LocalCache<L1Value>* local() noexcept { return l1_ ? &*l1_ : nullptr; }

 private:
  struct Below {
    std::optional<V> value;
    bool cache_negative = false;  // "not found" worth a negative marker in L1
    bool loaded = false;          // the loader ran (else L2 answered)
    bool from_l2 = false;         // the answer came from L2 (so, with tracking, it is tracked)
    bool no_fill = false;         // L2 holds a foreign value: fill neither L2 nor L1
    std::optional<std::chrono::nanoseconds> l1_ttl;  // the L1 TTL, cut at the hard expiry
  };

  [[nodiscard]] bool tracking() const noexcept { return tracking_ != nullptr; }

  std::optional<V> owned_load(std::string_view key) {
    return t_.source ? t_.source->load(key) : t_.loader(key);
  }

  // Stores in L1 unless a write or invalidation of the key's stripe happened since `gen`.
  void put_l1_if(std::string_view key, L1Value value, std::uint64_t gen,
                 std::optional<std::chrono::nanoseconds> ttl) {
    core_.if_generation(key, gen, [&] {
      if (ttl) {
        l1_->put(key, std::move(value), *ttl);
      } else {
        l1_->put(key, std::move(value));
      }
    });
  }

  // The L1 fill of a value read below L1 (get's leader, the bulk reads): guarded by the
  // generation read before going below, capped at the hard expiry of a value from L2, a
  // negative marker for negative_ttl. With tracking, only values read from L2 fill L1 (a value
  // from the source is not tracked); a foreign L2 value never does.
  void fill_l1(std::string_view key, const Below& below, std::uint64_t gen) {
    if (!l1_ || below.no_fill || (tracking() && !below.from_l2)) return;
    if (below.value) {
      put_l1_if(key, L1Value(*below.value), gen, below.l1_ttl);
    } else if (below.cache_negative && core_.options().negative_ttl) {
      put_l1_if(key, L1Value(), gen, *core_.options().negative_ttl);
    }
  }

  // An L1 lookup as every read does it: counted, a negative marker counted, a stale hit of the
  // owned loader refreshed once. nullopt: a miss (counted); else the value or a negative marker.
  std::optional<L1Value> probe_l1(std::string_view key, bool owned) {
    CacheCounters& n = core_.counters();
    if (auto hit = l1_->lookup(key)) {
      CacheCounters::bump(n.l1_hits);
      if (!hit->value) CacheCounters::bump(n.negative_hits);
      // Negative markers are not refreshed ahead: they simply expire (negative_ttl).
      if (hit->stale && hit->value && owned && core_.options().refresh_after) {
        CacheCounters::bump(n.stale_served);
        schedule_refresh(key);
      }
      return std::optional<L1Value>(std::move(hit->value));
    }
    CacheCounters::bump(n.l1_misses);
    return std::nullopt;
  }

  // A flight's result (TieredCacheCore::single_flight and claim_flights are type-erased).
  static std::shared_ptr<const void> share(L1Value value) {
    return std::shared_ptr<const void>(std::make_shared<const L1Value>(std::move(value)));
  }

  // A key a bulk read leads the flight of (an index into its distinct keys).
  struct Led {
    std::size_t u;
    std::shared_ptr<Flight> flight;
  };

  // The leader's part of read_many: L1 again, one MGET, one batch load, the fills; ends every
  // flight in `led` (with its value or error, the same as the caller's slot) before returning,
  // whatever fails, and reports errors in the slots only.
  template <typename B>
  void lead_many(const std::vector<std::string>& keys, const std::vector<Led>& led,
                 std::vector<std::uint64_t>& gens, std::vector<BulkSlot>& slots, B& batch,
                 bool owned) {
    std::vector<bool> ended(led.size(), false);
    auto end = [&](std::size_t j) {
      ended[j] = true;
      BulkSlot& slot = slots[led[j].u];
      core_.complete_flight(keys[led[j].u], led[j].flight,
                            slot.error ? nullptr : share(L1Value(slot.value)), slot.error);
    };
    try {
      lead_many_body(keys, led, gens, slots, batch, owned, end);
    } catch (...) {
      for (std::size_t j = 0; j < led.size(); ++j) {
        if (ended[j]) continue;
        slots[led[j].u].value.reset();
        slots[led[j].u].error = std::current_exception();
        end(j);
      }
    }
  }

  template <typename B, typename End>
  void lead_many_body(const std::vector<std::string>& keys, const std::vector<Led>& led,
                      std::vector<std::uint64_t>& gens, std::vector<BulkSlot>& slots, B& batch,
                      bool owned, End& end) {
    CacheCounters& n = core_.counters();
    std::vector<std::size_t> pending;  // indexes into `led` still unanswered
    for (std::size_t j = 0; j < led.size(); ++j) {
      if (l1_) {
        // A flight of this key that ended between the lookup and the claim filled L1 first.
        if (auto again = l1_->peek(keys[led[j].u])) {
          slots[led[j].u].value = std::move(*again);
          end(j);
          continue;
        }
      }
      pending.push_back(j);
    }
    if (pending.empty()) return;

    struct ToLoad {
      std::size_t j;           // into `led`
      std::optional<V> stale;  // past its hard expiry, within the stale-if-error bound
      bool no_fill = false;    // a foreign value L2 keeps
    };
    std::vector<ToLoad> to_load;
    RemoteStore* const l2 = core_.l2();
    if (l2) {
      std::vector<std::string> l2_keys;
      l2_keys.reserve(pending.size());
      for (const std::size_t j : pending) l2_keys.push_back(keys[led[j].u]);
      bool ok = false;
      auto values = l2->mget(l2_keys, ok);
      for (std::size_t p = 0; p < pending.size(); ++p) {
        const std::size_t j = pending[p];
        const std::size_t u = led[j].u;
        if (!ok && tracking()) gens[u] = TieredCacheCore::kNoFill;  // untracked
        ToLoad entry{j, std::nullopt, false};
        if (ok && values[p]) {
          std::string stale_bytes;
          if (auto hit =
                  use_remote(keys[u], *values[p], owned, entry.stale, stale_bytes, entry.no_fill)) {
            fill_l1(keys[u], *hit, gens[u]);
            slots[u].value = std::move(hit->value);
            end(j);
            continue;
          }
        }
        to_load.push_back(std::move(entry));
      }
    } else {
      for (const std::size_t j : pending) to_load.push_back(ToLoad{j, std::nullopt, false});
    }
    if constexpr (std::is_same_v<std::remove_cvref_t<B>, std::nullptr_t>) {
      for (const ToLoad& entry : to_load) end(entry.j);  // a cache-only read: a miss
      return;
    } else {
      if (to_load.empty()) return;
      std::vector<std::optional<std::string>> tokens(to_load.size());
      if (l2 && core_.options().guarded_fills) {
        std::vector<std::string> fill_keys;
        for (const ToLoad& entry : to_load) {
          if (!entry.no_fill) fill_keys.push_back(keys[led[entry.j].u]);
        }
        if (!fill_keys.empty()) {
          auto granted = l2->begin_fill_many(fill_keys, core_.options().fill_lease);
          for (std::size_t t = 0, k = 0; t < to_load.size(); ++t) {
            if (!to_load[t].no_fill) tokens[t] = std::move(granted[k++]);
          }
        }
      }
      std::vector<std::optional<V>> loaded(to_load.size());
      std::vector<bool> from_sink(to_load.size(), false);
      std::vector<std::string> batch_keys;  // the true misses: no pending write-behind write
      for (std::size_t t = 0; t < to_load.size(); ++t) {
        const std::string& key = keys[led[to_load[t].j].u];
        if (t_.sink) {
          if (std::optional<PendingWrite<V>> pending_write = t_.sink->pending(key)) {
            CacheCounters::bump(n.write_behind_pending_reads);
            loaded[t] = std::move(pending_write->value);
            from_sink[t] = true;
            continue;
          }
        }
        batch_keys.push_back(key);
      }
      const auto start = core_.options().clock->now();
      std::exception_ptr failure;
      if (!batch_keys.empty()) {
        const auto load_start = CacheLatencyRecorder::now();
        try {
          std::vector<std::optional<V>> values =
              batch(std::span<const std::string>(batch_keys.data(), batch_keys.size()));
          if (values.size() != batch_keys.size()) {
            throw InternalError("Cache: the batch loader returned " +
                                std::to_string(values.size()) + " values for " +
                                std::to_string(batch_keys.size()) + " keys");
          }
          latencies_.record_load(CacheLatencyRecorder::now() - load_start);
          for (std::size_t t = 0, k = 0; t < to_load.size(); ++t) {
            if (!from_sink[t]) loaded[t] = std::move(values[k++]);
          }
        } catch (...) {
          CacheCounters::bump(n.source_load_errors);
          failure = std::current_exception();
        }
      }
      const auto compute_time = core_.options().clock->now() - start;
      for (std::size_t t = 0; t < to_load.size(); ++t) {
        const std::size_t j = to_load[t].j;
        const std::size_t u = led[j].u;
        BulkSlot& slot = slots[u];
        if (failure && !from_sink[t]) {
          core_.abandon_fill(keys[u], tokens[t]);  // readers waiting on its placeholder go on
          if (to_load[t].stale) {
            CacheCounters::bump(n.stale_if_error_served);
            slot.value = std::move(to_load[t].stale);  // not put in L1: past its hard expiry
          } else {
            slot.error = failure;
          }
          end(j);
          continue;
        }
        if (!from_sink[t]) {
          CacheCounters::bump(n.source_loads);
          if (!loaded[t]) CacheCounters::bump(n.source_not_found);
        }
        if (!to_load[t].no_fill) fill_l2(keys[u], tokens[t], loaded[t], compute_time);
        Below below{loaded[t],   !loaded[t] && !to_load[t].no_fill, true, false, to_load[t].no_fill,
                    std::nullopt};
        fill_l1(keys[u], below, gens[u]);
        slot.value = std::move(loaded[t]);
        end(j);
      }
    }
  }

  // A value as put() stores it in L2, encoded before anything is written so that an oversized
  // value is refused (InvalidArgumentError) with the source, L2 and L1 untouched.
  struct Encoded {
    std::string bytes;
    std::chrono::milliseconds ttl;
  };
  Encoded encode_for_put(std::string_view key, const V& value) {
    const auto ttl = core_.jittered_l2_ttl();
    Encoded e{t_.encode(value, core_.times_for(std::chrono::nanoseconds(0), ttl)), ttl};
    core_.check_value_size(key, e.bytes.size());
    return e;
  }

  // Writes a loaded value (or a negative marker) to L2, through the guard when it is on.
  void fill_l2(std::string_view key, const std::optional<std::string>& token,
               const std::optional<V>& value, std::chrono::nanoseconds compute_time) {
    if (!core_.l2() || (core_.options().guarded_fills && !token)) return;
    if (value && record_on_fill_) {
      try {
        record_on_fill_(core_.l2()->value_key(key), *value);
      } catch (...) {
        core_.abandon_fill(key, token);  // not recorded: not cached in L2 either
        return;
      }
    }
    if (value) {
      const auto ttl = core_.jittered_l2_ttl();
      core_.fill(key, token, t_.encode(*value, core_.times_for(compute_time, ttl)), ttl);
    } else {
      core_.fill_negative(key, token);
    }
  }

  // Interprets bytes read from L2 (the per-key logic of get, get_many and the lease loop): a
  // negative marker, a value (serving it stale past its soft TTL or early under XFetch, with one
  // refresh scheduled), or nothing usable: undecodable (deleted, or foreign and kept:
  // `no_fill`), or past its hard expiry (then `stale` keeps it within the stale-if-error bound,
  // and `stale_bytes` are its bytes, which the lease probe looks past).
  std::optional<Below> use_remote(std::string_view key, const std::string& bytes, bool owned,
                                  std::optional<V>& stale, std::string& stale_bytes,
                                  bool& no_fill) {
    if (bytes == kNegativeMarker) {
      CacheCounters::bump(core_.counters().negative_hits);
      return Below{std::nullopt, true, false, true, false, std::nullopt};
    }
    std::optional<StoredValue<V>> decoded;
    try {
      decoded.emplace(t_.decode(bytes));
    } catch (const CorruptedError&) {
      if (core_.undecodable(key)) {
        no_fill = true;
        stale_bytes = bytes;  // the lease probe looks past it
      }
      return std::nullopt;
    }
    StoredValue<V>& stored = *decoded;
    switch (core_.judge(stored.times, owned)) {
      case RemoteVerdict::kHardExpired:
        stale_bytes = bytes;
        if (core_.within_stale_if_error(stored.times)) stale = std::move(stored.value);
        return std::nullopt;
      case RemoteVerdict::kStale:
        schedule_refresh(key);
        break;
      case RemoteVerdict::kEarly:
        schedule_refresh(key, stored.times->computed_at);
        break;
      case RemoteVerdict::kFresh:
        break;
    }
    Below below{std::move(stored.value), false, false, true, false, std::nullopt};
    below.l1_ttl = core_.l1_ttl_cap(stored.times, l1_ttl_);
    return below;
  }

  // L2, then the loader. Single-flight is the caller's job; the lease (when configured) makes
  // it one load across processes.
  template <typename F>
  Below read_below(std::string_view key, F& loader, bool owned) {
    std::optional<std::string> token;
    std::optional<V> stale;   // past its hard expiry, within the stale-if-error bound
    std::string stale_bytes;  // its bytes (the lease probe looks past them)
    bool no_fill = false;     // L2 holds a foreign value: leave it
    LeaseRelease lease;
    RemoteStore* const l2 = core_.l2();
    if (l2) {
      RemoteRead read = l2->get(key);
      if (read.foreign) {  // another client's data of another type: a miss, left in place
        CacheCounters::bump(core_.counters().l2_foreign);
        no_fill = true;
      }
      if (read.ok && read.bytes) {
        if (auto hit = use_remote(key, *read.bytes, owned, stale, stale_bytes, no_fill)) {
          return std::move(*hit);
        }
      }
      if constexpr (!std::is_same_v<std::remove_cvref_t<F>, std::nullptr_t>) {
        if (read.ok && core_.options().lease && !no_fill) {
          std::optional<Below> found;
          const auto outcome = await_lease(
              *l2, *core_.options().lease, key, stale_bytes, no_fill, lease,
              [&](const std::string& bytes) {
                found = use_remote(key, bytes, owned, stale, stale_bytes, no_fill);
                return found.has_value();
              },
              core_.counters());
          if (outcome == LeaseOutcome::kValue) return std::move(*found);
        }
        if (read.ok && core_.options().guarded_fills && !no_fill) {
          token = l2->begin_fill(key, core_.options().fill_lease);
        }
      }
    }
    if constexpr (std::is_same_v<std::remove_cvref_t<F>, std::nullptr_t>) {
      Below miss;  // a cache-only read: past the hard TTL is a miss
      miss.no_fill = no_fill;
      return miss;
    } else {
      const auto start = core_.options().clock->now();
      std::optional<V> value;
      try {
        value = load_counted(key, loader);
      } catch (...) {
        core_.abandon_fill(key, token);  // readers waiting on its placeholder go on at once
        if (!stale) throw;
        CacheCounters::bump(core_.counters().stale_if_error_served);
        // The stale copy was read from L2, but is not put in L1 (its hard expiry passed).
        Below served{std::move(stale), false, true, true, true, std::nullopt};
        return served;
      }
      if (!no_fill) fill_l2(key, token, value, core_.options().clock->now() - start);
      Below below{std::move(value), false, true, false, no_fill, std::nullopt};
      below.cache_negative = !below.value && !no_fill;
      return below;
    }
  }

  template <typename F>
  std::optional<V> load_counted(std::string_view key, F& loader) {
    CacheCounters& n = core_.counters();
    if (t_.sink) {
      // Write-behind: an acknowledged write the source does not hold yet wins over the source.
      if (std::optional<PendingWrite<V>> pending = t_.sink->pending(key)) {
        CacheCounters::bump(n.write_behind_pending_reads);
        return std::move(pending->value);
      }
    }
    const auto start = CacheLatencyRecorder::now();
    try {
      std::optional<V> value = loader(key);
      latencies_.record_load(CacheLatencyRecorder::now() - start);
      CacheCounters::bump(n.source_loads);
      if (!value) CacheCounters::bump(n.source_not_found);
      return value;
    } catch (...) {
      CacheCounters::bump(n.source_load_errors);
      throw;
    }
  }

  template <typename F>
  void write_source(F&& write) {
    try {
      write();
      CacheCounters::bump(core_.counters().source_writes);
    } catch (...) {
      CacheCounters::bump(core_.counters().source_write_errors);
      throw;
    }
  }

  // L2 then L1, for values the application wrote. When the L2 write fails the key is deleted
  // from L2 (best effort) and, if asked, from L1, so that no one reads a value older than this.
  // `gen`: the key's generation read before the source write (write-through): when an
  // invalidation of its stripe happened since, the key is dropped from L1 instead of stored.
  void store(std::string_view key, const V& value, const std::optional<Encoded>& encoded,
             bool drop_l1_on_l2_failure, std::optional<std::uint64_t> gen = std::nullopt) {
    bool l2_ok = true;
    if (core_.l2() && encoded) l2_ok = core_.write(key, encoded->bytes, encoded->ttl);
    core_.bump_generation_since(key, gen, [&](bool unchanged) {
      if (!l1_) return;
      if (tracking() || !unchanged) {
        // Tracking: the write did not track the key (the next read will). Changed: an
        // invalidation won during the source write.
        (void)l1_->erase(key);
      } else if (l2_ok || !drop_l1_on_l2_failure) {
        // Never longer in L1 than its hard expiry in L2.
        if (encoded && (l1_ttl_ <= std::chrono::nanoseconds::zero() || encoded->ttl < l1_ttl_)) {
          l1_->put(key, L1Value(value), encoded->ttl);
        } else {
          l1_->put(key, L1Value(value));
        }
      } else {
        (void)l1_->erase(key);
      }
    });
  }

  // ---------------------------------------------------------------- refresh
  // Refresh-ahead: at most one reload per key at a time in this process (L1's refresh claim,
  // or TieredCacheCore's without L1), on the executor; the old value is served meanwhile.
  // `seen`: the computed_at of the value that triggered an XFetch refresh (an L2 value computed
  // later means another process refreshed it already); nullopt: a soft-TTL refresh.
  void schedule_refresh(std::string_view key, std::optional<EnvelopeTime> seen = std::nullopt) {
    if (l1_) {
      if (!l1_->begin_refresh(key)) return;
    } else if (!core_.claim_local_refresh(key)) {
      return;
    }
    std::weak_ptr<CacheState> weak = this->weak_from_this();
    if (!core_.schedule([weak, k = std::string(key), seen]() noexcept {
          if (auto self = weak.lock()) self->refresh(k, seen);
        })) {
      release_refresh_claim(key);
    }
  }

  void refresh(const std::string& key, std::optional<EnvelopeTime> seen) noexcept {
    CacheCounters& n = core_.counters();
    RemoteStore* const l2 = core_.l2();
    std::optional<std::string> claimed;
    std::optional<std::string> token;  // the fill guard (kept for the catch: abandoned there)
    try {
      std::uint64_t gen = core_.generation(key);
      std::optional<V> fresh;
      std::optional<std::chrono::nanoseconds> l1_ttl;
      bool reloaded = false;
      bool skip = false;
      if (l2) {
        // Another process may have refreshed L2 already; else take the cross-process lease.
        RemoteRead read = l2->get(key);
        if (read.foreign) skip = true;  // another client's data: leave it
        if (!read.ok && tracking())
          gen = TieredCacheCore::kNoFill;  // untracked: L1 is not refreshed
        if (read.ok && read.bytes && *read.bytes != kNegativeMarker) {
          try {
            StoredValue<V> stored = t_.decode(*read.bytes);
            const bool newer =
                seen ? stored.times && stored.times->computed_at > *seen
                     : !core_.soft_expired(stored.times) && !core_.hard_expired(stored.times);
            if (newer && !core_.hard_expired(stored.times)) {
              l1_ttl = core_.l1_ttl_cap(stored.times, l1_ttl_);
              fresh = std::move(stored.value);
            }
          } catch (const CorruptedError&) {
            if (core_.undecodable(key)) skip = true;  // foreign: leave it
          }
        }
        if (!fresh && !skip && read.ok) {
          claimed = l2->claim_refresh(key, core_.options().fill_lease);
          skip = !claimed.has_value();
          if (claimed && core_.options().guarded_fills) {
            token = l2->begin_fill(key, core_.options().fill_lease);
          }
        }
      }
      if (!fresh && !skip) {
        const auto start = core_.options().clock->now();
        auto loader = [this](std::string_view k) { return owned_load(k); };
        fresh = load_counted(key, loader);
        reloaded = true;
        if (tracking())
          gen = TieredCacheCore::kNoFill;  // from the source: not tracked (see read())
        if (fresh) {
          fill_l2(key, token, fresh, core_.options().clock->now() - start);
        } else if (l2) {
          (void)l2->remove(key);  // the row is gone
        }
      }
      if (l1_) {
        if (fresh) {
          put_l1_if(key, L1Value(std::move(fresh)), gen, l1_ttl);
        } else if (reloaded) {
          core_.if_generation(key, gen, [&] { (void)l1_->erase(key); });
        }
      }
      CacheCounters::bump(n.refreshes);
    } catch (...) {
      CacheCounters::bump(n.refresh_failures);
      try {
        core_.abandon_fill(key, token);
      } catch (...) {
      }
    }
    try {
      if (claimed) l2->release_refresh(key, *claimed);
      release_refresh_claim(key);
    } catch (...) {
    }
  }

  void release_refresh_claim(std::string_view key) {
    if (l1_) {
      l1_->end_refresh(key);
    } else {
      core_.release_local_refresh(key);
    }
  }

  TypedSettings<V> t_;
  std::function<void(const std::string&, const V&)> record_on_fill_;
  std::optional<LocalCache<L1Value>> l1_;
  std::chrono::nanoseconds l1_ttl_;
  TieredCacheCore core_;
  CacheLatencyRecorder latencies_;
  // Last: destroyed first, so its threads (which call drop_local/flush_local) are joined while
  // the rest of the state is still alive.
  std::unique_ptr<RedisTracking> tracking_;
};

}  // namespace strata::internal
