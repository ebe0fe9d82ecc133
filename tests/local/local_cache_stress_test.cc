// Readers, writers, loads, erasures, expiry and eviction at once: run under ThreadSanitizer
// (make test-tsan) to prove the locking, and under ASan to prove no entry is used after free.
#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>
#include <vector>

#include "strata/local/local_cache.h"

namespace strata {
namespace {

using namespace std::chrono_literals;

TEST(LocalCacheStress, EverythingAtOnce) {
  auto clock = std::make_shared<ManualClock>();
  std::atomic<std::uint64_t> listened{0};
  auto cache = LocalCacheBuilder<std::string>()
                   .maximum_weight(200'000)
                   .expire_after_write(5s)
                   .expire_after_access(3s)
                   .stale_window(1s)
                   .shards(4)
                   .clock(clock)
                   .removal_listener([&](std::string_view, const std::string&, RemovalCause) {
                     listened.fetch_add(1, std::memory_order_relaxed);
                   })
                   .build();
  constexpr int kThreads = 6;
  constexpr int kOperationsPerThread = 20000;
  std::atomic<int> finished{0};
  // What the threads asked, by kind: each get, get_or_load and lookup counts exactly one hit or
  // one miss in the cache's stats, and each get_or_load miss at most one load or one wait.
  std::atomic<std::uint64_t> gets{0}, get_or_loads{0}, lookups{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(static_cast<std::uint64_t>(t));
      std::uniform_int_distribution<int> keys(0, 4000);
      std::uniform_int_distribution<int> op(0, 99);
      for (int i = 0; i < kOperationsPerThread; ++i) {
        const std::string key = "key:" + std::to_string(keys(rng));
        const int choice = op(rng);
        if (choice < 60) {
          gets.fetch_add(1, std::memory_order_relaxed);
          if (auto v = cache.get(key)) {
            ASSERT_EQ(v->substr(0, key.size()), key);
          }
        } else if (choice < 75) {
          cache.put(key, key + std::string(static_cast<std::size_t>(choice), 'v'));
        } else if (choice < 85) {
          get_or_loads.fetch_add(1, std::memory_order_relaxed);
          const auto v =
              cache.get_or_load(key, [](std::string_view k) { return std::string(k) + "L"; });
          ASSERT_EQ(v.substr(0, key.size()), key);
        } else if (choice < 90) {
          cache.erase(key);
        } else if (choice < 95) {
          lookups.fetch_add(1, std::memory_order_relaxed);
          if (auto hit = cache.lookup(key); hit && hit->stale && cache.begin_refresh(key)) {
            cache.put(key, key + "R");
          }
        } else if (choice < 97) {
          (void)cache.stats();
        } else {
          cache.put(key, key, std::chrono::milliseconds(1 + choice));
        }
      }
      finished.fetch_add(1);
    });
  }
  // The clock moves while everyone works, so entries expire under load.
  for (int i = 0; finished.load() < kThreads; ++i) {
    clock->advance(20ms);
    if (i % 20 == 0) cache.cleanup();
    std::this_thread::yield();
  }
  for (auto& t : threads) t.join();
  cache.cleanup();
  const auto s = cache.stats();
  EXPECT_EQ(s.hits + s.misses, gets.load() + get_or_loads.load() + lookups.load());
  EXPECT_GT(s.hits, 0u);
  EXPECT_GT(s.misses, 0u);
  EXPECT_GT(s.load_successes, 0u);
  EXPECT_EQ(s.load_failures, 0u);
  EXPECT_LE(s.load_successes + s.load_waits, get_or_loads.load());
  EXPECT_LE(s.weight, 200'000u);
  EXPECT_EQ(listened.load(), s.evicted_size + s.evicted_expired + s.removed_explicit + s.replaced);
  clock->advance(10s);
  cache.cleanup();
  EXPECT_EQ(cache.size(), 0u);
}

}  // namespace
}  // namespace strata
