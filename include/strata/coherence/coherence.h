// strata/coherence/coherence.h: how the L1 of a Cache<V> learns about writes and invalidations made
// by other instances (docs/coherence.md). Choose it with CacheBuilder::coherence().
#pragma once

#include <cstdint>

namespace strata {

enum class L1Coherence : std::uint8_t {
  kNone,      // nothing: another instance's write is seen once the L1 entry expires (local ttl)
  kBus,       // strata's invalidation bus: pub/sub messages carrying the sender's instance id
              // and a per-namespace sequence number; a gap or a lost connection flushes L1
  kTracking,  // Redis server-assisted client-side caching: CLIENT TRACKING with RESP2 REDIRECT
              // to a connection subscribed to __redis__:invalidate (one per master)
};

}  // namespace strata
