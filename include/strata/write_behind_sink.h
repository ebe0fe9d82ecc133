// strata/write_behind_sink.h: the seam through which a Cache<V> in write-behind mode hands its
// writes to a durable writer. strata::WriteBehind<V> (strata/write_behind.h) implements it.
//
//   auto writer = std::make_shared<strata::WriteBehind<User>>(source, options);
//   auto cache = strata::CacheBuilder<User>().write_behind_sink(writer)...build();
#pragma once

#include <string_view>

namespace strata {

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
};

}  // namespace strata
