// The compiled part of LocalCache's engine (include/strata/local/internal/local_cache_core.h):
// what needs a heavy standard header and is off the hot path, kept out of the public headers.
#include "strata/local/internal/local_cache_core.h"

#include <random>

namespace strata::internal {

double ttl_jitter_factor(double jitter) {
  thread_local std::minstd_rand rng(static_cast<unsigned>(thread_stripe() * 7919 + 1));
  return 1.0 - jitter * std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

}  // namespace strata::internal
