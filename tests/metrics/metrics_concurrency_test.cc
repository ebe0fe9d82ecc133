// Many threads reading one Cache while others snapshot and scrape its metrics (run again under
// ThreadSanitizer by make test).
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "strata/cache/cache.h"
#include "strata/codec/json.h"
#include "strata/metrics/metrics.h"

namespace strata {
namespace {

TEST(MetricsConcurrency, GetsWhileSnapshotting) {
  Cache<int> cache = CacheBuilder<int>()
                         .local({.maximum_size = 50})
                         .loader([](std::string_view key) -> std::optional<int> {
                           return static_cast<int>(key.size());
                         })
                         .build();
  MetricsRegistry registry;
  registry.add_cache("c", cache);
  constexpr int kThreads = 4;
  constexpr int kGets = 20'000;
  std::atomic<bool> done{false};
  std::thread scraper([&] {
    while (!done.load()) {
      const std::string text = to_prometheus_text(registry.snapshot());
      ASSERT_FALSE(text.empty());
    }
  });
  std::vector<std::thread> readers;
  for (int t = 0; t < kThreads; ++t) {
    readers.emplace_back([&, t] {
      for (int i = 0; i < kGets; ++i) (void)cache.get("k" + std::to_string((i * 31 + t) % 200));
    });
  }
  for (auto& r : readers) r.join();
  done = true;
  scraper.join();
  const CacheMetrics m = cache.metrics();
  EXPECT_EQ(m.requests(), static_cast<std::uint64_t>(kThreads) * kGets);
  // Every get below L1 was timed: by the layer that answered (the source here, or L1 when it
  // waited on another thread's load of the same key).
  EXPECT_EQ(m.latency.load.count, m.stats.source.loads);
  EXPECT_GE(m.latency.get_source.count, 1u);
  EXPECT_LE(m.latency.get_source.count, m.stats.l1.misses);
}

}  // namespace
}  // namespace strata
