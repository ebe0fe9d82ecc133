// strata/cache/tiered_stats.h: TieredCacheStats, the snapshot of a Cache<V>'s counters per layer
// (L1, L2, source, refresh, write-behind, stampede protection, tracking). Use it to read what a
// cache did; strata/metrics/metrics.h renders it for Prometheus.
//
//   strata::TieredCacheStats s = cache.stats();  // s.l2.hits, s.stampede.stale_served, ...
#pragma once

#include <cstdint>
#include <string>

#include "strata/cache/circuit_breaker.h"
#include "strata/coherence/tracking_stats.h"
#include "strata/local/cache_stats.h"

namespace strata {

// A snapshot of Cache<V>'s counters, per layer. Counters only grow.
struct TieredCacheStats {
  struct Local {
    bool enabled = false;
    std::uint64_t hits = 0;    // Cache<V> reads answered by L1 (negative markers included)
    std::uint64_t misses = 0;  // reads that went below L1
    CacheStats cache;          // LocalCache's own counters (evictions, size, weight, ...)
  } l1;
  struct Remote {
    bool enabled = false;
    std::uint64_t hits = 0;
    std::uint64_t misses = 0;
    std::uint64_t errors = 0;           // Redis calls that failed (never seen by callers)
    std::uint64_t short_circuited = 0;  // Redis calls skipped because the breaker was open
    std::uint64_t corrupted = 0;        // undecodable values: treated as misses and deleted
    // Another program's data, treated as misses and left in place: in plain JSON mode values of
    // another shape (deleted with CacheBuilder::delete_foreign_values), in any mode a key of
    // another Redis type (a hash, a list...).
    std::uint64_t foreign = 0;
    std::uint64_t fills = 0;             // values stored after a miss
    std::uint64_t fills_skipped = 0;     // fills refused by the guard: an invalidation won
    std::uint64_t writes = 0;            // values stored by put (write-through, write-behind)
    std::uint64_t write_failures = 0;    // put's L2 writes that failed (the key is then dropped)
    std::uint64_t deletes = 0;           // invalidations sent
    std::uint64_t deletes_deferred = 0;  // invalidations that failed, replayed when L2 is back
    std::uint64_t deletes_replayed = 0;  // deferred invalidations sent after recovery
    std::uint64_t deletes_dropped = 0;   // deferred invalidations lost (too many pending)
    BreakerState breaker = BreakerState::kClosed;
    std::uint64_t breaker_opens = 0;
    // The message of the last failed Redis call, with the server's words when it refused
    // ("READONLY You can't write against a read only replica.", "OOM command not allowed ...");
    // empty when none failed.
    std::string last_error;
  } l2;
  struct Source {
    std::uint64_t loads = 0;         // loads that returned (found or not)
    std::uint64_t not_found = 0;     // loads that found nothing
    std::uint64_t load_errors = 0;   // loads that threw (passed to the caller)
    std::uint64_t writes = 0;        // puts and erases applied to the source
    std::uint64_t write_errors = 0;  // source writes that threw (passed to the caller)
  } source;
  std::uint64_t negative_hits = 0;          // "not found" answered from a negative marker
  std::uint64_t refreshes_scheduled = 0;    // refresh-ahead reloads queued
  std::uint64_t refreshes = 0;              // refresh-ahead reloads that completed
  std::uint64_t refresh_failures = 0;       // reloads that failed (the old value stays)
  std::uint64_t write_behind_enqueued = 0;  // puts and erases handed to the sink
  // Source loads answered by the sink instead: a write acknowledged but not yet flushed.
  std::uint64_t write_behind_pending_reads = 0;
  // Stampede protection (docs/stampede.md).
  struct Stampede {
    std::uint64_t lease_acquired = 0;   // misses that took the cross-process lease and loaded
    std::uint64_t lease_waits = 0;      // misses that found the lease held and waited
    std::uint64_t lease_wait_hits = 0;  // waits that ended with the holder's value
    std::uint64_t lease_timeouts = 0;   // waits that reached wait_deadline (then loaded)
    std::uint64_t stale_served = 0;     // reads answered past the soft TTL (refresh scheduled)
    std::uint64_t stale_if_error_served = 0;  // source errors answered with a stale value
    std::uint64_t early_refreshes = 0;        // XFetch decisions to recompute before expiry
    // Misses that joined another thread's load of the key in this process (single-flight)
    // instead of loading: one per key for a bulk read (with or without L1).
    std::uint64_t single_flight_waits = 0;
  } stampede;
  TrackingStats tracking;  // L1Coherence::kTracking (zero otherwise)
};

}  // namespace strata
