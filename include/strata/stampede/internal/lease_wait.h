// strata/stampede/internal/lease_wait.h: the lease loop on a miss (docs/stampede.md), untyped and
// compiled in src/stampede/lease_wait.cc. Not part of the API.
//
// A reader that misses L2 takes the key's lease (one atomic probe: the value, else the lease if
// free, else neither) or polls for the holder's value with exponential backoff up to the wait
// deadline. Cache<V> gives a callback that judges a value found while waiting (it decodes).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "strata/cache/internal/remote_store.h"
#include "strata/cache/internal/tiered_core.h"
#include "strata/stampede/stampede.h"

namespace strata::internal {

// Releases the lease on a miss when the load is over (or failed); best effort (a lease that
// cannot be released ends by expiry).
class LeaseRelease {
 public:
  LeaseRelease() = default;
  LeaseRelease(const LeaseRelease&) = delete;
  LeaseRelease& operator=(const LeaseRelease&) = delete;
  ~LeaseRelease();
  // Takes the lease `token` of `key` to release at destruction.
  void hold(RemoteStore* l2, std::string_view key, std::string token);

 private:
  RemoteStore* l2_ = nullptr;
  std::string key_;
  std::optional<std::string> token_;
};

enum class LeaseOutcome : std::uint8_t {
  kFallback,  // no lease (the deadline passed, or L2 could not be asked): load without it
  kAcquired,  // this caller holds the lease (in `release`): load, fill, release
  kValue,     // `use` accepted a value found in L2 while waiting
};

// The lease loop. `use(bytes)` judges a value found in L2: true when it answers the read; it may
// set `ignore_bytes` (a value past its hard expiry the reader keeps: the next probe looks past
// it, at once) and `keep_ignored` (those bytes are another client's: the lease must not replace
// them, so the loop ends with kFallback). Counts lease_acquired, lease_waits, lease_wait_hits,
// lease_timeouts.
[[nodiscard]] LeaseOutcome await_lease(RemoteStore& l2, const LeaseOptions& options,
                                       std::string_view key, std::string& ignore_bytes,
                                       const bool& keep_ignored, LeaseRelease& release,
                                       const std::function<bool(const std::string&)>& use,
                                       CacheCounters& counters);

}  // namespace strata::internal
