#include "strata/metrics/latency_histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <string>

#include "strata/error.h"

namespace strata {
namespace {

constexpr int kSubBits = 7;
constexpr std::uint64_t kSubCount = 1u << kSubBits;  // sub-buckets per power of two
constexpr std::size_t kBucketCount = (64 - kSubBits + 1) * kSubCount;

// Values below kSubCount map to themselves; a value with its top bit at position e >= kSubBits
// maps to group (e - kSubBits + 1) and the kSubBits bits below its top bit.
std::size_t bucket_of(std::uint64_t v) noexcept {
  if (v < kSubCount) return static_cast<std::size_t>(v);
  const int top = 63 - std::countl_zero(v);
  const int shift = top - kSubBits;
  const std::uint64_t sub = (v >> shift) & (kSubCount - 1);
  return static_cast<std::size_t>((static_cast<std::uint64_t>(shift + 1) << kSubBits) + sub);
}

// The largest value that falls in a bucket.
std::uint64_t upper_bound_of(std::size_t bucket) noexcept {
  if (bucket < kSubCount) return bucket;
  const int shift = static_cast<int>(bucket >> kSubBits) - 1;
  const std::uint64_t sub = bucket & (kSubCount - 1);
  const std::uint64_t low = (kSubCount | sub) << shift;
  return low + ((std::uint64_t{1} << shift) - 1);
}

}  // namespace

LatencyHistogram::LatencyHistogram() : buckets_(kBucketCount, 0) {}

void LatencyHistogram::record(std::chrono::nanoseconds duration) noexcept {
  const auto v = static_cast<std::uint64_t>(std::max<std::int64_t>(0, duration.count()));
  ++buckets_[bucket_of(v)];
  ++count_;
  sum_ += v;
  min_ = std::min(min_, v);
  max_ = std::max(max_, v);
}

void LatencyHistogram::merge(const LatencyHistogram& other) noexcept {
  for (std::size_t i = 0; i < kBucketCount; ++i) buckets_[i] += other.buckets_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

LatencyHistogram::Data LatencyHistogram::data() const {
  Data out;
  for (std::size_t i = 0; i < kBucketCount; ++i) {
    if (buckets_[i] != 0) out.buckets.emplace_back(static_cast<std::uint32_t>(i), buckets_[i]);
  }
  out.count = count_;
  out.sum = sum_;
  out.min = min_;
  out.max = max_;
  return out;
}

void LatencyHistogram::merge(const Data& data) {
  std::uint64_t total = 0;
  for (const auto& [index, n] : data.buckets) {
    if (index >= kBucketCount) {
      throw InvalidArgumentError("LatencyHistogram::merge: bucket " + std::to_string(index) +
                                 " is out of range");
    }
    total += n;
  }
  if (total != data.count) {
    throw InvalidArgumentError("LatencyHistogram::merge: the buckets hold " +
                               std::to_string(total) + " records, the count says " +
                               std::to_string(data.count));
  }
  for (const auto& [index, n] : data.buckets) buckets_[index] += n;
  count_ += data.count;
  sum_ += data.sum;
  min_ = std::min(min_, data.min);
  max_ = std::max(max_, data.max);
}

void LatencyHistogram::clear() noexcept {
  std::fill(buckets_.begin(), buckets_.end(), 0);
  count_ = sum_ = max_ = 0;
  min_ = UINT64_MAX;
}

std::chrono::nanoseconds LatencyHistogram::min() const noexcept {
  return std::chrono::nanoseconds(count_ == 0 ? 0 : static_cast<std::int64_t>(min_));
}

std::chrono::nanoseconds LatencyHistogram::max() const noexcept {
  return std::chrono::nanoseconds(static_cast<std::int64_t>(max_));
}

std::chrono::nanoseconds LatencyHistogram::mean() const noexcept {
  return std::chrono::nanoseconds(count_ == 0 ? 0 : static_cast<std::int64_t>(sum_ / count_));
}

std::chrono::nanoseconds LatencyHistogram::percentile(double pct) const noexcept {
  if (count_ == 0) return std::chrono::nanoseconds(0);
  const double clamped = std::clamp(pct, 0.0, 100.0);
  const auto rank = std::max<std::uint64_t>(
      1, static_cast<std::uint64_t>(std::ceil(clamped / 100.0 * static_cast<double>(count_))));
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < kBucketCount; ++i) {
    seen += buckets_[i];
    if (seen >= rank) {
      const auto v = std::clamp(upper_bound_of(i), min_, max_);
      return std::chrono::nanoseconds(static_cast<std::int64_t>(v));
    }
  }
  return max();
}

}  // namespace strata
