// strata/stampede/stampede.h: the options of Cache<V>'s cross-process stampede protection (a lease
// on a miss, XFetch's probabilistic early recomputation, stale-if-error) and XFetch's decision
// rule. docs/stampede.md states the formulae, the guarantees and when to use which.
//
//   auto cache = strata::CacheBuilder<User>()
//                    .remote(redis, {.ttl = 10min})
//                    .source(source)
//                    .lease({.ttl = 5s, .wait_deadline = 2s})      // one load per miss, all
//                    processes .xfetch({.beta = 1.0})                        // recompute before
//                    the TTL ends .stale_if_error(1min)                         // serve stale when
//                    the source fails .build();
#pragma once

#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>

#include "strata/error.h"

namespace strata {

// The lease on a miss (a lock across processes): the first process to miss a key in L2 sets a
// fill placeholder in the value's own key (strata/cache/key_layout.h) and loads; the others
// (who find the placeholder) poll L2 for the value with
// exponential backoff, up to wait_deadline, then load themselves (the fallback). Only the holder
// releases the lease (compare-and-delete in Lua); a holder that dies releases it by expiry.
struct LeaseOptions {
  // How long a lease lives if its holder never releases it (longer than a source load).
  std::chrono::milliseconds ttl{std::chrono::seconds(5)};
  // How long a waiter waits for the holder's value before loading itself.
  std::chrono::milliseconds wait_deadline{std::chrono::seconds(2)};
  // The first wait between two polls; doubled after each poll up to max_backoff.
  std::chrono::milliseconds initial_backoff{std::chrono::milliseconds(2)};
  std::chrono::milliseconds max_backoff{std::chrono::milliseconds(50)};

  // Throws InvalidArgumentError naming the option.
  void validate() const {
    if (ttl <= std::chrono::milliseconds::zero()) {
      throw InvalidArgumentError("CacheBuilder: lease: ttl must be > 0");
    }
    if (wait_deadline <= std::chrono::milliseconds::zero()) {
      throw InvalidArgumentError("CacheBuilder: lease: wait_deadline must be > 0");
    }
    if (initial_backoff <= std::chrono::milliseconds::zero()) {
      throw InvalidArgumentError("CacheBuilder: lease: initial_backoff must be > 0");
    }
    if (max_backoff < initial_backoff) {
      throw InvalidArgumentError("CacheBuilder: lease: max_backoff must be >= initial_backoff");
    }
  }
};

// XFetch (Vattani, Chierichetti, Lowenstein, "Optimal Probabilistic Cache Stampede Prevention",
// VLDB 2015): a reader of a value that expires at `expiry` and took `delta` to compute triggers
// an early recomputation when  now - delta * beta * ln(u) >= expiry,  u uniform in (0, 1].
// beta > 1 favours earlier recomputation, beta < 1 later.
struct XFetchOptions {
  double beta = 1.0;
  // u: returns a number uniform in (0, 1]. Empty: a per-thread generator seeded from `seed`
  // (0: from std::random_device). Tests inject a fixed seed or a function. Called concurrently.
  std::function<double()> random = nullptr;
  std::uint64_t seed = 0;

  void validate() const {
    if (!(beta > 0.0 && std::isfinite(beta))) {
      throw InvalidArgumentError("CacheBuilder: xfetch: beta must be finite and > 0");
    }
  }
};

// XFetch's decision: true when a reader at `now` should recompute a value expiring at `expiry`
// that took `delta` to compute, given u in (0, 1] (u outside it is clamped). The probability
// over u is exp(-(expiry - now) / (delta * beta)) before expiry, 1 at and after it.
template <typename Duration>
[[nodiscard]] bool xfetch_should_refresh(Duration now, Duration expiry, Duration delta, double beta,
                                         double u) noexcept {
  if (now >= expiry) return true;
  if (delta <= Duration::zero()) return false;
  if (!(u > 0.0)) u = 0x1p-60;  // (0, 1]: never ln(0)
  if (u > 1.0) u = 1.0;
  const double early = -static_cast<double>(delta.count()) * beta * std::log(u);
  return static_cast<double>(now.count()) + early >= static_cast<double>(expiry.count());
}

}  // namespace strata
