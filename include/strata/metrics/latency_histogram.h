// strata/metrics/latency_histogram.h: a log-linear histogram of durations, for percentiles.
// Use it to report p50/p99/p99.9 from real distributions (never from averages): record into
// one histogram per thread, then merge. Not thread-safe; merge() combines thread-local ones.
//
//   strata::LatencyHistogram h;  h.record(std::chrono::nanoseconds(1200));
//   auto p99 = h.percentile(99.0);
#pragma once

#include <chrono>
#include <cstdint>
#include <utility>
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

  // The histogram as plain numbers, to cross a process boundary (as JSON, say) and be merged
  // there into an equal histogram: the non-empty buckets (index, count), in index order, and the
  // totals (durations in nanoseconds).
  struct Data {
    std::vector<std::pair<std::uint32_t, std::uint64_t>> buckets;
    std::uint64_t count = 0;
    std::uint64_t sum = 0;
    std::uint64_t min = UINT64_MAX;
    std::uint64_t max = 0;
  };
  [[nodiscard]] Data data() const;
  // Adds what data() of another histogram returned. Throws InvalidArgumentError (and adds
  // nothing) for a bucket index out of range or bucket counts that do not add up to `count`.
  void merge(const Data& data);

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
