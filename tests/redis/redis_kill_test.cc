// Fault: the L2 Redis server of a Cache<User> (L1 + L2 + source, write-through) is killed with
// SIGKILL in the middle of a read/write load, then started again on the same port. The server
// persists (appendonly, fsync always), so it comes back WITH the values written before the kill:
// the L2 path has something to lose or serve stale. Proves: no read fails (every read is served,
// from the source while Redis is gone), every acknowledged write is found afterwards (in the
// source and through the cache), L2 holds the last acknowledged value or nothing for every key
// (never an older one, though writes during the outage could not reach it) as a second, fresh
// cache reading through L2 only sees, the breaker opens during the outage and closes once Redis
// is back, and caching resumes (L2 hits again).
// A private redis-server (tests/support/redis_process.h): the shared servers are not touched.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <map>
#include <random>
#include <thread>
#include <vector>

#include "cache/cache_fixtures.h"
#include "redis/redis_test_util.h"
#include "strata/cache/cache.h"
#include "strata/codec/json.h"
#include "support/redis_process.h"

namespace strata {
namespace {

using namespace std::chrono_literals;
using testing::ControlledStore;
using testing::eventually;
using testing::make_user;
using testing::User;

constexpr int kThreads = 4;
constexpr int kKeysPerThread = 50;

std::string key_of(int thread, int i) {
  return "t" + std::to_string(thread) + ":" + std::to_string(i);
}

TEST(FaultRedisKilled, CacheKeepsServingNoAcknowledgedWriteIsLostAndCachingResumes) {
  testing::RedisProcess server({"--appendonly yes", "--appendfsync always"});
  auto store = std::make_shared<ControlledStore>();
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kKeysPerThread; ++i) store->set(key_of(t, i), make_user(0));
  }
  // A small L1 (20 entries for 200 keys), so that most reads go below it to L2.
  auto cache =
      CacheBuilder<User>()
          .local({.maximum_size = 20, .ttl = 60s})
          .remote(RedisClient(server.url() + "?connect_timeout=200ms&command_timeout=200ms"),
                  {.ttl = 60s})
          .source(testing::controlled_source(store))
          .write_mode(WriteMode::kWriteThrough)
          .circuit_breaker({.failure_threshold = 3, .cool_down = 200ms})
          .build();

  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> reads{0}, read_failures{0}, writes{0}, write_failures{0};
  // Each thread owns its keys (the only writer of them) and remembers the last value whose
  // put() returned: the acknowledged writes.
  std::vector<std::map<std::string, User>> acknowledged(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(t) + 1);
      int version = 1;
      while (!stop.load()) {
        const int owner = static_cast<int>(rng() % kThreads);
        const std::string key = key_of(owner, static_cast<int>(rng() % kKeysPerThread));
        if (rng() % 10 == 0) {  // 10% writes, to the thread's own keys
          const std::string own = key_of(t, static_cast<int>(rng() % kKeysPerThread));
          const User value = make_user(version++);
          try {
            cache.put(own, value);
            acknowledged[static_cast<std::size_t>(t)][own] = value;
            ++writes;
          } catch (const Error&) {
            ++write_failures;  // not acknowledged: the caller knows
          }
        } else {
          try {
            if (!cache.get(key)) ++read_failures;  // every key exists in the source
          } catch (const Error&) {
            ++read_failures;
          }
          ++reads;
        }
      }
    });
  }
  auto wait_reads = [&](std::uint64_t more) {
    const auto target = reads.load() + more;
    return eventually(60s, [&] { return reads.load() >= target; });
  };

  ASSERT_TRUE(wait_reads(2000));
  const auto before = cache.stats();
  EXPECT_GT(before.l2.hits, 0u);
  EXPECT_EQ(before.l2.breaker, BreakerState::kClosed);

  server.kill();
  const bool opened = eventually(30s, [&] { return cache.stats().l2.breaker_opens > 0; });
  ASSERT_TRUE(wait_reads(2000));  // the load goes on while Redis is gone
  const auto during = cache.stats();

  server.start();  // same port, with what the append-only file held at the kill
  const std::string persisted_keys = server.cli("dbsize");
  const bool closed =
      eventually(30s, [&] { return cache.stats().l2.breaker == BreakerState::kClosed; });
  const auto hits_after_restart = cache.stats().l2.hits;
  const bool hits_again =
      eventually(30s, [&] { return cache.stats().l2.hits > hits_after_restart; });
  ASSERT_TRUE(wait_reads(2000));
  stop = true;
  for (auto& thread : threads) thread.join();

  // Every acknowledged write is in the source and is what the cache returns.
  std::uint64_t keys_written = 0, found = 0;
  for (const auto& per_thread : acknowledged) {
    for (const auto& [key, value] : per_thread) {
      ++keys_written;
      std::optional<User> row;
      {
        std::lock_guard lock(store->mutex);
        row = store->rows.at(key);
      }
      const bool ok = row == value && cache.get(key) == value;
      if (ok) ++found;
      EXPECT_TRUE(ok) << key << ": the last acknowledged write is missing";
    }
  }
  // Through L2 alone: a fresh cache (no L1) on the same server whose source always fails, so it
  // answers only what L2 holds. Every answer must be the last acknowledged value.
  auto fresh = CacheBuilder<User>()
                   .remote(RedisClient(server.url()), {.ttl = 60s})
                   .loader([](std::string_view) -> std::optional<User> {
                     throw UnavailableError("the fresh cache reads L2 only");
                   })
                   .build();
  std::uint64_t in_l2 = 0, stale_in_l2 = 0;
  for (const auto& per_thread : acknowledged) {
    for (const auto& [key, value] : per_thread) {
      try {
        const auto got = fresh.get(key);
        ++in_l2;
        if (got != value) ++stale_in_l2;
        EXPECT_EQ(got, value) << key << ": L2 holds an older value than the last acknowledged";
      } catch (const UnavailableError&) {
        // Not in L2 (dropped by the write that could not reach it, or never filled): allowed.
      }
    }
  }
  std::printf(
      "fault redis-kill: %s keys in Redis after the restart; of %llu acknowledged keys "
      "%llu in L2 (%llu stale), L2 deletes deferred/replayed/dropped %llu/%llu/%llu\n",
      persisted_keys.c_str(), static_cast<unsigned long long>(keys_written),
      static_cast<unsigned long long>(in_l2), static_cast<unsigned long long>(stale_in_l2),
      static_cast<unsigned long long>(cache.stats().l2.deletes_deferred),
      static_cast<unsigned long long>(cache.stats().l2.deletes_replayed),
      static_cast<unsigned long long>(cache.stats().l2.deletes_dropped));
  EXPECT_NE(persisted_keys, "0") << "the restarted server came back empty: nothing was at stake";
  EXPECT_GT(in_l2, 0u) << "L2 held none of the written keys: the check above proved nothing";
  EXPECT_EQ(fresh.stats().l2.hits, in_l2);

  const auto after = cache.stats();
  std::printf(
      "fault redis-kill: reads attempted %llu, failed %llu; writes acknowledged %llu (refused "
      "%llu),"
      " keys written %llu, last acknowledged value found %llu; L2 errors %llu, short-circuited"
      " %llu, breaker opens %llu, source loads before/during/after %llu/%llu/%llu, L2 hits "
      "before/after %llu/%llu\n",
      static_cast<unsigned long long>(reads.load()),
      static_cast<unsigned long long>(read_failures.load()),
      static_cast<unsigned long long>(writes.load()),
      static_cast<unsigned long long>(write_failures.load()),
      static_cast<unsigned long long>(keys_written), static_cast<unsigned long long>(found),
      static_cast<unsigned long long>(after.l2.errors),
      static_cast<unsigned long long>(after.l2.short_circuited),
      static_cast<unsigned long long>(after.l2.breaker_opens),
      static_cast<unsigned long long>(before.source.loads),
      static_cast<unsigned long long>(during.source.loads),
      static_cast<unsigned long long>(after.source.loads),
      static_cast<unsigned long long>(before.l2.hits),
      static_cast<unsigned long long>(after.l2.hits));

  EXPECT_EQ(read_failures.load(), 0u) << "a read failed";
  EXPECT_EQ(write_failures.load(), 0u) << "write-through writes the source: Redis down is no error";
  EXPECT_EQ(found, keys_written);
  EXPECT_GT(keys_written, 0u);
  EXPECT_TRUE(opened) << "the breaker never opened";
  EXPECT_GT(during.l2.short_circuited, 0u) << "the open breaker kept calls away from Redis";
  EXPECT_GT(during.source.loads, before.source.loads) << "reads went to the source";
  EXPECT_TRUE(closed) << "the breaker never closed after Redis came back";
  EXPECT_TRUE(hits_again) << "caching did not resume: no L2 hit after the restart";
}

}  // namespace
}  // namespace strata
