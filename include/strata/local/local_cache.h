// strata/local/local_cache.h: LocalCache<V>, strata's in-process (L1) cache: concurrent, bounded by
// bytes or entries, with per-entry TTL, single-flight loading, stats and a removal listener.
// Use it alone (Caffeine's job) or as the L1 of strata's Cache<V>.
//
//   auto cache = strata::LocalCacheBuilder<std::string>()
//                    .maximum_weight(64 << 20).expire_after_write(5min).build();
//   cache.put("user:1", "alice");
//   std::string v = cache.get_or_load("user:2", [](std::string_view k) { return db.load(k); });
//
// Thread safety: every method may be called from any thread. A hit takes no exclusive lock:
// it reads under its shard's shared lock and records the access in a striped, lossy buffer
// that is replayed to the eviction policy in batches (Caffeine's read buffers).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "strata/clock.h"
#include "strata/error.h"
#include "strata/local/cache_stats.h"
#include "strata/local/eviction_policy.h"
#include "strata/local/internal/local_cache_core.h"

namespace strata {

template <typename V>
class LocalCache;

// The default weight of an entry: key bytes plus value bytes (size() of strings and of
// contiguous containers of trivially copyable elements, sizeof otherwise).
template <typename V>
[[nodiscard]] std::uint64_t default_weight(std::string_view key, const V& value) {
  if constexpr (std::is_convertible_v<const V&, std::string_view>) {
    return key.size() + std::string_view(value).size();
  } else if constexpr (requires {
                         value.size();
                         value.data();
                       }) {
    return key.size() + value.size() * sizeof(*value.data());
  } else {
    return key.size() + sizeof(V);
  }
}

// Configuration for a LocalCache<V>. Each setter validates its argument at once and throws
// InvalidArgumentError naming the option; build() assembles the cache and does nothing else.
template <typename V>
class LocalCacheBuilder {
 public:
  using Weigher = std::function<std::uint64_t(std::string_view key, const V& value)>;
  using RemovalListener =
      std::function<void(std::string_view key, const V& value, RemovalCause cause)>;

  // Bound the cache by the sum of entry weights (bytes with the default weigher).
  LocalCacheBuilder& maximum_weight(std::uint64_t weight) {
    if (weight == 0) throw InvalidArgumentError("LocalCacheBuilder: maximum_weight must be > 0");
    if (options_.counting_entries && options_.maximum > 0) {
      throw InvalidArgumentError("LocalCacheBuilder: maximum_weight conflicts with maximum_size");
    }
    options_.maximum = weight;
    options_.counting_entries = false;
    return *this;
  }
  // Bound the cache by its number of entries (every entry weighs 1).
  LocalCacheBuilder& maximum_size(std::uint64_t entries) {
    if (entries == 0) throw InvalidArgumentError("LocalCacheBuilder: maximum_size must be > 0");
    if (!options_.counting_entries && options_.maximum > 0) {
      throw InvalidArgumentError("LocalCacheBuilder: maximum_size conflicts with maximum_weight");
    }
    if (weigher_)
      throw InvalidArgumentError("LocalCacheBuilder: maximum_size conflicts with weigher");
    options_.maximum = entries;
    options_.counting_entries = true;
    return *this;
  }
  // Weigh entries with a function of your own (for maximum_weight). Weights are clamped to
  // 2^32 - 1.
  LocalCacheBuilder& weigher(Weigher weigher) {
    if (!weigher) throw InvalidArgumentError("LocalCacheBuilder: weigher must not be empty");
    if (options_.counting_entries) {
      throw InvalidArgumentError("LocalCacheBuilder: weigher conflicts with maximum_size");
    }
    weigher_ = std::move(weigher);
    return *this;
  }
  // Every entry expires this long after it was written (put, or loaded).
  LocalCacheBuilder& expire_after_write(std::chrono::nanoseconds ttl) {
    if (ttl <= std::chrono::nanoseconds::zero()) {
      throw InvalidArgumentError("LocalCacheBuilder: expire_after_write must be > 0");
    }
    options_.expire_after_write = ttl;
    return *this;
  }
  // Every entry expires this long after it was last read or written.
  LocalCacheBuilder& expire_after_access(std::chrono::nanoseconds ttl) {
    if (ttl <= std::chrono::nanoseconds::zero()) {
      throw InvalidArgumentError("LocalCacheBuilder: expire_after_access must be > 0");
    }
    options_.expire_after_access = ttl;
    return *this;
  }
  // Shortens each entry's TTL by a random share in [0, fraction), so that keys written
  // together do not expire together. REQUIRES: 0 <= fraction < 1.
  LocalCacheBuilder& ttl_jitter(double fraction) {
    if (!(fraction >= 0.0 && fraction < 1.0)) {
      throw InvalidArgumentError("LocalCacheBuilder: ttl_jitter must be within [0, 1)");
    }
    options_.ttl_jitter = fraction;
    return *this;
  }
  // The soft-TTL hook: an entry within `window` of its expiry is returned by lookup() with
  // stale = true (serve it while one caller refreshes it: begin_refresh()).
  LocalCacheBuilder& stale_window(std::chrono::nanoseconds window) {
    if (window <= std::chrono::nanoseconds::zero()) {
      throw InvalidArgumentError("LocalCacheBuilder: stale_window must be > 0");
    }
    options_.stale_window = window;
    return *this;
  }
  LocalCacheBuilder& policy(PolicyKind kind) {
    options_.policy = kind;
    return *this;
  }
  // Independent shards (each with its own lock, map and policy). A power of two from 1 to
  // 1024; by default one shard per 4096 entries of capacity (at least 1, at most 64), since a
  // policy needs enough entries per shard to rank them well.
  LocalCacheBuilder& shards(std::size_t count) {
    if (count == 0 || count > 1024 || (count & (count - 1)) != 0) {
      throw InvalidArgumentError("LocalCacheBuilder: shards must be a power of two from 1 to 1024");
    }
    options_.shards = count;
    return *this;
  }
  // Keys longer than this are rejected with InvalidArgumentError. At most 65535 (the default).
  LocalCacheBuilder& max_key_size(std::size_t bytes) {
    if (bytes == 0 || bytes > internal::kMaxKeySize) {
      throw InvalidArgumentError("LocalCacheBuilder: max_key_size must be within [1, 65535]");
    }
    options_.max_key_size = bytes;
    return *this;
  }
  // Called after an entry leaves the cache, outside any lock, on the thread that caused it.
  // It must not throw (an exception from it is caught and dropped).
  LocalCacheBuilder& removal_listener(RemovalListener listener) {
    listener_ = std::move(listener);
    return *this;
  }
  LocalCacheBuilder& clock(std::shared_ptr<const Clock> clock) {
    if (!clock) throw InvalidArgumentError("LocalCacheBuilder: clock must not be null");
    clock_ = std::move(clock);
    return *this;
  }

  // REQUIRES: maximum_weight or maximum_size was set.
  [[nodiscard]] LocalCache<V> build() const;

 private:
  internal::CacheOptions options_;
  Weigher weigher_;
  RemovalListener listener_;
  std::shared_ptr<const Clock> clock_;
};

// A concurrent in-process cache of V keyed by strings (binary-safe). Build it with
// LocalCacheBuilder<V>. Movable, not copyable. Values are returned by copy: for large values
// use V = std::shared_ptr<const T>.
template <typename V>
class LocalCache {
 public:
  // The cached value, or nullopt on a miss (an expired entry is a miss).
  [[nodiscard]] std::optional<V> get(std::string_view key) { return core_->get(key); }

  // Like get(), with staleness and the remaining TTL (the soft-TTL hook).
  [[nodiscard]] std::optional<CacheLookup<V>> lookup(std::string_view key) {
    return core_->lookup(key);
  }

  // The cached value without recording the read (no hit or miss counted, no access for the
  // eviction policy, no idle-TTL touch): for a caller that already counted its lookup.
  [[nodiscard]] std::optional<V> peek(std::string_view key) { return core_->peek(key); }

  // Stores a value with the builder's TTL (if any), or with `ttl` for this entry.
  void put(std::string_view key, V value) { core_->put(key, std::move(value), std::nullopt); }
  void put(std::string_view key, V value, std::chrono::nanoseconds ttl) {
    if (ttl <= std::chrono::nanoseconds::zero()) {
      throw InvalidArgumentError("LocalCache::put: ttl must be > 0");
    }
    core_->put(key, std::move(value), ttl);
  }

  // The cached value, or loader(key)'s. The loader runs at most once per key at a time:
  // concurrent callers for the same key wait for that one load and share its result. A loader
  // that throws passes its exception to every waiter and caches nothing. A loader may return
  // V, or std::optional<V> (nullopt: "not found", returned and not cached).
  template <typename Loader>
  auto get_or_load(std::string_view key, Loader&& loader) {
    using Result = std::invoke_result_t<Loader&, std::string_view>;
    if constexpr (std::is_same_v<std::remove_cvref_t<Result>, std::optional<V>>) {
      return core_->get_or_load(key,
                                [&](std::string_view k) -> std::optional<V> { return loader(k); });
    } else {
      static_assert(std::is_convertible_v<Result, V>, "the loader must return V or optional<V>");
      auto value = core_->get_or_load(
          key, [&](std::string_view k) -> std::optional<V> { return std::optional<V>(loader(k)); });
      return std::move(*value);
    }
  }

  // Claims the refresh of a stale entry: true for exactly one caller until the key is written
  // again (put or load) or end_refresh() is called; false if absent or already claimed.
  [[nodiscard]] bool begin_refresh(std::string_view key) { return core_->begin_refresh(key); }
  void end_refresh(std::string_view key) { core_->end_refresh(key); }

  // Removes the key (a no-op when absent). Returns whether it was present. A load of the key
  // in flight when erase() runs returns its value to its callers but does not cache it, and a
  // get_or_load() after the erase does not join it: it loads afresh (the load in flight may
  // have read the value the erase was about).
  bool erase(std::string_view key) { return core_->erase(key); }
  void clear() { core_->clear(); }

  // Replays buffered reads to the policy and removes expired entries now (this also happens
  // as a side effect of writes and of every few dozen reads).
  void cleanup() { core_->cleanup(); }

  [[nodiscard]] std::uint64_t size() const { return core_->stats().entries; }
  [[nodiscard]] std::uint64_t weight() const { return core_->stats().weight; }
  [[nodiscard]] CacheStats stats() const { return core_->stats(); }

 private:
  friend class LocalCacheBuilder<V>;
  explicit LocalCache(std::unique_ptr<internal::CacheCore<V>> core) : core_(std::move(core)) {}
  std::unique_ptr<internal::CacheCore<V>> core_;
};

template <typename V>
LocalCache<V> LocalCacheBuilder<V>::build() const {
  if (options_.maximum == 0) {
    throw InvalidArgumentError("LocalCacheBuilder: set maximum_weight or maximum_size");
  }
  internal::CacheOptions options = options_;
  if (options.shards == 0) {
    options.shards = internal::default_shard_count(
        options.counting_entries ? options.maximum : options.maximum / 256);  // ~256 B/entry
  }
  typename internal::CacheCore<V>::Weigher weigher;
  if (options.counting_entries) {
    weigher = [](std::string_view, const V&) -> std::uint64_t { return 1; };
  } else if (weigher_) {
    weigher = weigher_;
  } else {
    weigher = [](std::string_view key, const V& value) { return default_weight(key, value); };
  }
  auto clock = clock_ ? clock_ : std::shared_ptr<const Clock>(std::make_shared<SteadyClock>());
  const bool timed =
      options.expire_after_write.has_value() || options.expire_after_access.has_value();
  auto make = [&]<typename Policy, bool kTimed>() -> std::unique_ptr<internal::CacheCore<V>> {
    return std::make_unique<internal::ShardedCache<V, Policy, kTimed>>(options, std::move(weigher),
                                                                       listener_, std::move(clock));
  };
  if (options.policy == PolicyKind::kLru) {
    return LocalCache<V>(timed ? make.template operator()<LruPolicy, true>()
                               : make.template operator()<LruPolicy, false>());
  }
  return LocalCache<V>(timed ? make.template operator()<WindowTinyLfuPolicy, true>()
                             : make.template operator()<WindowTinyLfuPolicy, false>());
}

}  // namespace strata
