// strata/coherence/tracking_stats.h: TrackingStats, the counters of RedisTracking (L1 coherence
// through Redis client-side caching). Use it to watch invalidations and flushes; it is part of
// TieredCacheStats and of the metrics, without the Redis client behind it.
//
//   std::uint64_t flushes = cache.stats().tracking.flushes;
#pragma once

#include <cstdint>

namespace strata {

// RedisTracking's counters (they only grow, except `nodes_connected`).
struct TrackingStats {
  std::uint64_t messages = 0;                 // invalidation messages received
  std::uint64_t keys_invalidated = 0;         // keys named in them (each dropped from L1)
  std::uint64_t flushes = 0;                  // L1 flushes, every cause below
  std::uint64_t flushes_null = 0;             // a null invalidation: FLUSHALL / FLUSHDB on a node
  std::uint64_t flushes_connection_lost = 0;  // an invalidation connection dropped, or could
                                              // not be (re)opened: invalidations may be lost
  std::uint64_t flushes_connected = 0;        // an invalidation connection came up (new id): the
                                              // data connections were re-pointed at it
  std::uint64_t broken_redirects = 0;         // health checks that found the redirect target gone
  std::uint64_t connections = 0;              // invalidation connections established
  std::uint64_t connection_losses = 0;        // established ones that were lost
  std::uint64_t nodes_connected = 0;          // nodes whose invalidation connection is up now
};

}  // namespace strata
