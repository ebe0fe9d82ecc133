// The lease loop on a miss (strata/stampede/internal/lease_wait.h, docs/stampede.md).
#include "strata/stampede/internal/lease_wait.h"

#include <algorithm>
#include <chrono>
#include <thread>
#include <utility>

namespace strata::internal {

LeaseRelease::~LeaseRelease() {
  if (!token_ || l2_ == nullptr) return;
  try {
    l2_->release_lease(key_, *token_);
  } catch (...) {  // best effort: the lease then ends by expiry
  }
}

void LeaseRelease::hold(RemoteStore* l2, std::string_view key, std::string token) {
  l2_ = l2;
  key_ = std::string(key);
  token_ = std::move(token);
}

LeaseOutcome await_lease(RemoteStore& l2, const LeaseOptions& o, std::string_view key,
                         std::string& ignore_bytes, const bool& keep_ignored, LeaseRelease& release,
                         const std::function<bool(const std::string&)>& use,
                         CacheCounters& counters) {
  const auto deadline = std::chrono::steady_clock::now() + o.wait_deadline;
  auto backoff = o.initial_backoff;
  bool waited = false;
  for (;;) {
    if (keep_ignored) return LeaseOutcome::kFallback;  // another client's value: no lease over it
    LeaseProbe probe = l2.probe_lease(key, o.ttl, ignore_bytes, true);
    if (!probe.ok || probe.keep) return LeaseOutcome::kFallback;
    if (probe.token) {
      CacheCounters::bump(counters.lease_acquired);
      release.hold(&l2, key, std::move(*probe.token));
      return LeaseOutcome::kAcquired;
    }
    if (probe.bytes) {
      const std::string before = ignore_bytes;
      if (use(*probe.bytes)) {
        if (waited) CacheCounters::bump(counters.lease_wait_hits);
        return LeaseOutcome::kValue;
      }
      // Past its hard expiry (newly learned: probe again at once, looking past it) or
      // undecodable: probe again, after the backoff when this repeats.
      if (ignore_bytes != before) continue;
    }
    if (!waited) {
      CacheCounters::bump(counters.lease_waits);
      waited = true;
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      CacheCounters::bump(counters.lease_timeouts);
      return LeaseOutcome::kFallback;
    }
    std::this_thread::sleep_for(
        std::min<std::chrono::steady_clock::duration>(backoff, deadline - now));
    backoff = std::min(backoff * 2, o.max_backoff);
  }
}

}  // namespace strata::internal
