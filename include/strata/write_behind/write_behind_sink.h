// strata/write_behind/write_behind_sink.h: the seam through which a Cache<V> in write-behind mode
// hands its writes to a durable writer. strata::WriteBehind<V> (strata/write_behind/write_behind.h)
// implements it.
//
//   auto writer = std::make_shared<strata::WriteBehind<User>>(source, options);
//   auto cache = strata::CacheBuilder<User>().write_behind_sink(writer)...build();
#pragma once

#include <optional>
#include <string_view>

namespace strata {

// A write a sink has acknowledged and the source may not hold yet: the value of a pending put,
// or nullopt for a pending erase.
template <typename V>
struct PendingWrite {
  std::optional<V> value;
};

// Both calls return once the write is acknowledged (durable per the writer's policy: the
// caller is acknowledged as soon as they return) and may throw strata::Error to refuse it (for
// example a full queue): then the cache changes nothing and rethrows. Called on the caller's
// thread; implementations are thread-safe.
template <typename V>
class WriteBehindSink {
 public:
  virtual ~WriteBehindSink() = default;
  // Accepts an upsert of `key` for a later write to the source.
  virtual void enqueue_put(std::string_view key, const V& value) = 0;
  // Accepts a delete of `key` for a later write to the source.
  virtual void enqueue_erase(std::string_view key) = 0;
  // The latest write of `key` not yet in the source, if any. The cache asks before it loads a
  // key from the source, so that a read after an acknowledged write sees it even when the
  // cached copy is gone (evicted, expired) before the flush. The default says "nothing
  // pending": for a sink that cannot tell, reads go to the source as they are.
  [[nodiscard]] virtual std::optional<PendingWrite<V>> pending(std::string_view /*key*/) const {
    return std::nullopt;
  }
};

}  // namespace strata
