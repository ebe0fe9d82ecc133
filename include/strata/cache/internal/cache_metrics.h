// strata/cache/internal/cache_metrics.h: how Cache<V> records its latencies cheaply. Not part of
// the API.
//
// The costs. An L1 hit takes about 100 ns; a steady_clock read about 20 ns and an uncontended
// mutex about 20 ns more, so timing every hit would add a third. So:
//  - L1 hits are sampled: each thread times one get in kL1SampleEvery (a thread-local counter,
//    a add and a branch on the hot path; no clock read, no lock, no shared write otherwise).
//    The L1 summary's percentiles are those of the sample; its count is the number of samples.
//  - Gets that go below L1 (to Redis or the source: microseconds to milliseconds) are all timed,
//    from the L1 miss (or from the start of the get when it was sampled).
//  - Histograms are striped: kStripes LatencyHistograms, each behind its own mutex; a thread
//    always writes the stripe it was assigned (round robin at its first record), so threads
//    rarely share a lock. A stripe's histogram (~58 KB) is allocated at its first record.
//    A snapshot merges the stripes.
// Counters (hits, misses, loads, errors) stay the relaxed atomics of CacheState.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <new>

#include "strata/metrics/latency_histogram.h"
#include "strata/metrics/latency_summary.h"

namespace strata::internal {

// A LatencyHistogram many threads record into.
class LatencyRecorder {
 public:
  void record(std::chrono::nanoseconds duration) noexcept {
    Stripe& stripe = stripes_[thread_stripe()];
    std::lock_guard lock(stripe.mutex);
    if (!stripe.histogram) {
      stripe.histogram.reset(new (std::nothrow) LatencyHistogram());
      if (!stripe.histogram) return;  // out of memory: drop the sample, never fail the get
    }
    stripe.histogram->record(duration);
  }

  // The stripes merged.
  [[nodiscard]] LatencyHistogram merged() const {
    LatencyHistogram out;
    for (const Stripe& stripe : stripes_) {
      std::lock_guard lock(stripe.mutex);
      if (stripe.histogram) out.merge(*stripe.histogram);
    }
    return out;
  }

 private:
  static constexpr std::size_t kStripes = 8;
  struct Stripe {
    mutable std::mutex mutex;
    std::unique_ptr<LatencyHistogram> histogram;
  };
  static std::size_t thread_stripe() noexcept {
    static std::atomic<std::size_t> next{0};
    thread_local const std::size_t mine = next.fetch_add(1, std::memory_order_relaxed) % kStripes;
    return mine;
  }
  std::array<Stripe, kStripes> stripes_;
};

inline constexpr std::uint32_t kL1SampleEvery = 64;

// The four latency histograms of one Cache<V>.
class CacheLatencyRecorder {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  // True for one call in kL1SampleEvery on this thread: time this get from its start.
  [[nodiscard]] static bool sample() noexcept {
    thread_local std::uint32_t tick = 0;
    return (++tick % kL1SampleEvery) == 0;
  }
  [[nodiscard]] static TimePoint now() noexcept { return std::chrono::steady_clock::now(); }

  void record_get(CacheLayer layer, TimePoint start) noexcept {
    const auto elapsed = now() - start;
    switch (layer) {
      case CacheLayer::kL1:
        get_l1_.record(elapsed);
        return;
      case CacheLayer::kL2:
        get_l2_.record(elapsed);
        return;
      case CacheLayer::kSource:
        get_source_.record(elapsed);
        return;
    }
  }
  void record_load(std::chrono::nanoseconds elapsed) noexcept { load_.record(elapsed); }

  [[nodiscard]] CacheLatencies summaries() const {
    return {LatencySummary::of(get_l1_.merged()), LatencySummary::of(get_l2_.merged()),
            LatencySummary::of(get_source_.merged()), LatencySummary::of(load_.merged())};
  }

 private:
  LatencyRecorder get_l1_, get_l2_, get_source_, load_;
};

}  // namespace strata::internal
