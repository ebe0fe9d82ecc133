#include "strata/metrics/latency_histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

#include "strata/error.h"

namespace strata {
namespace {

using std::chrono::nanoseconds;

TEST(LatencyHistogram, EmptyReportsZero) {
  LatencyHistogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.percentile(99), nanoseconds(0));
  EXPECT_EQ(h.mean(), nanoseconds(0));
}

TEST(LatencyHistogram, SmallValuesAreExact) {
  LatencyHistogram h;
  for (int v = 1; v <= 100; ++v) h.record(nanoseconds(v));
  EXPECT_EQ(h.percentile(50), nanoseconds(50));
  EXPECT_EQ(h.percentile(99), nanoseconds(99));
  EXPECT_EQ(h.percentile(100), nanoseconds(100));
  EXPECT_EQ(h.min(), nanoseconds(1));
  EXPECT_EQ(h.mean(), nanoseconds(50));
}

// Percentiles agree with the exact order statistic within the bucket precision (< 1%).
TEST(LatencyHistogram, PercentilesMatchSortedSamplesWithinOnePercent) {
  std::mt19937_64 rng(7);
  std::lognormal_distribution<double> dist(10.0, 1.5);  // a long tail, ~22us median
  std::vector<std::int64_t> samples;
  LatencyHistogram h;
  for (int i = 0; i < 100000; ++i) {
    const auto v = static_cast<std::int64_t>(dist(rng));
    samples.push_back(v);
    h.record(nanoseconds(v));
  }
  std::sort(samples.begin(), samples.end());
  for (double pct : {50.0, 90.0, 99.0, 99.9}) {
    const auto rank = static_cast<std::size_t>(std::ceil(pct / 100 * samples.size())) - 1;
    const double exact = static_cast<double>(samples[rank]);
    const double got = static_cast<double>(h.percentile(pct).count());
    EXPECT_NEAR(got, exact, exact * 0.01 + 1) << "p" << pct;
  }
  EXPECT_EQ(h.max(), nanoseconds(samples.back()));
}

TEST(LatencyHistogram, MergeEqualsRecordingEverythingInOne) {
  LatencyHistogram a, b, all;
  for (int i = 0; i < 1000; ++i) {
    const nanoseconds v(i * 997 % 100000);
    (i % 2 ? a : b).record(v);
    all.record(v);
  }
  a.merge(b);
  EXPECT_EQ(a.count(), all.count());
  for (double pct : {1.0, 50.0, 99.0}) EXPECT_EQ(a.percentile(pct), all.percentile(pct));
  a.clear();
  EXPECT_EQ(a.count(), 0u);
}

TEST(LatencyHistogram, HugeValuesDoNotOverflow) {
  LatencyHistogram h;
  h.record(nanoseconds(INT64_MAX));
  h.record(nanoseconds(-5));  // clamped to 0
  EXPECT_EQ(h.percentile(100), nanoseconds(INT64_MAX));
  EXPECT_EQ(h.percentile(50), nanoseconds(0));
}

// data() and merge(Data) carry a histogram across a process boundary: the copy reports the same
// count, sum, extremes and percentiles; inconsistent data is refused and adds nothing.
TEST(LatencyHistogram, DataRoundTripsIntoAnEqualHistogram) {
  LatencyHistogram h;
  for (const std::int64_t v :
       {std::int64_t{3}, std::int64_t{200}, std::int64_t{5'000}, std::int64_t{5'001},
        std::int64_t{1'000'000}, std::int64_t{77'000'000'000}}) {
    h.record(std::chrono::nanoseconds(v));
  }
  const LatencyHistogram::Data d = h.data();
  EXPECT_LE(d.buckets.size(), 6u);
  LatencyHistogram copy;
  copy.merge(d);
  EXPECT_EQ(copy.count(), h.count());
  EXPECT_EQ(copy.sum(), h.sum());
  EXPECT_EQ(copy.min(), h.min());
  EXPECT_EQ(copy.max(), h.max());
  for (const double pct : {0.0, 10.0, 50.0, 90.0, 99.0, 100.0}) {
    EXPECT_EQ(copy.percentile(pct), h.percentile(pct)) << pct;
  }
  LatencyHistogram::Data bad = d;
  bad.buckets.push_back({1u << 30, 1});
  bad.count += 1;
  EXPECT_THROW(copy.merge(bad), InvalidArgumentError);
  LatencyHistogram::Data short_count = d;
  short_count.count += 1;
  EXPECT_THROW(copy.merge(short_count), InvalidArgumentError);
  EXPECT_EQ(copy.count(), h.count()) << "a refused merge adds nothing";
}

}  // namespace
}  // namespace strata
