// strata/cache/write_mode.h: WriteMode, how Cache<V>::put and erase reach the source of record
// (write-around, write-through, write-behind). Use it with CacheBuilder<V>::write_mode.
//
//   auto cache = strata::CacheBuilder<User>().write_mode(strata::WriteMode::kWriteThrough)...;
#pragma once

#include <cstdint>

namespace strata {

// How Cache<V>::put and erase reach the source of record (docs/patterns.md).
enum class WriteMode : std::uint8_t {
  kWriteAround,   // cache-aside: write the source, then invalidate (never update the cache)
  kWriteThrough,  // source write in a transaction, then L2, then L1
  kWriteBehind,   // hand the write to a WriteBehindSink, update L2 and L1, return
};

}  // namespace strata
