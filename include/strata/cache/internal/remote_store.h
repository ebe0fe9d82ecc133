// strata/cache/internal/remote_store.h: the L2 side of Cache<V>, in bytes: key layout, the
// guarded-fill protocol (docs/patterns.md), the circuit breaker and the L2 counters. Not part of
// the API.
//
// Every method swallows strata::Error from Redis: it records the failure on the breaker and
// reports "unavailable" to the caller (Cache<V> then goes to the source). While the breaker is
// open no call reaches Redis.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "strata/cache/circuit_breaker.h"
#include "strata/clock.h"
#include "strata/error.h"
#include "strata/redis/redis_client.h"

namespace strata::internal {

// A value read from L2: the bytes, or a miss; `ok` is false when L2 could not be asked. A fill
// placeholder (strata/cache/key_layout.h) reads as a miss. `foreign`: the key holds another
// client's data of another Redis type (a hash, a list...): a miss that must be left in place.
struct RemoteRead {
  std::optional<std::string> bytes;
  bool ok = false;
  bool foreign = false;
};

// What a lease probe found (RemoteStore::probe_lease): the value, the lease, or neither (another
// process holds the lease). `ok` is false when L2 could not be asked; `keep` is true when the key
// holds data the caller must not replace (load without a lease and do not fill).
struct LeaseProbe {
  bool ok = false;
  bool keep = false;
  std::optional<std::string> bytes;  // the value was there
  std::optional<std::string> token;  // the lease was granted to this caller
};

struct RemoteCounters {
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;
  std::uint64_t errors = 0;            // calls that failed (timeouts, connection errors, replies)
  std::uint64_t short_circuited = 0;   // calls not made because the breaker was open
  std::uint64_t corrupted = 0;         // undecodable values, deleted
  std::uint64_t fills = 0;             // values written after a miss
  std::uint64_t fills_skipped = 0;     // fills refused by the guard (an invalidation won)
  std::uint64_t writes = 0;            // values written by put (write-through, write-behind)
  std::uint64_t deletes = 0;           // invalidations sent
  std::uint64_t deletes_deferred = 0;  // invalidations that failed, kept to replay
  std::uint64_t deletes_replayed = 0;  // deferred invalidations sent after L2 came back
  std::uint64_t deletes_dropped = 0;   // deferred invalidations lost (the set was full)
};

class RemoteStore {
 public:
  RemoteStore(RedisClient client, std::string prefix, BreakerOptions breaker,
              std::shared_ptr<const Clock> clock);

  // The Redis key of a cache key: exactly prefix + key (strata/cache/key_layout.h). Fill
  // tokens and leases live in that key itself (a placeholder), so nothing else has to share
  // its cluster slot.
  [[nodiscard]] std::string value_key(std::string_view key) const;
  // The cache key of a value key (the inverse of value_key); nullopt for a Redis key outside
  // the prefix. For invalidations that name Redis keys.
  [[nodiscard]] std::optional<std::string_view> cache_key_of(std::string_view redis_key) const;
  [[nodiscard]] const std::string& prefix() const noexcept { return prefix_; }
  // The cross-process refresh lease: "strata:refresh:" + value_key(key).
  [[nodiscard]] std::string refresh_key(std::string_view key) const;

  [[nodiscard]] RemoteRead get(std::string_view key);
  // One MGET (split per node in a cluster). `ok` false: every key counts as unavailable.
  [[nodiscard]] std::vector<std::optional<std::string>> mget(std::span<const std::string> keys,
                                                             bool& ok);
  // Takes the fill guard of `key` (one script): on an empty key it sets a fill placeholder for
  // `lease`; a placeholder already there is shared (concurrent misses: the first load to finish
  // fills); a value already there (a refresh, or a fill that just landed) is guarded as it is.
  // The guard is the SHA-1 of what the key holds then: the value read afterwards from the source
  // is filled only while the key still holds exactly that, so a DEL, a write or another fill in
  // between wins. nullopt: L2 unavailable, or the key holds data of another type; fill nothing.
  [[nodiscard]] std::optional<std::string> begin_fill(std::string_view key,
                                                      std::chrono::milliseconds lease);
  // The same for many keys, pipelined; nullopt entries: no token.
  [[nodiscard]] std::vector<std::optional<std::string>> begin_fill_many(
      std::span<const std::string> keys, std::chrono::milliseconds lease);
  // Sets the value only if the key still holds what `token` guards (Lua, atomic). Returns whether
  // the value was stored. Without a token (guard off) it is a plain SET.
  bool fill(std::string_view key, const std::optional<std::string>& token, std::string_view bytes,
            std::chrono::milliseconds ttl);
  // Gives up a fill begin_fill() guarded (the load failed, or its result is not stored): deletes
  // the placeholder `token` names, if the key still holds it, so that readers waiting on it
  // (leases) do not wait for its expiry. A guard taken on a value leaves the value. Best effort.
  void abandon_fill(std::string_view key, const std::string& token);
  // Stores a value written by the application (write-through, write-behind): a plain SET, which
  // also replaces any placeholder, so a fill racing with the write cannot overwrite it. False on
  // failure.
  bool write(std::string_view key, std::string_view bytes, std::chrono::milliseconds ttl);
  // Deletes the value (or a placeholder: pending fills are refused). False on failure; then the key
  // is remembered (up to kMaxDeferredDeletes keys) and deleted as soon as a later call succeeds, so
  // that an invalidation lost while L2 was unreachable still reaches it if it kept its data.
  bool remove(std::string_view key);
  // Deletes an undecodable value (best effort) and counts it.
  void drop_corrupted(std::string_view key);
  // Claims the cross-process refresh lease of `key` (SET token NX PX). nullopt if another
  // process holds it or L2 is unavailable.
  [[nodiscard]] std::optional<std::string> claim_refresh(std::string_view key,
                                                         std::chrono::milliseconds lease);
  // Releases a lease claim_refresh() granted, only if it still holds `token` (best effort).
  void release_refresh(std::string_view key, const std::string& token);
  // One atomic step of the lease on a miss (Lua): the value if L2 holds one other than
  // `ignore_bytes` (bytes the caller already judged; empty: none); else the lease, a fill
  // placeholder set for `ttl`, if no one holds it (the key is empty, or holds `ignore_bytes` and
  // `replace_ignored`: a value past its hard expiry); else neither (a placeholder is there:
  // someone is loading). `keep` when the key holds data the caller must not replace.
  [[nodiscard]] LeaseProbe probe_lease(std::string_view key, std::chrono::milliseconds ttl,
                                       std::string_view ignore_bytes, bool replace_ignored);
  // Releases a lease probe_lease() granted: deletes the placeholder only if it is still the one
  // `token` names (compare-and-delete in Lua; best effort: it ends by expiry otherwise).
  void release_lease(std::string_view key, const std::string& token);

  [[nodiscard]] RemoteCounters counters() const;
  // The message of the last failed Redis call (a refusal keeps the server's words: "READONLY
  // ...", "OOM ..."); empty when none failed.
  [[nodiscard]] std::string last_error() const;
  [[nodiscard]] BreakerState breaker_state() const { return breaker_.state(); }
  [[nodiscard]] std::uint64_t breaker_opens() const { return breaker_.opens(); }
  [[nodiscard]] RedisClient& client() noexcept { return client_; }

 private:
  static constexpr std::size_t kMaxDeferredDeletes = 100'000;

  bool allow();
  void succeeded();
  void defer_delete(std::string_view key);
  bool replay_deferred_deletes();
  void failed(const Error& error);
  [[nodiscard]] std::string new_token();
  [[nodiscard]] std::string new_placeholder();  // kFillPlaceholderPrefix + a new token

  RedisClient client_;
  const std::string prefix_;
  CircuitBreaker breaker_;
  std::atomic<std::uint64_t> token_counter_{0};
  std::mutex deferred_mutex_;
  std::unordered_set<std::string> deferred_;  // user keys whose delete failed
  std::atomic<std::size_t> deferred_count_{0};
  std::atomic<bool> replaying_{false};
  const std::string token_salt_;
  mutable std::mutex last_error_mutex_;
  std::string last_error_;  // last_error_mutex_
  struct Atomics {
    std::atomic<std::uint64_t> hits{0}, misses{0}, errors{0}, short_circuited{0}, corrupted{0},
        fills{0}, fills_skipped{0}, writes{0}, deletes{0}, deletes_deferred{0}, deletes_replayed{0},
        deletes_dropped{0};
  } counters_;
};

}  // namespace strata::internal
