// Cache<V> behaviour that needs a controllable source or a private Redis: the cache-aside race
// with and without guarded fills, write-through failures, L2 down (circuit breaker), refresh
// failures, the memoize adaptor, the builder's validation and the breaker itself.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cache/cache_fixtures.h"
#include "strata/cache/cache.h"
#include "strata/cache/memoize.h"
#include "strata/codec/json.h"
#include "support/redis_process.h"
#include "support/test_servers.h"

namespace strata {
namespace {

using namespace std::chrono_literals;
using testing::ControlledStore;
using testing::make_user;
using testing::unique_name;
using testing::User;

// --- the cache-aside race -------------------------------------------------------------------
// Reader misses, reads the OLD row; meanwhile the writer updates the row and invalidates; then
// the reader fills. The hook runs the writer inside the reader's load, after it read the row,
// so the interleaving is deterministic.
class CacheAsideRace : public ::testing::TestWithParam<std::string> {};

std::optional<User> run_race(bool guarded, const std::string& url, RedisClient& redis,
                             std::uint64_t* fills_skipped) {
  auto store = std::make_shared<ControlledStore>();
  const std::string k = "user-1";
  store->set(k, make_user(1));
  Cache<User>* cache_ptr = nullptr;
  bool raced = false;
  store->after_read = [&](std::string_view key) {
    if (raced) return;
    raced = true;
    store->set(key, make_user(2));  // the writer updates its database...
    cache_ptr->invalidate(key);     // ...and invalidates, while the reader holds the old row
  };
  auto cache = CacheBuilder<User>()
                   .remote(RedisClient(url), {.ttl = 60s})
                   .source(testing::controlled_source(store))
                   .key_prefix(unique_name("test:race:") + ":")
                   .guarded_fills(guarded)
                   .build();
  cache_ptr = &cache;
  EXPECT_EQ(cache.get(k), make_user(1));  // the reader got the old row (read before the write)
  *fills_skipped = cache.stats().l2.fills_skipped;
  const auto bytes = redis.get(cache.remote_key(k));
  if (!bytes) return std::nullopt;
  return ValueFormat<User>::envelope().decode(*bytes).value;
}

TEST_P(CacheAsideRace, GuardedFillLeavesNoStaleValue) {
  STRATA_SERVER_URL(url, GetParam().c_str());
  RedisClient redis(url);
  std::uint64_t skipped = 0;
  EXPECT_EQ(run_race(true, url, redis, &skipped), std::nullopt);
  EXPECT_EQ(skipped, 1u);
}

TEST_P(CacheAsideRace, UnguardedFillLeavesTheStaleValue) {
  STRATA_SERVER_URL(url, GetParam().c_str());
  RedisClient redis(url);
  std::uint64_t skipped = 0;
  // Without the guard the old row lands in L2 after the invalidation: the textbook race.
  EXPECT_EQ(run_race(false, url, redis, &skipped), make_user(1));
  EXPECT_EQ(skipped, 0u);
}

TEST_P(CacheAsideRace, WriteThroughRevokesAPendingFill) {
  STRATA_SERVER_URL(url, GetParam().c_str());
  auto store = std::make_shared<ControlledStore>();
  const std::string k = "user-2";
  store->set(k, make_user(1));
  Cache<User>* cache_ptr = nullptr;
  bool raced = false;
  store->after_read = [&](std::string_view key) {
    if (raced) return;
    raced = true;
    cache_ptr->put(key, make_user(2));  // a write-through lands while the reader holds v1
  };
  auto cache = CacheBuilder<User>()
                   .remote(RedisClient(url), {.ttl = 60s})
                   .source(testing::controlled_source(store))
                   .write_mode(WriteMode::kWriteThrough)
                   .key_prefix(unique_name("test:race:") + ":")
                   .build();
  cache_ptr = &cache;
  (void)cache.get(k);
  EXPECT_EQ(cache.get(k), make_user(2));
  EXPECT_EQ(cache.stats().l2.fills_skipped, 1u);
}

// Two processes (two caches on one prefix, no L1) miss the same key at once. They share one fill
// token, so the first load to finish fills L2 even though the other reader began after it (with
// a token per reader, the newer reader revoked the older one's fill: under steady concurrent
// misses the key could stay empty). The later fill is skipped: the value is there already.
TEST_P(CacheAsideRace, ConcurrentMissesShareOneFillToken) {
  STRATA_SERVER_URL(url, GetParam().c_str());
  RedisClient redis(url);
  const std::string prefix = unique_name("test:share:") + ":";
  const std::string k = "user-3";
  auto store_a = std::make_shared<ControlledStore>();
  auto store_b = std::make_shared<ControlledStore>();
  store_a->set(k, make_user(1));
  store_b->set(k, make_user(1));
  auto build = [&](const std::shared_ptr<ControlledStore>& store) {
    return CacheBuilder<User>()
        .remote(RedisClient(url), {.ttl = 60s})
        .source(testing::controlled_source(store))
        .key_prefix(prefix)
        .build();
  };
  auto a = build(store_a);
  auto b = build(store_b);
  std::promise<void> b_reading;
  std::promise<void> release_b;
  std::shared_future<void> release = release_b.get_future().share();
  store_b->after_read = [&](std::string_view) {
    b_reading.set_value();  // B has taken its token and read the row...
    release.wait();         // ...and is slow to fill
  };
  std::thread reader_b;
  store_a->after_read = [&](std::string_view) {
    reader_b = std::thread([&] { EXPECT_EQ(b.get(k), make_user(1)); });
    b_reading.get_future().wait();  // B missed after A and holds the token now
  };
  EXPECT_EQ(a.get(k), make_user(1));  // A's load finishes first and fills
  EXPECT_TRUE(redis.get(a.remote_key(k)).has_value()) << "A's fill was revoked by B's miss";
  EXPECT_EQ(a.stats().l2.fills, 1u);
  release_b.set_value();
  reader_b.join();
  EXPECT_EQ(b.stats().l2.fills_skipped, 1u);  // same epoch, already filled
  EXPECT_EQ(store_a->loads + store_b->loads, 2);
}

INSTANTIATE_TEST_SUITE_P(Redis, CacheAsideRace,
                         ::testing::Values("STRATA_TEST_REDIS_URL",
                                           "STRATA_TEST_REDIS_CLUSTER_URL"),
                         [](const auto& param_info) {
                           return std::string(param_info.param).find("CLUSTER") != std::string::npos
                                      ? "cluster"
                                      : "standalone";
                         });

// The Redis key of a cache key is exactly prefix + key, whatever bytes the key holds (braces
// included: a hash tag in a user's key is the user's); cache_key_of is its inverse (Redis
// tracking maps the keys it is told about back to cache keys with it).
TEST(RemoteStoreKeys, TheRedisKeyIsThePrefixAndTheKey) {
  STRATA_SERVER_URL(url, "STRATA_TEST_REDIS_URL");
  internal::RemoteStore store(RedisClient(url), "app:", BreakerOptions{},
                              std::make_shared<SteadyClock>());
  for (const std::string& key :
       {std::string("42"), std::string("}x"), std::string("\0y", 2), std::string("{z}"),
        std::string("a}b"), std::string("\xff\n"), std::string("")}) {
    const std::string redis_key = store.value_key(key);  // cache_key_of returns a view into it
    EXPECT_EQ(redis_key, "app:" + key);
    const auto back = store.cache_key_of(redis_key);
    ASSERT_TRUE(back.has_value()) << key;
    EXPECT_EQ(*back, key);
  }
  EXPECT_EQ(store.cache_key_of("other:42"), std::nullopt);
  EXPECT_EQ(store.cache_key_of("app"), std::nullopt);
  EXPECT_EQ(store.refresh_key("42"), "strata:refresh:app:42");
}

// --- write-through failures -----------------------------------------------------------------
TEST(CacheWriteThrough, FailingSourceWriteLeavesCachesUntouchedAndThrows) {
  STRATA_SERVER_URL(url, "STRATA_TEST_REDIS_URL");
  RedisClient redis(url);
  auto store = std::make_shared<ControlledStore>();
  store->set("k", make_user(1));
  auto cache = CacheBuilder<User>()
                   .local({.maximum_size = 100})
                   .remote(redis, {.ttl = 60s})
                   .source(testing::controlled_source(store))
                   .write_mode(WriteMode::kWriteThrough)
                   .key_prefix(unique_name("test:wt:") + ":")
                   .build();
  EXPECT_EQ(cache.get("k"), make_user(1));
  store->fail_writes = true;
  EXPECT_THROW(cache.put("k", make_user(2)), UnavailableError);
  EXPECT_EQ(cache.get("k"), make_user(1));
  EXPECT_EQ(ValueFormat<User>::envelope().decode(*redis.get(cache.remote_key("k"))).value,
            make_user(1));
  EXPECT_EQ(cache.stats().source.write_errors, 1u);
  EXPECT_EQ(cache.stats().source.loads, 1u);
}

// Issue 18 item 8: an invalidation that lands while put() writes the source (another writer's
// newer row, announced on the bus) wins over the L1 fill that follows the write: L1 is not
// filled with the value just written, so the next read loads the newer row.
TEST(CacheWriteThrough, InvalidationDuringTheSourceWriteWinsOverTheL1Fill) {
  auto store = std::make_shared<ControlledStore>();
  Cache<User>* cache_ptr = nullptr;
  SourceFunctions<User> fn;
  fn.load = [store](std::string_view key) { return store->read(key); };
  fn.write = [store, &cache_ptr](std::string_view key, const User& value) {
    store->set(key, value);
    store->set(key, make_user(9));            // another process writes after us...
    cache_ptr->invalidate(std::string(key));  // ...and its invalidation reaches this process
  };
  auto cache = CacheBuilder<User>()
                   .local({.maximum_size = 100})
                   .source(FunctionSource<User>(std::move(fn)))
                   .write_mode(WriteMode::kWriteThrough)
                   .build();
  cache_ptr = &cache;
  cache.put("k", make_user(2));
  EXPECT_EQ(cache.get("k"), make_user(9));  // not the value put() wrote, now stale
  EXPECT_EQ(cache.stats().source.loads, 1u);
}

// put_many in write-through fills L1 with every entry, though many keys share a generation
// stripe (each store() bumps its stripe: the call accounts for its own bumps).
TEST(CacheWriteThrough, PutManyFillsL1ForKeysSharingAStripe) {
  auto store = std::make_shared<ControlledStore>();
  auto cache = CacheBuilder<User>()
                   .local({.maximum_size = 1000})
                   .source(testing::controlled_source(store))
                   .write_mode(WriteMode::kWriteThrough)
                   .build();
  std::vector<KeyValue<User>> entries;
  for (int i = 0; i < 200; ++i) entries.emplace_back("k" + std::to_string(i), make_user(i));
  cache.put_many(entries);
  EXPECT_EQ(store->writes, 200);
  for (const auto& [key, value] : entries) EXPECT_EQ(cache.get(key), value);
  EXPECT_EQ(cache.stats().source.loads, 0u);  // every key was in L1
}

TEST(CacheWriteThrough, FailedRemoteWriteDeletesTheKeyEverywhere) {
  // A private server where SET has another name: the write (a SET) fails, DEL works.
  testing::RedisProcess server({"--rename-command SET strata-test-set"});
  RedisClient redis(server.url());
  auto store = std::make_shared<ControlledStore>();
  store->set("k", make_user(1));
  auto cache = CacheBuilder<User>()
                   .local({.maximum_size = 100})
                   .remote(redis, {.ttl = 60s})
                   .source(testing::controlled_source(store))
                   .write_mode(WriteMode::kWriteThrough)
                   .circuit_breaker({.failure_threshold = 100})
                   .build();
  (void)redis.command({"strata-test-set", cache.remote_key("k"),
                       ValueFormat<User>::envelope().encode(make_user(1))});
  EXPECT_EQ(cache.get("k"), make_user(1));  // from L2, now in L1 too
  EXPECT_EQ(cache.stats().source.loads, 0u);
  cache.put("k", make_user(2));  // the source write succeeds, the L2 write fails
  EXPECT_EQ(store->rows["k"], make_user(2));
  EXPECT_FALSE(redis.exists(cache.remote_key("k")));
  EXPECT_EQ(cache.stats().l2.write_failures, 1u);
  EXPECT_EQ(cache.get("k"), make_user(2));  // nobody reads the old value: L1 was dropped too
  EXPECT_EQ(cache.stats().source.loads, 1u);
}

// --- L2 down --------------------------------------------------------------------------------
TEST(CacheRemoteDown, ReadsGoToTheSourceAndTheBreakerOpensThenCloses) {
  testing::RedisProcess server;
  auto clock = std::make_shared<ManualClock>();
  auto store = std::make_shared<ControlledStore>();
  for (int i = 0; i < 10; ++i) store->set("k" + std::to_string(i), make_user(i));
  auto cache =
      CacheBuilder<User>()
          .remote(RedisClient(server.url() + "?connect_timeout=200ms&command_timeout=200ms"),
                  {.ttl = 60s})
          .source(testing::controlled_source(store))
          .circuit_breaker({.failure_threshold = 3, .cool_down = 5s})
          .clock(clock)
          .build();
  for (int i = 0; i < 10; ++i) EXPECT_EQ(cache.get("k" + std::to_string(i)), make_user(i));
  EXPECT_EQ(store->loads, 10);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(cache.get("k" + std::to_string(i)), make_user(i));
  EXPECT_EQ(store->loads, 10);  // all from L2

  server.stop();
  for (int i = 0; i < 10; ++i) EXPECT_EQ(cache.get("k" + std::to_string(i)), make_user(i));
  auto s = cache.stats();
  EXPECT_EQ(store->loads, 20);
  EXPECT_EQ(s.l2.breaker, BreakerState::kOpen);
  EXPECT_EQ(s.l2.breaker_opens, 1u);
  EXPECT_GE(s.l2.errors, 3u);
  EXPECT_GT(s.l2.short_circuited, 0u);

  server.start();
  EXPECT_EQ(cache.get("k0"), make_user(0));  // still open: no call reaches Redis
  EXPECT_EQ(cache.stats().l2.breaker, BreakerState::kOpen);
  // After the cool-down one probe goes through; a connection broken by the restart may fail
  // the first probe, so allow a few cool-downs.
  for (int attempt = 0; attempt < 5 && cache.stats().l2.breaker != BreakerState::kClosed;
       ++attempt) {
    clock->advance(5s);
    EXPECT_EQ(cache.get("k1"), make_user(1));
  }
  EXPECT_EQ(cache.stats().l2.breaker, BreakerState::kClosed);
  EXPECT_EQ(cache.get("k1"), make_user(1));  // filled again by the probe's read
}

// An invalidation lost while Redis was unreachable (a server restarted with its data, from its
// append-only file) is replayed before any later call reaches Redis, so the old value cannot be
// read once it is back.
TEST(CacheRemoteDown, InvalidationLostDuringAnOutageIsReplayed) {
  testing::RedisProcess server({"--appendonly yes --appendfsync always"});
  auto clock = std::make_shared<ManualClock>();
  auto store = std::make_shared<ControlledStore>();
  store->set("k", make_user(1));
  store->set("other", make_user(9));
  auto cache =
      CacheBuilder<User>()
          .remote(RedisClient(server.url() + "?connect_timeout=200ms&command_timeout=200ms"),
                  {.ttl = 60s})
          .source(testing::controlled_source(store))
          .circuit_breaker({.failure_threshold = 1, .cool_down = 5s})
          .clock(clock)
          .build();
  EXPECT_EQ(cache.get("k"), make_user(1));  // now in L2

  store->set("k", make_user(2));
  server.stop();
  cache.invalidate("k");  // fails: deferred
  EXPECT_EQ(cache.stats().l2.breaker, BreakerState::kOpen);
  EXPECT_EQ(cache.stats().l2.deletes_deferred, 1u);
  server.start();
  EXPECT_TRUE(RedisClient(server.url()).exists(cache.remote_key("k")));  // the old value is back

  // The probe sends the deferred delete first (a few cool-downs in case a connection broken by
  // the restart fails the first probe).
  for (int attempt = 0; attempt < 5 && cache.stats().l2.breaker != BreakerState::kClosed;
       ++attempt) {
    clock->advance(5s);
    EXPECT_EQ(cache.get("other"), make_user(9));
  }
  EXPECT_EQ(cache.stats().l2.deletes_replayed, 1u);
  EXPECT_EQ(cache.stats().l2.breaker, BreakerState::kClosed);
  EXPECT_FALSE(RedisClient(server.url()).exists(cache.remote_key("k")));
  EXPECT_EQ(cache.get("k"), make_user(2));
}

// --- refresh-ahead failure --------------------------------------------------------------------
TEST(CacheRefreshAhead, FailedReloadKeepsTheOldValue) {
  auto clock = std::make_shared<ManualClock>();
  auto executor = std::make_shared<ManualExecutor>();
  auto store = std::make_shared<ControlledStore>();
  store->set("k", make_user(1));
  auto cache = CacheBuilder<User>()
                   .local({.maximum_size = 100, .ttl = 60s})
                   .source(testing::controlled_source(store))
                   .refresh_after(30s)
                   .clock(clock)
                   .executor(executor)
                   .build();
  EXPECT_EQ(cache.get("k"), make_user(1));
  clock->advance(40s);
  store->fail_loads = true;
  EXPECT_EQ(cache.get("k"), make_user(1));
  EXPECT_EQ(executor->run_all(), 1u);
  EXPECT_EQ(cache.stats().refresh_failures, 1u);
  EXPECT_EQ(cache.get("k"), make_user(1));  // kept; and a new refresh may be claimed
  store->fail_loads = false;
  store->set("k", make_user(2));
  EXPECT_EQ(executor->run_all(), 1u);
  EXPECT_EQ(cache.get("k"), make_user(2));
  EXPECT_EQ(cache.stats().refreshes, 1u);
}

TEST(CacheRefreshAhead, LoaderFunctionWithoutSource) {
  auto clock = std::make_shared<ManualClock>();
  auto executor = std::make_shared<ManualExecutor>();
  int version = 1;
  int calls = 0;
  auto cache = CacheBuilder<int>()
                   .local({.maximum_size = 10, .ttl = 10s})
                   .loader([&](std::string_view) -> std::optional<int> {
                     ++calls;
                     return version;
                   })
                   .refresh_after(5s)
                   .clock(clock)
                   .executor(executor)
                   .build();
  EXPECT_EQ(cache.get("x"), 1);
  version = 2;
  clock->advance(6s);
  EXPECT_EQ(cache.get("x"), 1);
  executor->run_all();
  EXPECT_EQ(cache.get("x"), 2);
  EXPECT_EQ(calls, 2);
}

// --- memoize ------------------------------------------------------------------------------
TEST(CacheMemoize, KeysFollowThePrefixFunctionArgsConvention) {
  EXPECT_EQ(memo_key("app:price:", 42, std::string("EUR")), "app:price:42:EUR");
  EXPECT_EQ(memo_key("app:price:", 1.5, true), "app:price:1.5:true");
  EXPECT_EQ(memo_key("app:now:"), "app:now:");
  EXPECT_EQ(memo_key("p:", std::vector<int>{1, 2}), "p:[1,2]");
}

// For one function (fixed argument types), distinct arguments give distinct keys: the
// separator ':' and the escape character are escaped inside arguments.
TEST(CacheMemoize, DistinctArgumentsGetDistinctKeys) {
  EXPECT_NE(memo_key("p:", "a:b"), memo_key("p:", "a", "b"));
  EXPECT_EQ(memo_key("p:", "a:b"), "p:a\\:b");
  EXPECT_NE(memo_key("p:", "a\\", "b"), memo_key("p:", "a", "\\b"));
  EXPECT_NE(memo_key("p:", "a\\:", "b"), memo_key("p:", "a\\", ":b"));
  EXPECT_NE(memo_key("p:", "a", ""), memo_key("p:", "a:"));
  EXPECT_NE(memo_key("p:", 1.5), memo_key("p:", 1));
  EXPECT_NE(memo_key("p:", std::vector<int>{1, 2}), memo_key("p:", std::vector<int>{12}));
  EXPECT_NE(memo_key("p:", std::vector<std::string>{"a:b"}),
            memo_key("p:", std::vector<std::string>{"a", "b"}));

  auto cache = CacheBuilder<std::string>().local({.maximum_size = 100}).build();
  int calls = 0;
  auto greet = cached(cache, "greet:", [&](int id, const std::string& lang) {
    ++calls;
    return lang + "#" + std::to_string(id);
  });
  EXPECT_EQ(greet(1, std::string("en")), "en#1");
  EXPECT_EQ(greet(1, std::string("en")), "en#1");
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(greet(2, std::string("en")), "en#2");
  EXPECT_EQ(greet(1, std::string("fr")), "fr#1");
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(cache.get(memo_key("greet:", 2, std::string("en"))), "en#2");
}

// --- builder --------------------------------------------------------------------------------
void expect_invalid(const std::function<void()>& f, const std::string& option) {
  try {
    f();
    ADD_FAILURE() << "expected InvalidArgumentError naming " << option;
  } catch (const InvalidArgumentError& e) {
    EXPECT_NE(std::string(e.what()).find(option), std::string::npos) << e.what();
  }
}

TEST(CacheBuilderValidation, NamesTheOption) {
  expect_invalid([] { (void)CacheBuilder<int>().build(); }, "local()");
  expect_invalid([] { CacheBuilder<int>().local({}); }, "maximum_size");
  expect_invalid([] { CacheBuilder<int>().local({.maximum_size = 1, .ttl_jitter = 1.5}); },
                 "ttl_jitter");
  expect_invalid([] { CacheBuilder<int>().negative_ttl(0ms); }, "negative_ttl");
  expect_invalid([] { CacheBuilder<int>().refresh_after(0s); }, "refresh_after");
  expect_invalid([] { CacheBuilder<int>().circuit_breaker({.failure_threshold = 0}); },
                 "failure_threshold");
  expect_invalid(
      [] {
        (void)CacheBuilder<int>()
            .local({.maximum_size = 1})
            .write_mode(WriteMode::kWriteThrough)
            .build();
      },
      "kWriteThrough");
  expect_invalid(
      [] {
        (void)CacheBuilder<int>()
            .local({.maximum_size = 1})
            .write_mode(WriteMode::kWriteBehind)
            .build();
      },
      "write_behind_sink");
  expect_invalid(
      [] {
        (void)CacheBuilder<int>()
            .local({.maximum_size = 1, .ttl = 1s})
            .loader([](std::string_view) { return std::optional<int>(1); })
            .refresh_after(2s)
            .build();
      },
      "refresh_after");
}

TEST(CacheL1Only, EmptyKeyIsRejectedAndCacheOnlyReadsWork) {
  auto cache = CacheBuilder<int>().local({.maximum_size = 10}).build();
  EXPECT_THROW((void)cache.get(""), InvalidArgumentError);
  EXPECT_EQ(cache.get("a"), std::nullopt);  // no loader: a cache-only read
  cache.put("a", 1);                        // no source: a plain cache put
  EXPECT_EQ(cache.get("a"), 1);
  EXPECT_EQ(cache.get_or_load("b", [](std::string_view) { return 2; }), 2);
  EXPECT_EQ(cache.get_or_load("c", [](std::string_view) { return std::optional<int>(); }),
            std::nullopt);
  cache.invalidate("a");
  EXPECT_EQ(cache.get("a"), std::nullopt);
}

// --- the breaker ----------------------------------------------------------------------------
TEST(CircuitBreakerTest, OpensProbesAndCloses) {
  auto clock = std::make_shared<ManualClock>();
  CircuitBreaker breaker({.failure_threshold = 3, .cool_down = 1s}, clock);
  EXPECT_TRUE(breaker.allow());
  breaker.on_failure();
  breaker.on_failure();
  breaker.on_success();  // resets the streak
  breaker.on_failure();
  breaker.on_failure();
  EXPECT_EQ(breaker.state(), BreakerState::kClosed);
  breaker.on_failure();
  EXPECT_EQ(breaker.state(), BreakerState::kOpen);
  EXPECT_FALSE(breaker.allow());
  clock->advance(1s);
  EXPECT_TRUE(breaker.allow());   // the probe
  EXPECT_FALSE(breaker.allow());  // half-open: one probe at a time
  EXPECT_EQ(breaker.state(), BreakerState::kHalfOpen);
  breaker.on_failure();
  EXPECT_EQ(breaker.state(), BreakerState::kOpen);
  EXPECT_EQ(breaker.opens(), 2u);
  clock->advance(1s);
  EXPECT_TRUE(breaker.allow());
  breaker.on_success();
  EXPECT_EQ(breaker.state(), BreakerState::kClosed);
  EXPECT_EQ(to_string(BreakerState::kHalfOpen), "half-open");
}

TEST(ExecutorTest, ThreadPoolRunsTasksAndJoins) {
  std::atomic<int> ran{0};
  {
    ThreadPoolExecutor pool(2);
    std::mutex m;
    std::condition_variable cv;
    for (int i = 0; i < 10; ++i) {
      pool.execute([&] {
        std::lock_guard lock(m);
        ++ran;
        cv.notify_all();
      });
    }
    std::unique_lock lock(m);
    cv.wait(lock, [&] { return ran == 10; });
  }
  EXPECT_EQ(ran, 10);
  EXPECT_THROW(ThreadPoolExecutor(0), InvalidArgumentError);
}

}  // namespace
}  // namespace strata
