// Many threads on one Cache<V>: single-flight (one source load per key however many readers
// miss together) and a mixed read/write/invalidate workload for ThreadSanitizer.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cache/cache_fixtures.h"
#include "strata/cache/cache.h"
#include "strata/codec/json.h"
#include "support/test_servers.h"

namespace strata {
namespace {

using namespace std::chrono_literals;
using testing::ControlledStore;
using testing::make_user;
using testing::unique_name;
using testing::User;

// Readers announce themselves, then read; the load is held until every reader has started, so
// those that are already waiting share it and the later ones find the value cached.
void expect_one_load_per_key(CacheBuilder<User> builder) {
  auto store = std::make_shared<ControlledStore>();
  constexpr int kThreads = 12;
  constexpr int kKeys = 3;
  for (int k = 0; k < kKeys; ++k) store->set("k" + std::to_string(k), make_user(k));
  std::mutex mutex;
  std::condition_variable cv;
  int started = 0;
  store->after_read = [&](std::string_view) {
    std::unique_lock lock(mutex);
    cv.wait(lock, [&] { return started == kThreads; });
  };
  auto cache = builder.source(testing::controlled_source(store)).build();
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      {
        std::lock_guard lock(mutex);
        ++started;
      }
      cv.notify_all();
      const int k = t % kKeys;
      if (cache.get("k" + std::to_string(k)) != make_user(k)) ++wrong;
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(wrong, 0);
  EXPECT_EQ(store->loads, kKeys);
  EXPECT_EQ(cache.stats().source.loads, static_cast<std::uint64_t>(kKeys));
}

TEST(CacheSingleFlight, OneLoadPerKeyWithL1) {
  expect_one_load_per_key(CacheBuilder<User>().local({.maximum_size = 100}));
}

TEST(CacheSingleFlight, OneLoadPerKeyWithL2Only) {
  STRATA_SERVER_URL(url, "STRATA_TEST_REDIS_URL");
  expect_one_load_per_key(CacheBuilder<User>()
                              .remote(RedisClient(url), {.ttl = 60s})
                              .key_prefix(unique_name("test:sf:") + ":"));
}

TEST(CacheConcurrency, MixedWorkloadOnBothLayers) {
  STRATA_SERVER_URL(url, "STRATA_TEST_REDIS_URL");
  auto store = std::make_shared<ControlledStore>();
  for (int k = 0; k < 20; ++k) store->set("k" + std::to_string(k), make_user(k));
  auto executor = std::make_shared<ThreadPoolExecutor>(2);
  auto cache = CacheBuilder<User>()
                   .local({.maximum_size = 100, .ttl = 60s})
                   .remote(RedisClient(url), {.ttl = 60s})
                   .source(testing::controlled_source(store))
                   .write_mode(WriteMode::kWriteThrough)
                   .negative_ttl(1s)
                   .refresh_after(1ms)
                   .executor(executor)
                   .key_prefix(unique_name("test:mixed:") + ":")
                   .build();
  std::atomic<std::uint64_t> lookups{0};  // keys asked of L1 by get and get_many
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 300; ++i) {
        const std::string k = "k" + std::to_string((i * 7 + t) % 25);
        switch ((i + t) % 6) {
          case 0:
            cache.put(k, make_user(i));
            break;
          case 1:
            cache.invalidate(k);
            break;
          case 2: {
            const std::vector<std::string> keys{k, "k1", "k2"};
            (void)cache.get_many(keys);
            lookups += keys.size();
            break;
          }
          default:
            (void)cache.get(k);
            ++lookups;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  executor->shutdown();  // no refresh runs past this point
  const auto s = cache.stats();
  // Every lookup was counted exactly once, as an L1 hit or an L1 miss, whatever the races.
  EXPECT_EQ(s.l1.hits + s.l1.misses, lookups.load());
  EXPECT_GT(s.l1.hits, 0u);
  EXPECT_EQ(s.source.load_errors, 0u);
  // Whatever the interleaving, every layer ends up agreeing with the source: no write,
  // invalidation, fill or refresh left an older value behind.
  for (int k = 0; k < 25; ++k) {
    const std::string key = "k" + std::to_string(k);
    std::optional<User> row;
    {
      std::lock_guard lock(store->mutex);
      const auto it = store->rows.find(key);
      if (it != store->rows.end()) row = it->second;
    }
    EXPECT_EQ(cache.get(key), row) << key;
  }
}

}  // namespace
}  // namespace strata
