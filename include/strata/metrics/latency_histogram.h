// strata/metrics/latency_histogram.h: a log-linear histogram of durations, for percentiles.
// Use it to report p50/p99/p99.9 from real distributions (never from averages): record into
// one histogram per thread, then merge. Not thread-safe; merge() combines thread-local ones.
//
//   strata::LatencyHistogram h;  h.record(std::chrono::nanoseconds(1200));
//   auto p99 = h.percentile(99.0);
#pragma once

#include <chrono>
#include <cstdint>
#include <vector>

namespace strata {

// Buckets are exact below 128 ns; above, each power of two is split into 128 sub-buckets, so a
// reported percentile is within 0.8% of the recorded value (HdrHistogram's layout, 3 significant
// bits short of its default). Covers the whole range of a 64-bit nanosecond count.
class LatencyHistogram {
 public:
  LatencyHistogram();

  void record(std::chrono::nanoseconds duration) noexcept;
  void merge(const LatencyHistogram& other) noexcept;
  void clear() noexcept;

  [[nodiscard]] std::uint64_t count() const noexcept { return count_; }
  [[nodiscard]] std::chrono::nanoseconds min() const noexcept;
  [[nodiscard]] std::chrono::nanoseconds max() const noexcept;
  [[nodiscard]] std::chrono::nanoseconds mean() const noexcept;
  // The total of the recorded durations.
  [[nodiscard]] std::chrono::nanoseconds sum() const noexcept {
    return std::chrono::nanoseconds(static_cast<std::int64_t>(sum_));
  }
  // The smallest recorded value v such that `pct` percent of the records are <= v (rounded to
  // its bucket's upper bound). 0 when empty. REQUIRES: 0 <= pct <= 100.
  [[nodiscard]] std::chrono::nanoseconds percentile(double pct) const noexcept;

 private:
  std::vector<std::uint64_t> buckets_;
  std::uint64_t count_ = 0;
  std::uint64_t sum_ = 0;
  std::uint64_t min_ = UINT64_MAX;
  std::uint64_t max_ = 0;
};

}  // namespace strata
