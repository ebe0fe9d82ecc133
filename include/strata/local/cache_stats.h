// strata/local/cache_stats.h: the value types a cache reports: removal causes, a stats snapshot,
// and what a lookup finds. Use them with LocalCache<V> (and later Cache<V>).
//
//   strata::CacheStats s = cache.stats();  printf("%.1f%%", 100 * s.hit_ratio());
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace strata {

// Why an entry left the cache (the removal listener's argument).
enum class RemovalCause {
  kExplicit,  // erase() or clear()
  kReplaced,  // put() of a new value for the key
  kExpired,   // its time-to-live passed
  kSize,      // evicted by the policy to stay within the maximum weight
};
[[nodiscard]] std::string_view to_string(RemovalCause cause) noexcept;

enum class PolicyKind {
  kWindowTinyLfu,  // adaptive W-TinyLFU (WindowTinyLfuPolicy): the default
  kLru,            // plain LRU, for comparison
};

// A snapshot of a cache's counters. Counters only grow; rates are derived.
struct CacheStats {
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;
  std::uint64_t load_successes = 0;
  std::uint64_t load_failures = 0;
  // get_or_load() calls that found another thread's load of the key in flight and waited for
  // its result instead of loading (single-flight); they count neither as loads nor as failures.
  std::uint64_t load_waits = 0;
  std::chrono::nanoseconds total_load_time{0};
  std::uint64_t evicted_size = 0;        // RemovalCause::kSize
  std::uint64_t evicted_expired = 0;     // RemovalCause::kExpired
  std::uint64_t removed_explicit = 0;    // RemovalCause::kExplicit
  std::uint64_t replaced = 0;            // RemovalCause::kReplaced
  std::uint64_t rejected_too_heavy = 0;  // put() of an entry heavier than the whole cache
  std::uint64_t entries = 0;             // resident now
  std::uint64_t weight = 0;              // resident now

  [[nodiscard]] std::uint64_t requests() const noexcept { return hits + misses; }
  [[nodiscard]] double hit_ratio() const noexcept {
    return requests() == 0 ? 0.0 : static_cast<double>(hits) / static_cast<double>(requests());
  }
  [[nodiscard]] std::chrono::nanoseconds average_load_time() const noexcept {
    const auto loads = load_successes + load_failures;
    return loads == 0 ? std::chrono::nanoseconds(0)
                      : total_load_time / static_cast<std::int64_t>(loads);
  }
};

// What lookup() finds: the value, whether it is stale (within the builder's stale_window of
// its expiry: serve it, and refresh it once, see begin_refresh()), and its remaining TTL.
template <typename V>
struct CacheLookup {
  V value;
  bool stale = false;
  std::optional<std::chrono::nanoseconds> expires_in;  // nullopt: no expiry
};

}  // namespace strata
