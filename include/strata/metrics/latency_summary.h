// strata/metrics/latency_summary.h: LatencySummary (count, sum and p50/p90/p99/p99.9 of a latency
// histogram, in seconds) and the per-layer latencies a Cache<V> reports. Part of the metrics
// (strata/metrics/metrics.h); split out so the cache engine can include it alone.
//
//   strata::LatencySummary s = strata::LatencySummary::of(histogram);  // s.p99 in seconds
#pragma once

#include <cstdint>
#include <string_view>

#include "strata/metrics/latency_histogram.h"

namespace strata {

// Percentiles of one latency histogram, in seconds (Prometheus' unit).
struct LatencySummary {
  std::uint64_t count = 0;  // observations recorded
  double sum_seconds = 0;   // their total
  double p50 = 0, p90 = 0, p99 = 0, p999 = 0;

  [[nodiscard]] static LatencySummary of(const LatencyHistogram& histogram);
};

// Which layer of a Cache<V> answered a get.
enum class CacheLayer : std::uint8_t { kL1, kL2, kSource };
[[nodiscard]] std::string_view to_string(CacheLayer layer) noexcept;

// The latencies a Cache<V> records (internal/cache_metrics.h says how).
struct CacheLatencies {
  // get() / get_or_load() latency by the layer that answered it. L1 hits are sampled (one get
  // in 64 per thread is timed), so `get_l1.count` counts samples, not hits.
  LatencySummary get_l1, get_l2, get_source;
  LatencySummary load;  // the source (or loader) call alone, refresh-ahead reloads included
};

}  // namespace strata
