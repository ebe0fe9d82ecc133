// Many threads on the stampede protections (run again under ThreadSanitizer): single-flight
// hands every waiter the leader's error; the lease gives one load among many threads of many
// caches (each cache is a "process": its own single-flight, its own Redis connections).
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
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
using testing::unique_name;

// Holds every load until `expected` readers have started, so they miss together.
struct Gate {
  std::mutex mutex;
  std::condition_variable cv;
  int started = 0;
  void arrive() {
    {
      std::lock_guard lock(mutex);
      ++started;
    }
    cv.notify_all();
  }
  void wait_for(int expected) {
    std::unique_lock lock(mutex);
    cv.wait(lock, [&] { return started >= expected; });
  }
};

// Single-flight: one load, and every waiter gets the leader's error. The leader is held in the
// loader until the other kThreads - 1 readers are observed waiting on its flight
// (stats().stampede.single_flight_waits), so the overlap is forced, not hoped for: without
// single-flight the loader would run once per reader and the count below would be kThreads.
void expect_every_waiter_gets_the_error(CacheBuilder<int> builder) {
  constexpr int kThreads = 10;
  std::atomic<int> loads{0};
  std::atomic<bool> all_waiting{false};
  Cache<int>* self = nullptr;
  auto cache = builder
                   .loader([&](std::string_view) -> std::optional<int> {
                     ++loads;
                     all_waiting = testing::eventually([&] {
                       return self->stats().stampede.single_flight_waits >= kThreads - 1;
                     });
                     throw UnavailableError("test source: down");
                   })
                   .build();
  self = &cache;
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      try {
        (void)cache.get("hot");
      } catch (const UnavailableError&) {
        ++errors;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_TRUE(all_waiting) << "the other readers never joined the leader's flight";
  EXPECT_EQ(errors, kThreads);  // nobody got a value, nobody got a different error
  EXPECT_EQ(loads, 1);
  EXPECT_EQ(cache.stats().stampede.single_flight_waits, static_cast<std::uint64_t>(kThreads - 1));
  EXPECT_EQ(cache.stats().source.load_errors, 1u);
}

TEST(StampedeSingleFlight, EveryWaiterGetsTheErrorWithL1) {
  expect_every_waiter_gets_the_error(CacheBuilder<int>().local({.maximum_size = 10}));
}

TEST(StampedeSingleFlight, EveryWaiterGetsTheErrorWithL2Only) {
  STRATA_SERVER_URL(url, "STRATA_TEST_REDIS_URL");
  expect_every_waiter_gets_the_error(CacheBuilder<int>()
                                         .remote(RedisClient(url), {.ttl = 60s})
                                         .key_prefix(unique_name("t:sfe:") + ":"));
}

// The lease: several caches ("processes") x several threads miss one key together; one load.
void expect_one_load_with_lease(const std::string& url, bool with_l1) {
  constexpr int kCaches = 4;
  constexpr int kThreads = 6;
  const std::string prefix = unique_name("t:lease:") + ":";
  Gate gate;
  std::atomic<int> loads{0};
  std::vector<Cache<int>> caches;
  for (int c = 0; c < kCaches; ++c) {
    CacheBuilder<int> b;
    if (with_l1) b.local({.maximum_size = 10, .ttl = 60s});
    caches.push_back(b.remote(RedisClient(url), {.ttl = 60s})
                         .key_prefix(prefix)
                         .loader([&](std::string_view) -> std::optional<int> {
                           ++loads;
                           gate.wait_for(kCaches * kThreads);
                           return 42;
                         })
                         .lease({.ttl = 30s, .wait_deadline = 30s, .max_backoff = 5ms})
                         .build());
  }
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < kCaches; ++c) {
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, c] {
        gate.arrive();
        if (caches[c].get("hot") != 42) ++wrong;
      });
    }
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(wrong, 0);
  EXPECT_EQ(loads, 1);
  std::uint64_t acquired = 0, timeouts = 0;
  for (const auto& cache : caches) {
    acquired += cache.stats().stampede.lease_acquired;
    timeouts += cache.stats().stampede.lease_timeouts;
  }
  EXPECT_EQ(acquired, 1u);
  EXPECT_EQ(timeouts, 0u);
}

class StampedeLease : public ::testing::TestWithParam<std::string> {};

TEST_P(StampedeLease, OneLoadAmongManyThreadsOfManyCaches) {
  STRATA_SERVER_URL(url, GetParam().c_str());
  expect_one_load_with_lease(url, false);
}

TEST_P(StampedeLease, OneLoadAmongManyThreadsOfManyCachesWithL1) {
  STRATA_SERVER_URL(url, GetParam().c_str());
  expect_one_load_with_lease(url, true);
}

// XFetch and stale-while-revalidate under threads: readers of several caches keep being served
// while background refreshes (a real thread pool) recompute through the refresh lease; every
// read returns a version the source produced, and the refreshes did run.
TEST_P(StampedeLease, XFetchAndSwrRefreshWhileManyThreadsRead) {
  STRATA_SERVER_URL(url, GetParam().c_str());
  const std::string prefix = unique_name("t:xf:") + ":";
  std::atomic<int> version{0};
  std::vector<std::shared_ptr<ThreadPoolExecutor>> executors;
  std::vector<Cache<int>> caches;
  for (int c = 0; c < 3; ++c) {
    executors.push_back(std::make_shared<ThreadPoolExecutor>(2));
    CacheBuilder<int> b;
    if (c == 2) b.local({.maximum_size = 10, .ttl = 60s});
    caches.push_back(b.remote(RedisClient(url), {.ttl = 60s})
                         .key_prefix(prefix)
                         .loader([&](std::string_view) -> std::optional<int> {
                           std::this_thread::sleep_for(1ms);
                           return ++version;
                         })
                         .lease({})
                         .xfetch({.beta = 1.0, .random = [] { return 1e-30; }})  // always early
                         .refresh_after(1ms)
                         .executor(executors.back())
                         .build());
  }
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < 3; ++c) {
    for (int t = 0; t < 3; ++t) {
      threads.emplace_back([&, c] {
        for (int i = 0; i < 200; ++i) {
          const auto v = caches[c].get("hot");
          if (!v || *v < 1 || *v > version.load()) ++wrong;
        }
      });
    }
  }
  for (auto& thread : threads) thread.join();
  for (auto& executor : executors) executor->shutdown();
  EXPECT_EQ(wrong, 0);
  std::uint64_t refreshes = 0, early = 0;
  for (const auto& cache : caches) {
    refreshes += cache.stats().refreshes;
    early += cache.stats().stampede.early_refreshes + cache.stats().stampede.stale_served;
    EXPECT_EQ(cache.stats().refresh_failures, 0u);
  }
  EXPECT_GT(early, 0u);
  EXPECT_GT(refreshes, 0u);
}

INSTANTIATE_TEST_SUITE_P(
    Redis, StampedeLease,
    ::testing::Values("STRATA_TEST_REDIS_URL", "STRATA_TEST_REDIS_CLUSTER_URL"),
    [](const ::testing::TestParamInfo<std::string>& param_info) {
      return std::string(param_info.param == "STRATA_TEST_REDIS_URL" ? "Standalone" : "Cluster");
    });

}  // namespace
}  // namespace strata
