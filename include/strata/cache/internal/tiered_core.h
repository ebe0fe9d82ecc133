// strata/cache/internal/tiered_core.h: the untyped engine of Cache<V>, compiled once in
// src/cache/tiered_core.cc. Not part of the API.
//
// Cache<V> is split like WriteBehind<V>: the typed shell (internal/cache_state.h) encodes and
// decodes values and touches the typed L1; everything that does not depend on V is here: key
// checks, stripe generations and write locks (coherence hooks), the counters, TTL jitter and the
// envelope's times, the verdict on a value read from L2 (fresh, stale, early under XFetch, past
// its hard expiry, foreign), the L2 protocol (guarded fills, writes, tombstones), the lease loop
// (strata/stampede/internal/lease_wait.h), refresh claims and the executor hand-off, and the
// single-flight table of every read below L1.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "strata/cache/internal/remote_store.h"
#include "strata/cache/key_layout.h"
#include "strata/cache/tiered_stats.h"
#include "strata/clock.h"
#include "strata/codec/envelope.h"
#include "strata/executor.h"
#include "strata/stampede/stampede.h"

namespace strata::internal {

// The bytes stored in L2 for "not found" (strata/cache/key_layout.h).
using strata::kNegativeMarker;

// What CacheBuilder<V> configures that does not depend on V.
struct CoreOptions {
  std::chrono::milliseconds l2_ttl{0};
  double l2_ttl_jitter = 0;
  std::chrono::milliseconds fill_lease{0};
  bool guarded_fills = true;
  std::optional<std::chrono::milliseconds> negative_ttl;
  std::optional<std::chrono::nanoseconds> refresh_after;
  std::optional<LeaseOptions> lease;    // the lease on a miss (needs l2)
  std::optional<XFetchOptions> xfetch;  // XFetch on L2 reads (needs l2, the envelope, a loader)
  // Stale-if-error: L2 keeps values this long past their hard expiry (the envelope's), to be
  // served when the source fails. Zero: off.
  std::chrono::milliseconds stale_if_error{0};
  // Plain JSON in L2 (no envelope): an undecodable value may be another program's, so it is a
  // miss counted as foreign and left in place, unless delete_foreign.
  bool plain = false;
  bool delete_foreign = false;
  std::size_t max_key_size = 65535;               // bytes; longer keys: InvalidArgumentError
  std::size_t max_value_size = 16 * 1024 * 1024;  // encoded L2 bytes; larger: not stored in L2
  std::shared_ptr<const Clock> clock;
  bool clock_injected = false;  // envelope times from `clock` (else the system clock)
};

// Every counter of a Cache<V> besides L2's (RemoteStore) and L1's own (LocalCache): relaxed
// atomics, bumped on the paths, read by snapshot().
struct CacheCounters {
  std::atomic<std::uint64_t> l1_hits{0}, l1_misses{0}, negative_hits{0}, source_loads{0},
      source_not_found{0}, source_load_errors{0}, source_writes{0}, source_write_errors{0},
      l2_write_failures{0}, l2_foreign{0}, refreshes_scheduled{0}, refreshes{0},
      refresh_failures{0}, write_behind_enqueued{0}, write_behind_pending_reads{0};
  // Stampede protection (docs/stampede.md).
  std::atomic<std::uint64_t> lease_acquired{0}, lease_waits{0}, lease_wait_hits{0},
      lease_timeouts{0}, stale_served{0}, stale_if_error_served{0}, early_refreshes{0},
      single_flight_waits{0};  // without L1 (TieredCacheCore::single_flight)

  static void bump(std::atomic<std::uint64_t>& counter) noexcept {
    counter.fetch_add(1, std::memory_order_relaxed);
  }
  // The counters as TieredCacheStats (l1.cache and tracking are the shell's), with L2's.
  [[nodiscard]] TieredCacheStats snapshot(const RemoteStore* l2, bool l1_enabled) const;
};

// What a value read from L2 is worth to a reader (TieredCacheCore::judge).
enum class RemoteVerdict : std::uint8_t {
  kFresh,        // serve it
  kStale,        // serve it, past its soft TTL: a refresh is due (counted stale_served)
  kEarly,        // serve it, XFetch chose to recompute early: a refresh is due (early_refreshes)
  kHardExpired,  // past its hard expiry: a miss (kept as the stale-if-error copy if in bound)
};

// One flight of the single-flight table (TieredCacheCore::single_flight); defined in the .cc.
struct Flight;

class TieredCacheCore {
 public:
  // `l2` may be null (no remote tier); the executor is held weakly (Cache<V> owns it).
  TieredCacheCore(CoreOptions options, std::unique_ptr<RemoteStore> l2,
                  std::weak_ptr<Executor> executor);
  ~TieredCacheCore();
  TieredCacheCore(const TieredCacheCore&) = delete;
  TieredCacheCore& operator=(const TieredCacheCore&) = delete;

  [[nodiscard]] const CoreOptions& options() const noexcept { return o_; }
  [[nodiscard]] RemoteStore* l2() const noexcept { return l2_.get(); }
  [[nodiscard]] CacheCounters& counters() noexcept { return counters_; }
  [[nodiscard]] const CacheCounters& counters() const noexcept { return counters_; }

  // Throws InvalidArgumentError for an empty key or one over max_key_size.
  void check_key(std::string_view key) const;

  // --- Coherence hooks: stripe generations and write locks. ---
  // A generation no stripe reaches: if_generation never runs with it.
  static constexpr std::uint64_t kNoFill = ~std::uint64_t{0};
  [[nodiscard]] std::uint64_t generation(std::string_view key);
  // Runs `store` under the key's stripe mutex if no write or invalidation of the stripe
  // happened since `gen` (the guard of every L1 fill of Cache<V>).
  template <typename F>
  void if_generation(std::string_view key, std::uint64_t gen, F&& store) {
    Stripe& stripe = stripe_for(key);
    std::lock_guard lock(stripe.mutex);
    if (gen != kNoFill && stripe.generation == gen) store();
  }
  // Bumps the key's stripe and runs `update` (the L1 change) under its mutex. The key's
  // flight in progress, if any, is detached (detach_flight).
  template <typename F>
  void bump_generation(std::string_view key, F&& update) {
    {
      Stripe& stripe = stripe_for(key);
      std::lock_guard lock(stripe.mutex);
      ++stripe.generation;
      update();
    }
    detach_flight(key);
  }
  // bump_generation for a write that read the generation `gen` before writing the source:
  // `update(unchanged)` learns whether the stripe is still at `gen` (nullopt: unchanged).
  template <typename F>
  void bump_generation_since(std::string_view key, std::optional<std::uint64_t> gen, F&& update) {
    Stripe& stripe = stripe_for(key);
    std::lock_guard lock(stripe.mutex);
    const bool unchanged = !gen || stripe.generation == *gen;
    ++stripe.generation;
    update(unchanged);
    detach_flight(key);
  }
  // The stripe of a key (generations and write locks are per stripe).
  [[nodiscard]] static std::size_t stripe_index(std::string_view key);
  // Bumps every stripe (flush_local), then the caller clears L1.
  void bump_all_generations();
  // Serializes this process's writes of one stripe (put/erase).
  [[nodiscard]] std::unique_lock<std::mutex> lock_writes(std::string_view key);
  // put_many: the write locks of every stripe `keys` touch, each once, in stripe order (so two
  // bulk writers never deadlock).
  [[nodiscard]] std::vector<std::unique_lock<std::mutex>> lock_writes_many(
      std::span<const std::string> keys);

  // --- Times and TTLs. ---
  [[nodiscard]] EnvelopeTime wall_now() const;
  // The L2 TTL shortened by the jitter.
  [[nodiscard]] std::chrono::milliseconds jittered_l2_ttl();
  // The envelope times of a value computed now that took `compute_time`, living `ttl`.
  [[nodiscard]] EnvelopeTimes times_for(std::chrono::nanoseconds compute_time,
                                        std::chrono::milliseconds ttl) const;
  [[nodiscard]] bool soft_expired(const std::optional<EnvelopeTimes>& times) const;
  // Past its hard expiry (the envelope's): never served, whatever its Redis TTL.
  [[nodiscard]] bool hard_expired(const std::optional<EnvelopeTimes>& times) const;
  // The TTL of an L1 fill of a value read from L2 when its hard expiry comes before the L1's own
  // TTL (`l1_ttl`, zero: none) would: the time it has left; nullopt: the L1's TTL is shorter.
  [[nodiscard]] std::optional<std::chrono::nanoseconds> l1_ttl_cap(
      const std::optional<EnvelopeTimes>& times, std::chrono::nanoseconds l1_ttl) const;
  // Within the stale-if-error bound past its hard expiry (so kept as the fallback).
  [[nodiscard]] bool within_stale_if_error(const std::optional<EnvelopeTimes>& times) const;

  // --- Reading L2. ---
  // The verdict on a decoded L2 value. `owned`: read with the owned loader (only those refresh).
  [[nodiscard]] RemoteVerdict judge(const std::optional<EnvelopeTimes>& times, bool owned);
  // A value the format could not decode: deleted and counted (corrupted), or, in plain mode, left
  // in place and counted as foreign (unless delete_foreign). Returns whether it was left (then
  // the reader must not fill the key: it is another program's).
  bool undecodable(std::string_view key);

  // --- Writing L2. ---
  // Writes a loaded value to L2 through the guard (a token from begin_fill, when the guard is
  // on); values over max_value_size are not stored.
  void fill(std::string_view key, const std::optional<std::string>& token, std::string_view bytes,
            std::chrono::milliseconds ttl);
  // Writes the negative marker through the guard, if negative caching is on.
  void fill_negative(std::string_view key, const std::optional<std::string>& token);
  // A guarded fill that will not happen (the load failed): its placeholder goes.
  void abandon_fill(std::string_view key, const std::optional<std::string>& token);
  // A value the application wrote (put): false when the L2 write failed (then the key is
  // deleted from L2, best effort, and l2.write_failures counted).
  bool write(std::string_view key, std::string_view bytes, std::chrono::milliseconds ttl);
  // The write-behind tombstone (erase in kWriteBehind): the negative marker for the L2 TTL.
  void write_tombstone(std::string_view key);
  // Throws InvalidArgumentError when put()'s encoded value is over max_value_size.
  void check_value_size(std::string_view key, std::size_t bytes) const;

  // --- Refresh (refresh-ahead, XFetch). ---
  // Claims the in-process refresh of `key` when there is no L1 (L1 has its own claim).
  [[nodiscard]] bool claim_local_refresh(std::string_view key);
  void release_local_refresh(std::string_view key);
  // Hands `task` to the executor and counts it; false (nothing queued) when the executor is gone.
  bool schedule(std::function<void()> task);

  // --- Single flight: one load per key in this process, shared by get, get_or_load and the
  // bulk reads (get_many, get_or_load_many). ---
  // Runs `load` once for concurrent callers of one key: the leader runs it, the others wait and
  // get its result (or its exception). The result is type-erased by the shell.
  [[nodiscard]] std::shared_ptr<const void> single_flight(
      std::string_view key, const std::function<std::shared_ptr<const void>()>& load);
  // A write or invalidation of `key` in this process: the flight in progress (if any) may have
  // read what it replaced. Its callers so far still get its result (its L1 fill is refused by
  // the generation); callers from now on start a flight of their own instead of joining it.
  void detach_flight(std::string_view key);
  // The bulk form: a claim per key, taken under one lock. A leader must end its flight with
  // complete_flight (exactly once, and before it waits on any flight: a bulk caller that waited
  // first could wait on a caller waiting on it); a follower gets the leader's result from
  // await_flight (which rethrows the leader's error). Followers are counted single_flight_waits.
  struct FlightClaim {
    std::shared_ptr<Flight> flight;
    bool leader = false;
  };
  [[nodiscard]] std::vector<FlightClaim> claim_flights(std::span<const std::string> keys);
  void complete_flight(std::string_view key, const std::shared_ptr<Flight>& flight,
                       std::shared_ptr<const void> value, std::exception_ptr error) noexcept;
  [[nodiscard]] static std::shared_ptr<const void> await_flight(
      const std::shared_ptr<Flight>& flight);

 private:
  struct Stripe {
    std::mutex mutex;
    std::uint64_t generation = 0;
  };
  static constexpr std::size_t kStripes = 64;
  Stripe& stripe_for(std::string_view key) { return stripes_[stripe_index(key)]; }
  [[nodiscard]] double xfetch_random();

  struct Impl;  // flights, local refresh claims, the XFetch generator
  CoreOptions o_;
  std::unique_ptr<RemoteStore> l2_;
  std::weak_ptr<Executor> executor_;
  CacheCounters counters_;
  std::array<Stripe, kStripes> stripes_;
  std::array<std::mutex, kStripes> write_locks_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace strata::internal
