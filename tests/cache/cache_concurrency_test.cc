// Many threads on one Cache<V>: single-flight (one source load per key however many readers
// miss together) and a mixed read/write/invalidate workload for ThreadSanitizer.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "cache/cache_fixtures.h"
#include "strata/cache/cache.h"
#include "strata/codec/json.h"
#include "support/eventually.h"
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

namespace strata {
namespace {

// Counts every key loaded, whichever path loaded it (the single-key loader, the bulk one).
struct LoadCounter {
  std::mutex mutex;
  std::map<std::string, int> per_key;
  std::atomic<int> batch_calls{0};
  std::optional<User> load(std::string_view key) {
    std::lock_guard lock(mutex);
    ++per_key[std::string(key)];
    return make_user(static_cast<int>(key.size()));
  }
  std::vector<std::optional<User>> load_many(std::span<const std::string> keys) {
    ++batch_calls;
    std::vector<std::optional<User>> out;
    for (const auto& key : keys) out.push_back(load(key));
    return out;
  }
};

// The layer combinations of the bulk tests: L1 only, L2 only (standalone, cluster), both.
std::optional<CacheBuilder<User>> layers(const std::string& name) {
  CacheBuilder<User> builder;
  if (name == "l1" || name == "l1_l2") builder.local({.maximum_size = 10'000, .ttl = 600s});
  if (name != "l1") {
    const char* env =
        name == "l2_cluster" ? "STRATA_TEST_REDIS_CLUSTER_URL" : "STRATA_TEST_REDIS_URL";
    const char* url = std::getenv(env);
    if (url == nullptr || *url == '\0') return std::nullopt;
    builder.remote(RedisClient(url), {.ttl = 600s}).key_prefix(unique_name("test:bulk:") + ":");
  }
  return builder;
}

class BulkSingleFlight : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    auto builder = layers(GetParam());
    if (!builder) GTEST_SKIP() << "no Redis server for " << GetParam() << " (run under make test)";
    builder_ = std::move(*builder);
  }
  CacheBuilder<User> builder_;
};

// A bulk load registers its keys: a get() of one of them while the batch loader runs waits for
// it (observed as a single-flight wait) and gets its value, with no load of its own.
TEST_P(BulkSingleFlight, SingleKeyCallerWaitsOnTheBulkLoad) {
  auto counter = std::make_shared<LoadCounter>();
  auto cache = builder_.loader([counter](std::string_view k) { return counter->load(k); }).build();
  std::atomic<bool> in_batch{false};
  std::atomic<bool> waiter_seen{false};
  const std::vector<std::string> keys{"alpha", "beta"};
  std::thread bulk([&] {
    const auto results = cache.get_or_load_many(keys, [&](std::span<const std::string> misses) {
      in_batch = true;
      waiter_seen =
          testing::eventually([&] { return cache.stats().stampede.single_flight_waits >= 1; });
      return counter->load_many(misses);
    });
    EXPECT_EQ(results[1].value(), make_user(4));
  });
  ASSERT_TRUE(testing::eventually([&] { return in_batch.load(); }));
  EXPECT_EQ(cache.get("beta"), make_user(4));
  bulk.join();
  EXPECT_TRUE(waiter_seen) << "get() did not join the bulk load's flight";
  EXPECT_EQ(counter->per_key["beta"], 1);
  EXPECT_EQ(cache.stats().source.loads, 2u);
}

// And the other way: a bulk call joins a get() in flight for one of its keys, and its batch
// loader is called only with the others.
TEST_P(BulkSingleFlight, BulkCallerWaitsOnTheSingleKeyLoad) {
  auto counter = std::make_shared<LoadCounter>();
  std::atomic<bool> in_load{false};
  std::atomic<bool> waiter_seen{false};
  Cache<User>* self = nullptr;
  auto cache = builder_
                   .loader([&, counter](std::string_view k) {
                     in_load = true;
                     waiter_seen = testing::eventually(
                         [&] { return self->stats().stampede.single_flight_waits >= 1; });
                     return counter->load(k);
                   })
                   .build();
  self = &cache;
  std::thread single([&] { EXPECT_EQ(cache.get("gamma"), make_user(5)); });
  ASSERT_TRUE(testing::eventually([&] { return in_load.load(); }));
  std::vector<std::string> batched;
  const std::vector<std::string> keys{"gamma", "delta"};
  const auto results = cache.get_or_load_many(keys, [&](std::span<const std::string> misses) {
    batched.assign(misses.begin(), misses.end());
    return counter->load_many(misses);
  });
  single.join();
  EXPECT_TRUE(waiter_seen) << "the bulk call did not join get()'s flight";
  EXPECT_EQ(batched, std::vector<std::string>{"delta"});
  EXPECT_EQ(results[0].value(), make_user(5));
  EXPECT_EQ(results[1].value(), make_user(5));
  EXPECT_EQ(counter->per_key["gamma"], 1);
}

// Many threads doing overlapping bulk and single calls on shared keys, by every entry point:
// each distinct key is loaded exactly once, whatever the interleaving, and every caller gets
// the value.
TEST_P(BulkSingleFlight, ExactlyOneLoadPerKeyUnderOverlappingBulkAndSingleCalls) {
  auto counter = std::make_shared<LoadCounter>();
  auto cache = builder_.loader([counter](std::string_view k) { return counter->load(k); }).build();
  constexpr int kThreads = 8;
  constexpr int kKeys = 64;
  std::vector<std::string> names;
  for (int k = 0; k < kKeys; ++k)
    names.push_back("key-" + std::string(static_cast<std::size_t>(k % 7) + 1, 'x') +
                    std::to_string(k));
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 60; ++i) {
        const int base = (i * 5 + t * 3) % kKeys;
        std::vector<std::string> keys;
        for (int j = 0; j < 6; ++j)
          keys.push_back(names[static_cast<std::size_t>((base + j * 11) % kKeys)]);
        auto expect = [&](const std::string& k, const std::optional<User>& v) {
          if (v != make_user(static_cast<int>(k.size()))) ++wrong;
        };
        switch ((i + t) % 4) {
          case 0:
            expect(keys[0], cache.get(keys[0]));
            break;
          case 1:
            expect(keys[0], cache.get_or_load(
                                keys[0], [&](std::string_view k) { return counter->load(k); }));
            break;
          case 2: {
            const auto values = cache.get_many(keys);
            for (std::size_t j = 0; j < keys.size(); ++j) expect(keys[j], values[j]);
            break;
          }
          default: {
            const auto results = cache.get_or_load_many(
                keys,
                [&](std::span<const std::string> misses) { return counter->load_many(misses); });
            for (std::size_t j = 0; j < keys.size(); ++j) expect(keys[j], results[j].value());
          }
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(wrong, 0);
  int total = 0;
  for (const auto& [key, loads] : counter->per_key) {
    EXPECT_EQ(loads, 1) << key;
    total += loads;
  }
  EXPECT_EQ(total, kKeys);
  EXPECT_EQ(cache.stats().source.loads, static_cast<std::uint64_t>(kKeys));
}

INSTANTIATE_TEST_SUITE_P(Layers, BulkSingleFlight,
                         ::testing::Values("l1", "l2", "l2_cluster", "l1_l2"),
                         [](const auto& param_info) { return param_info.param; });

}  // namespace
}  // namespace strata
