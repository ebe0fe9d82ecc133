// Cache<V>::metrics() and MetricsRegistry: per-layer counts and latencies, writers, the
// hit-rate alert driven by a ManualClock, and the Prometheus text format.
#include "strata/metrics/metrics.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/temp_dir.h"
#include "strata/cache/cache.h"
#include "strata/codec/json.h"
#include "strata/source/function_source.h"
#include "strata/write_behind/write_behind.h"

namespace strata {
namespace {

using namespace std::chrono_literals;

// A loader-backed cache over a map: keys "k<n>" exist for n < 1000, others are not found.
Cache<int> make_cache(std::atomic<int>& loads) {
  return CacheBuilder<int>()
      .local({.maximum_size = 100})
      .loader([&loads](std::string_view key) -> std::optional<int> {
        ++loads;
        const int n = std::stoi(std::string(key.substr(1)));
        if (n >= 1000) return std::nullopt;
        return n;
      })
      .build();
}

TEST(CacheMetrics, CountsAndLatenciesFollowTheReads) {
  std::atomic<int> loads{0};
  Cache<int> cache = make_cache(loads);
  for (int i = 0; i < 10; ++i) ASSERT_EQ(cache.get("k" + std::to_string(i)), i);
  for (int round = 0; round < 200; ++round) ASSERT_EQ(cache.get("k1"), 1);
  ASSERT_FALSE(cache.get("k5000").has_value());

  const CacheMetrics m = cache.metrics();
  EXPECT_EQ(m.stats.l1.hits, 200u);
  EXPECT_EQ(m.stats.l1.misses, 11u);
  EXPECT_EQ(m.stats.source.loads, 11u);
  EXPECT_EQ(m.stats.source.not_found, 1u);
  EXPECT_EQ(m.requests(), 211u);
  EXPECT_EQ(m.source_reads(), 11u);
  EXPECT_DOUBLE_EQ(m.hit_ratio(), 200.0 / 211.0);
  // Every get below L1 is timed; L1 hits are sampled one in 64 per thread (211 gets: 3 samples,
  // each of which may fall on a miss or a hit).
  EXPECT_EQ(m.latency.get_source.count, 11u);
  EXPECT_EQ(m.latency.load.count, 11u);
  EXPECT_EQ(m.latency.get_l2.count, 0u);
  EXPECT_LE(m.latency.get_l1.count, 200u / internal::kL1SampleEvery + 1);
  EXPECT_GE(m.latency.get_l1.count, 200u / internal::kL1SampleEvery - 1);
  EXPECT_GT(m.latency.get_source.sum_seconds, 0.0);
  EXPECT_LE(m.latency.get_source.p50, m.latency.get_source.p90);
  EXPECT_LE(m.latency.get_source.p90, m.latency.get_source.p99);
  EXPECT_LE(m.latency.get_source.p99, m.latency.get_source.p999);
  EXPECT_EQ(m.stats.l1.cache.entries, 10u);  // the negative result is not cached by default
}

TEST(CacheMetrics, EvictionsByCause) {
  std::atomic<int> loads{0};
  Cache<int> cache = make_cache(loads);
  for (int i = 0; i < 300; ++i) (void)cache.get("k" + std::to_string(i));
  cache.invalidate("k299");
  const CacheMetrics m = cache.metrics();
  EXPECT_GT(m.stats.l1.cache.evicted_size, 0u);
  EXPECT_LE(m.stats.l1.cache.entries, 100u);
  EXPECT_EQ(
      m.stats.l1.cache.evicted_size + m.stats.l1.cache.removed_explicit + m.stats.l1.cache.entries,
      300u - m.stats.l1.cache.rejected_too_heavy);
}

TEST(MetricsRegistry, SnapshotsCachesAndWritersByNameAndForgetsDestroyedOnes) {
  MetricsRegistry registry;
  std::atomic<int> loads{0};
  auto cache = std::make_unique<Cache<int>>(make_cache(loads));
  registry.add_cache("users", *cache);
  EXPECT_THROW(registry.add_cache("users", *cache), InvalidArgumentError);
  EXPECT_THROW(registry.add_cache("", *cache), InvalidArgumentError);
  (void)cache->get("k1");
  (void)cache->get("k1");

  tools::TempDir dir("strata-metrics-test");
  std::mutex mutex;
  std::map<std::string, int> rows;
  auto source = std::make_shared<FunctionSource<int>>(
      SourceFunctions<int>{.load = [](std::string_view) { return std::optional<int>(); },
                           .write_batch =
                               [&](std::span<const KeyValue<int>> entries) {
                                 std::lock_guard lock(mutex);
                                 for (const auto& [k, v] : entries) rows[k] = v;
                               },
                           .erase_batch = [](std::span<const std::string>) {}});
  auto writer = std::make_shared<WriteBehind<int>>(
      WriteBehindOptions{.directory = dir.path() / "wb"}, source);
  registry.add_write_behind("users-wb", writer);
  writer->put("a", 1);
  writer->put("b", 2);
  writer->flush();

  MetricsSnapshot s = registry.snapshot();
  ASSERT_NE(s.cache("users"), nullptr);
  EXPECT_EQ(s.cache("users")->stats.l1.hits, 1u);
  EXPECT_EQ(s.cache("users")->stats.l1.misses, 1u);
  ASSERT_NE(s.writer("users-wb"), nullptr);
  EXPECT_EQ(s.writer("users-wb")->stats.flushed, 2u);
  EXPECT_EQ(s.writer("users-wb")->queue_depth, 0u);
  EXPECT_EQ(s.writer("users-wb")->dead_letters, 0u);

  cache.reset();
  writer->close();
  writer.reset();
  s = registry.snapshot();
  EXPECT_EQ(s.cache("users"), nullptr);
  EXPECT_EQ(s.writer("users-wb"), nullptr);
  EXPECT_TRUE(registry.remove("users"));
  EXPECT_FALSE(registry.remove("users"));
}

struct CapturedLog {
  std::mutex mutex;
  std::vector<std::string> warnings;
  LogSink sink() {
    return [this](LogLevel level, std::string_view message) {
      std::lock_guard lock(mutex);
      if (level == LogLevel::kWarning) warnings.emplace_back(message);
    };
  }
};

TEST(HitRateAlert, WarnsWhenTheHitRatioStaysUnderTheThresholdOverAWindow) {
  auto clock = std::make_shared<ManualClock>();
  CapturedLog log;
  MetricsRegistry registry(
      {.hit_rate_alert = {.threshold = 0.5, .window = 1min, .min_requests = 50},
       .clock = clock,
       .log = log.sink()});
  std::atomic<int> loads{0};
  Cache<int> cache = make_cache(loads);
  registry.add_cache("users", cache);
  EXPECT_EQ(registry.check_alerts(), 0u);  // starts the first window

  // Window 1: 100 distinct keys, all misses (0% hits).
  for (int i = 0; i < 100; ++i) (void)cache.get("k" + std::to_string(i));
  clock->advance(30s);
  EXPECT_EQ(registry.check_alerts(), 0u) << "the window is not over yet";
  clock->advance(30s);
  EXPECT_EQ(registry.check_alerts(), 1u);
  ASSERT_EQ(log.warnings.size(), 1u);
  EXPECT_NE(log.warnings[0].find("cache \"users\": hit ratio 0.0%"), std::string::npos)
      << log.warnings[0];
  EXPECT_NE(log.warnings[0].find("100 requests"), std::string::npos) << log.warnings[0];

  // Window 2: hot keys only (all hits): no warning.
  for (int i = 0; i < 200; ++i) (void)cache.get("k" + std::to_string(i % 10));
  clock->advance(1min);
  EXPECT_EQ(registry.check_alerts(), 0u);

  // Window 3: too few requests to judge.
  for (int i = 100; i < 120; ++i) (void)cache.get("k" + std::to_string(i));
  clock->advance(1min);
  EXPECT_EQ(registry.check_alerts(), 0u);

  // Window 4: mostly misses again (60 misses, 20 hits: 25%).
  for (int i = 200; i < 260; ++i) (void)cache.get("k" + std::to_string(i));
  for (int i = 0; i < 20; ++i) (void)cache.get("k259");
  clock->advance(1min);
  EXPECT_EQ(registry.check_alerts(), 1u);
  ASSERT_EQ(log.warnings.size(), 2u);
  EXPECT_NE(log.warnings[1].find("hit ratio 25.0%"), std::string::npos) << log.warnings[1];
}

TEST(HitRateAlert, DisabledByDefaultAndValidated) {
  auto clock = std::make_shared<ManualClock>();
  CapturedLog log;
  MetricsRegistry registry({.clock = clock, .log = log.sink()});
  std::atomic<int> loads{0};
  Cache<int> cache = make_cache(loads);
  registry.add_cache("users", cache);
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 200; ++i) (void)cache.get("k" + std::to_string(i + 1000 * round));
    clock->advance(2min);
    EXPECT_EQ(registry.check_alerts(), 0u);
  }
  EXPECT_TRUE(log.warnings.empty());
  EXPECT_THROW(MetricsRegistry({.hit_rate_alert = {.threshold = 1.5}}), InvalidArgumentError);
  EXPECT_THROW(MetricsRegistry({.hit_rate_alert = {.threshold = 0.5, .window = 0s}}),
               InvalidArgumentError);
}

TEST(PrometheusText, NamesLabelsAndEscaping) {
  MetricsSnapshot s;
  CacheMetrics m;
  m.stats.l1.enabled = true;
  m.stats.l1.hits = 7;
  m.stats.l1.misses = 3;
  m.stats.l1.cache.entries = 2;
  m.stats.l1.cache.weight = 2;
  m.stats.l1.cache.evicted_size = 4;
  m.stats.source.loads = 3;
  m.stats.source.not_found = 1;
  m.stats.source.load_errors = 2;
  m.latency.load.count = 3;
  m.latency.load.sum_seconds = 0.25;
  m.latency.load.p99 = 0.125;
  m.stats.l2.corrupted = 11;
  m.stats.l2.foreign = 12;
  m.stats.stampede.single_flight_waits = 13;
  s.caches.emplace_back("a \"quoted\" \\ name\n", m);
  WriterMetrics w;
  w.queue_depth = 5;
  w.oldest_age = 1500ms;
  w.stats.damaged_ranges = 2;
  w.stats.checkpoint_failures = 3;
  s.writers.emplace_back("wb", w);
  const std::string text = to_prometheus_text(s);
  const std::string label = R"(cache="a \"quoted\" \\ name\n")";
  const auto has = [&](const std::string& line) {
    return text.find(line + "\n") != std::string::npos;
  };
  EXPECT_TRUE(has("# TYPE strata_cache_requests_total counter")) << text;
  EXPECT_TRUE(has("strata_cache_requests_total{" + label + R"(,layer="l1",result="hit"} 7)"))
      << text;
  EXPECT_TRUE(has("strata_cache_requests_total{" + label + R"(,layer="l1",result="miss"} 3)"));
  EXPECT_TRUE(has("strata_cache_requests_total{" + label + R"(,layer="source",result="hit"} 2)"));
  EXPECT_TRUE(has("strata_cache_requests_total{" + label + R"(,layer="source",result="miss"} 1)"));
  EXPECT_TRUE(has("strata_cache_requests_total{" + label + R"(,layer="source",result="error"} 2)"));
  EXPECT_EQ(text.find(R"(layer="l2")"), std::string::npos) << "no L2: no L2 series";
  EXPECT_TRUE(has("# TYPE strata_cache_load_latency_seconds summary"));
  EXPECT_TRUE(has("strata_cache_load_latency_seconds{" + label + R"(,quantile="0.99"} 0.125)"));
  EXPECT_TRUE(has("strata_cache_load_latency_seconds_sum{" + label + "} 0.25"));
  EXPECT_TRUE(has("strata_cache_load_latency_seconds_count{" + label + "} 3"));
  EXPECT_TRUE(has("strata_cache_evictions_total{" + label + R"(,cause="size"} 4)"));
  EXPECT_TRUE(has("strata_cache_l1_entries{" + label + "} 2"));
  EXPECT_TRUE(has("strata_cache_l2_corrupted_total{" + label + "} 11"));
  EXPECT_TRUE(has("strata_cache_l2_foreign_total{" + label + "} 12"));
  EXPECT_TRUE(has("strata_cache_single_flight_waits_total{" + label + "} 13"));
  EXPECT_TRUE(has(R"(strata_write_behind_queue_depth{writer="wb"} 5)"));
  EXPECT_TRUE(has(R"(strata_write_behind_oldest_age_seconds{writer="wb"} 1.5)"));
  EXPECT_TRUE(has(R"(strata_write_behind_journal_damaged_ranges{writer="wb"} 2)"));
  EXPECT_TRUE(has(R"(strata_write_behind_checkpoint_failures_total{writer="wb"} 3)"));
  // Every sample line belongs to the family announced by the last TYPE line.
  std::string family;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t end = text.find('\n', pos);
    ASSERT_NE(end, std::string::npos) << "the text ends with a line feed";
    const std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    if (line.rfind("# TYPE ", 0) == 0) {
      family = line.substr(7, line.find(' ', 7) - 7);
    } else if (line.rfind('#', 0) != 0) {
      EXPECT_EQ(line.rfind(family, 0), 0u) << line << " outside its family " << family;
    }
  }
}

}  // namespace
}  // namespace strata
