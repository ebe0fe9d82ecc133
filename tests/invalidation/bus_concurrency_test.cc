// The bus under concurrency (label concurrency: run again under ThreadSanitizer): writers on one
// instance, readers on another, caches attached and detached while messages arrive. After the
// writers stop, no reader instance holds a stale value, and no sequence gap was seen (messages
// of one namespace leave in order).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "redis/redis_test_util.h"
#include "strata/cache/cache.h"
#include "strata/codec/json.h"
#include "strata/invalidation/invalidation.h"
#include "support/test_servers.h"

namespace strata::testing {
namespace {

using namespace std::chrono_literals;

class BusConcurrencyTest : public ::testing::TestWithParam<const char*> {};

INSTANTIATE_TEST_SUITE_P(Servers, BusConcurrencyTest,
                         ::testing::Values("STRATA_TEST_REDIS_URL",
                                           "STRATA_TEST_REDIS_CLUSTER_URL"),
                         [](const auto& param_info) {
                           return std::string(param_info.param).find("CLUSTER") != std::string::npos
                                      ? std::string("Cluster")
                                      : std::string("Standalone");
                         });

Cache<std::string> make_cache(const std::string& url, const std::string& prefix,
                              const std::shared_ptr<InvalidationBus>& bus) {
  return CacheBuilder<std::string>()
      .local({.maximum_size = 1000, .ttl = 10min})
      .remote(RedisClient(url), {.ttl = 10min})
      .key_prefix(prefix)
      .coherence(L1Coherence::kBus)
      .invalidation_bus(bus)
      .build();
}

TEST_P(BusConcurrencyTest, NoStaleValueAfterQuiescence) {
  std::string url;
  if (auto found = find_server(GetParam())) {
    url = *found;
  } else if (servers_required()) {
    FAIL() << missing_server_message(GetParam());
  } else {
    GTEST_SKIP() << missing_server_message(GetParam());
  }
  const std::string prefix = unique_prefix();
  InvalidationBusOptions options;
  options.channel = prefix + "bus";
  options.entity_channel = "";
  auto bus_a = std::make_shared<InvalidationBus>(url, options);
  auto bus_b = std::make_shared<InvalidationBus>(url, options);
  ASSERT_TRUE(bus_a->wait_connected(10s));
  ASSERT_TRUE(bus_b->wait_connected(10s));
  auto a = make_cache(url, prefix, bus_a);
  auto b = make_cache(url, prefix, bus_b);

  constexpr int kWriters = 3, kKeysPerWriter = 8, kRounds = 60;
  std::atomic<bool> done{false};
  std::vector<std::thread> threads;
  for (int r = 0; r < 2; ++r) {
    threads.emplace_back([&, r] {
      std::mt19937 rng(static_cast<unsigned>(r));
      while (!done.load()) {
        const std::string key =
            "w" + std::to_string(rng() % kWriters) + "k" + std::to_string(rng() % kKeysPerWriter);
        (void)b.get(key);
      }
    });
  }
  threads.emplace_back([&] {  // caches come and go on the receiving bus
    while (!done.load()) {
      auto c = make_cache(url, prefix, bus_b);
      (void)c.get("w0k0");
    }
  });
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      for (int round = 0; round < kRounds; ++round) {
        for (int k = 0; k < kKeysPerWriter; ++k) {
          a.put("w" + std::to_string(w) + "k" + std::to_string(k), std::to_string(round));
        }
      }
    });
  }
  for (auto& t : writers) t.join();
  const std::string last = std::to_string(kRounds - 1);
  for (int w = 0; w < kWriters; ++w) {
    for (int k = 0; k < kKeysPerWriter; ++k) {
      const std::string key = "w" + std::to_string(w) + "k" + std::to_string(k);
      EXPECT_TRUE(eventually(10s, [&] { return b.get(key) == last; })) << key;
    }
  }
  done = true;
  for (auto& t : threads) t.join();
  const InvalidationBusStats stats = bus_b->stats();
  EXPECT_EQ(stats.sequence_gaps, 0u);
  EXPECT_EQ(bus_a->stats().publish_failures, 0u);
  EXPECT_EQ(bus_a->stats().published,
            static_cast<std::uint64_t>(kWriters * kKeysPerWriter * kRounds));
}

}  // namespace
}  // namespace strata::testing
