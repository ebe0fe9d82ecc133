// strata/coherence/redis_tracking.h: RedisTracking, Redis server-assisted client-side caching
// (CLIENT TRACKING, RESP2 REDIRECT mode) for an in-process cache: the server tells this process
// which keys changed, and the process drops them from its L1. Cache<V> uses it for
// L1Coherence::kTracking (CacheBuilder::coherence); use it directly for an L1 of your own.
//
//   strata::RedisTracking tracking(redis, {}, {.invalidate = [&](std::string_view k) { l1.erase(k);
//   },
//                                              .flush = [&] { l1.clear(); }});
//   // from now on every read made through `redis` is tracked; a write anywhere invalidates it
//
// docs/coherence.md explains the protocol, the races it handles and when to choose it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "strata/coherence/tracking_stats.h"
#include "strata/error.h"
#include "strata/redis/redis_client.h"

namespace strata {

// How RedisTracking asks the server to track keys.
struct TrackingOptions {
  // false (default): the server remembers which keys each connection read and notifies only
  // those, once (the next read tracks the key again). true: BCAST, the server notifies every
  // change of a key starting with one of `prefixes`, read or not (no memory on the server,
  // more messages).
  bool bcast = false;
  // BCAST only. Cache<V> fills an empty list with its key_prefix (empty prefix: every key).
  std::vector<std::string> prefixes{};
  // How often each invalidation connection is checked: a PING on it (no answer within this
  // plus the command timeout: replaced), and CLIENT TRACKINGINFO on a data connection of the
  // same node (a redirect target the server reports gone: replaced). With RESP2 the server
  // never tells a client that its redirect target died, so this check is what finds it.
  std::chrono::milliseconds health_interval{std::chrono::milliseconds(500)};

  // Throws InvalidArgumentError naming the option.
  void validate() const {
    if (!bcast && !prefixes.empty()) {
      throw InvalidArgumentError("TrackingOptions: prefixes need bcast = true");
    }
    for (const auto& prefix : prefixes) {
      if (prefix.empty()) throw InvalidArgumentError("TrackingOptions: a prefix must not be empty");
    }
    if (health_interval <= std::chrono::milliseconds::zero()) {
      throw InvalidArgumentError("TrackingOptions: health_interval must be > 0");
    }
  }
};

// Turns tracking on for every connection of a RedisClient (each redirected to the invalidation
// connection of its own node: one per master in a cluster, opened on the first command to that
// node, so nodes that join later are followed), and reports invalidations to a listener.
// Losing an invalidation connection, or a null invalidation, calls flush: anything may be stale.
// One RedisTracking per RedisClient (the client's copies included): a second one throws
// InvalidArgumentError. The destructor stops and joins its threads and turns the hook off.
class RedisTracking {
 public:
  struct Listener {
    // A key (the Redis key, as stored) changed or expired. Called on a background thread.
    std::function<void(std::string_view redis_key)> invalidate;
    // Everything may be stale. Called on a background thread.
    std::function<void()> flush;
  };

  RedisTracking(RedisClient client, TrackingOptions options, Listener listener);
  RedisTracking(const RedisTracking&) = delete;
  RedisTracking& operator=(const RedisTracking&) = delete;
  ~RedisTracking();

  // Opens the invalidation connection of every master now (rather than on first use) and
  // waits up to `timeout` for all of them. False when one is not up by then.
  bool connect_all(std::chrono::milliseconds timeout);
  // The invalidation connections that are up: ("host:port", CLIENT ID).
  [[nodiscard]] std::vector<std::pair<std::string, std::int64_t>> subscribers() const;
  [[nodiscard]] TrackingStats stats() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace strata
