#include "strata/local/local_cache.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <map>
#include <optional>
#include <set>
#include <thread>
#include <vector>

#include "support/eventually.h"

namespace strata {
namespace {

using namespace std::chrono_literals;

struct Removed {
  std::string key;
  std::string value;
  RemovalCause cause;
};

// Records every removal the listener sees.
struct Recorder {
  std::shared_ptr<std::vector<Removed>> events = std::make_shared<std::vector<Removed>>();
  std::shared_ptr<std::mutex> mutex = std::make_shared<std::mutex>();
  auto listener() {
    return
        [events = events, mutex = mutex](std::string_view k, const std::string& v, RemovalCause c) {
          std::lock_guard lock(*mutex);
          events->push_back({std::string(k), v, c});
        };
  }
  int count(RemovalCause cause) const {
    std::lock_guard lock(*mutex);
    int n = 0;
    for (const auto& e : *events) n += e.cause == cause ? 1 : 0;
    return n;
  }
};

TEST(LocalCacheBuilder, ValidatesEachOptionNamingIt) {
  auto message_of = [](auto&& f) -> std::string {
    try {
      f();
    } catch (const InvalidArgumentError& e) {
      return e.what();
    }
    return "no error";
  };
  using B = LocalCacheBuilder<int>;
  EXPECT_NE(message_of([] { B().maximum_weight(0); }).find("maximum_weight"), std::string::npos);
  EXPECT_NE(message_of([] { B().maximum_size(0); }).find("maximum_size"), std::string::npos);
  EXPECT_NE(message_of([] { B().maximum_size(10).maximum_weight(10); }).find("conflicts"),
            std::string::npos);
  EXPECT_NE(message_of([] { B().expire_after_write(0s); }).find("expire_after_write"),
            std::string::npos);
  EXPECT_NE(message_of([] { B().expire_after_access(-1s); }).find("expire_after_access"),
            std::string::npos);
  EXPECT_NE(message_of([] { B().ttl_jitter(1.0); }).find("ttl_jitter"), std::string::npos);
  EXPECT_NE(message_of([] { B().shards(3); }).find("shards"), std::string::npos);
  EXPECT_NE(message_of([] { B().max_key_size(70000); }).find("max_key_size"), std::string::npos);
  EXPECT_NE(message_of([] { B().clock(nullptr); }).find("clock"), std::string::npos);
  EXPECT_NE(message_of([] { (void)B().build(); }).find("maximum_weight or maximum_size"),
            std::string::npos);
}

TEST(LocalCache, PutGetEraseClear) {
  auto cache = LocalCacheBuilder<std::string>().maximum_size(100).build();
  EXPECT_FALSE(cache.get("a"));
  cache.put("a", "1");
  cache.put("b", "2");
  EXPECT_EQ(cache.get("a"), "1");
  cache.put("a", "3");
  EXPECT_EQ(cache.get("a"), "3");
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_TRUE(cache.erase("a"));
  EXPECT_FALSE(cache.erase("a"));
  EXPECT_FALSE(cache.get("a"));
  cache.clear();
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_FALSE(cache.get("b"));
}

TEST(LocalCache, KeysAreBinarySafe) {
  auto cache = LocalCacheBuilder<std::string>().maximum_size(10).build();
  const std::string a("k\0a", 3), b("k\0b", 3);
  cache.put(a, "A");
  cache.put(b, "B");
  EXPECT_EQ(cache.get(a), "A");
  EXPECT_EQ(cache.get(b), "B");
  EXPECT_FALSE(cache.get("k"));
  const std::string high("\xff\xfe\x80", 3);
  cache.put(high, "H");
  EXPECT_EQ(cache.get(high), "H");
}

TEST(LocalCache, RejectsEmptyAndOversizedKeys) {
  auto cache = LocalCacheBuilder<int>().maximum_size(10).max_key_size(8).build();
  EXPECT_THROW(cache.put("", 1), InvalidArgumentError);
  EXPECT_THROW((void)cache.get(""), InvalidArgumentError);
  try {
    cache.put("123456789", 1);
    FAIL();
  } catch (const InvalidArgumentError& e) {
    EXPECT_NE(std::string(e.what()).find("9 bytes exceeds max_key_size 8"), std::string::npos);
  }
  cache.put("12345678", 1);
  EXPECT_EQ(cache.get("12345678"), 1);
}

TEST(LocalCache, BoundedByEntryCount) {
  auto cache = LocalCacheBuilder<int>().maximum_size(50).build();
  for (int i = 0; i < 1000; ++i) cache.put("key" + std::to_string(i), i);
  EXPECT_LE(cache.size(), 50u);
  EXPECT_EQ(cache.stats().evicted_size, 1000u - cache.size());
}

TEST(LocalCache, BoundedByBytesWithTheDefaultWeigher) {
  auto cache = LocalCacheBuilder<std::string>().maximum_weight(10'000).build();
  for (int i = 0; i < 1000; ++i) cache.put("k" + std::to_string(i), std::string(100, 'x'));
  EXPECT_LE(cache.weight(), 10'000u);
  EXPECT_GT(cache.weight(), 5'000u);
  // key bytes + value bytes
  auto one = LocalCacheBuilder<std::string>().maximum_weight(1000).build();
  one.put("abc", "12345");
  EXPECT_EQ(one.weight(), 8u);
}

TEST(LocalCache, CustomWeigherAndEntriesHeavierThanTheCache) {
  Recorder recorder;
  auto cache = LocalCacheBuilder<std::string>()
                   .maximum_weight(1000)
                   .weigher([](std::string_view, const std::string& v) { return v.size() * 10; })
                   .removal_listener(recorder.listener())
                   .build();
  cache.put("small", "12345");  // 50
  EXPECT_EQ(cache.weight(), 50u);
  cache.put("huge", std::string(200, 'x'));  // 2000 > 1000: not admitted, not an error
  EXPECT_FALSE(cache.get("huge"));
  EXPECT_EQ(cache.stats().rejected_too_heavy, 1u);
  cache.put("small", std::string(101, 'x'));  // replacing with a too-heavy value drops the old
  EXPECT_FALSE(cache.get("small"));
  EXPECT_EQ(cache.stats().rejected_too_heavy, 2u);
  EXPECT_EQ(recorder.count(RemovalCause::kReplaced), 1);
}

TEST(LocalCache, ListenerSeesEveryCause) {
  auto clock = std::make_shared<ManualClock>();
  Recorder recorder;
  auto cache = LocalCacheBuilder<std::string>()
                   .maximum_size(2)
                   .expire_after_write(10s)
                   .clock(clock)
                   .removal_listener(recorder.listener())
                   .build();
  cache.put("a", "1");
  cache.put("a", "2");  // replaced
  cache.erase("a");     // explicit
  cache.put("b", "1");
  cache.put("c", "1");
  cache.put("d", "1");  // size: one of b, c, d goes
  clock->advance(11s);
  cache.cleanup();  // expired: the rest
  EXPECT_EQ(recorder.count(RemovalCause::kReplaced), 1);
  EXPECT_EQ(recorder.count(RemovalCause::kExplicit), 1);
  EXPECT_EQ(recorder.count(RemovalCause::kSize), 1);
  EXPECT_EQ(recorder.count(RemovalCause::kExpired), 2);
  EXPECT_EQ((*recorder.events)[0].value, "1");  // the replaced value is the old one
  const auto s = cache.stats();
  EXPECT_EQ(s.replaced, 1u);
  EXPECT_EQ(s.removed_explicit, 1u);
  EXPECT_EQ(s.evicted_size, 1u);
  EXPECT_EQ(s.evicted_expired, 2u);
  EXPECT_EQ(cache.size(), 0u);
}

TEST(LocalCache, ExpireAfterWriteNeverReturnsAnExpiredEntry) {
  auto clock = std::make_shared<ManualClock>();
  auto cache =
      LocalCacheBuilder<int>().maximum_size(100).expire_after_write(5s).clock(clock).build();
  cache.put("a", 1);
  clock->advance(4999ms);
  EXPECT_EQ(cache.get("a"), 1);
  clock->advance(1ms);
  EXPECT_FALSE(cache.get("a"));  // exactly at the deadline: gone, even before cleanup
  EXPECT_FALSE(cache.lookup("a"));
  cache.put("a", 2);  // rewriting an expired key works
  EXPECT_EQ(cache.get("a"), 2);
}

TEST(LocalCache, PerEntryTtlOverridesTheDefault) {
  auto clock = std::make_shared<ManualClock>();
  auto cache =
      LocalCacheBuilder<int>().maximum_size(100).expire_after_write(1h).clock(clock).build();
  cache.put("short", 1, 2s);
  cache.put("long", 2);
  clock->advance(3s);
  EXPECT_FALSE(cache.get("short"));
  EXPECT_EQ(cache.get("long"), 2);
  clock->advance(1h);
  EXPECT_FALSE(cache.get("long"));
  // Without a default TTL, per-entry TTLs still apply (a cache with expiry configured).
  auto plain =
      LocalCacheBuilder<int>().maximum_size(10).expire_after_access(1h).clock(clock).build();
  plain.put("x", 1, 1s);
  clock->advance(2s);
  EXPECT_FALSE(plain.get("x"));
}

TEST(LocalCache, ExpireAfterAccessExtendsOnRead) {
  auto clock = std::make_shared<ManualClock>();
  auto cache =
      LocalCacheBuilder<int>().maximum_size(100).expire_after_access(10s).clock(clock).build();
  cache.put("a", 1);
  for (int i = 0; i < 5; ++i) {
    clock->advance(8s);
    EXPECT_EQ(cache.get("a"), 1) << i;
  }
  cache.cleanup();
  EXPECT_EQ(cache.size(), 1u);
  clock->advance(11s);
  EXPECT_FALSE(cache.get("a"));
}

TEST(LocalCache, CleanupRemovesExpiredEntriesThroughTheWheel) {
  auto clock = std::make_shared<ManualClock>();
  auto cache =
      LocalCacheBuilder<int>().maximum_size(10000).expire_after_write(1min).clock(clock).build();
  for (int i = 0; i < 1000; ++i)
    cache.put("k" + std::to_string(i), i, std::chrono::seconds(1 + i % 600));
  clock->advance(301s);
  cache.cleanup();
  // 602 entries have TTLs <= 301 s (i % 600 < 301): they are gone, give or take the few
  // whose deadline fell within the wheel's last 1.07 s tick.
  EXPECT_GE(cache.size(), 398u);
  EXPECT_LE(cache.size(), 402u);
  clock->advance(400s);
  cache.cleanup();
  EXPECT_EQ(cache.size(), 0u);
}

TEST(LocalCache, TtlJitterSpreadsDeadlinesBelowTheTtl) {
  auto clock = std::make_shared<ManualClock>();
  auto cache = LocalCacheBuilder<int>()
                   .maximum_size(1000)
                   .expire_after_write(100s)
                   .ttl_jitter(0.2)
                   .clock(clock)
                   .build();
  std::set<std::int64_t> distinct;
  for (int i = 0; i < 200; ++i) {
    const std::string key = "k" + std::to_string(i);
    cache.put(key, i);
    const auto hit = cache.lookup(key);
    ASSERT_TRUE(hit && hit->expires_in);
    EXPECT_LE(*hit->expires_in, 100s);
    EXPECT_GT(*hit->expires_in, 79s);
    distinct.insert(hit->expires_in->count() / 1'000'000);  // milliseconds
  }
  EXPECT_GT(distinct.size(), 150u);
}

TEST(LocalCache, StaleWindowAndOneRefresher) {
  auto clock = std::make_shared<ManualClock>();
  auto cache = LocalCacheBuilder<std::string>()
                   .maximum_size(10)
                   .expire_after_write(60s)
                   .stale_window(10s)
                   .clock(clock)
                   .build();
  cache.put("k", "v1");
  auto fresh = cache.lookup("k");
  ASSERT_TRUE(fresh);
  EXPECT_FALSE(fresh->stale);
  clock->advance(51s);
  auto stale = cache.lookup("k");
  ASSERT_TRUE(stale);
  EXPECT_TRUE(stale->stale);
  EXPECT_EQ(stale->value, "v1");
  EXPECT_TRUE(cache.begin_refresh("k"));
  EXPECT_FALSE(cache.begin_refresh("k"));  // only one refresher
  cache.put("k", "v2");                    // the refresh lands
  EXPECT_FALSE(cache.lookup("k")->stale);
  clock->advance(55s);
  EXPECT_TRUE(cache.begin_refresh("k"));  // a new write re-arms it
  cache.end_refresh("k");
  EXPECT_TRUE(cache.begin_refresh("k"));
}

// The leader is held in the loader until the other threads are observed waiting on its load
// (stats().load_waits), so the overlap is forced: without single-flight every thread would load.
TEST(LocalCache, GetOrLoadRunsTheLoaderOncePerKeyForManyThreads) {
  auto cache = LocalCacheBuilder<int>().maximum_size(100).build();
  std::atomic<int> loads{0};
  constexpr int kThreads = 16;
  std::atomic<bool> all_waiting{false};
  std::vector<std::thread> threads;
  std::vector<int> results(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      results[t] = cache.get_or_load("hot", [&](std::string_view) {
        ++loads;
        all_waiting = testing::eventually([&] { return cache.stats().load_waits >= kThreads - 1; });
        return 42;
      });
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_TRUE(all_waiting) << "the other threads never joined the load";
  EXPECT_EQ(loads.load(), 1);
  for (int r : results) EXPECT_EQ(r, 42);
  const auto s = cache.stats();
  EXPECT_EQ(s.load_successes, 1u);
  EXPECT_EQ(s.load_waits, static_cast<std::uint64_t>(kThreads - 1));
  EXPECT_EQ(cache.get("hot"), 42);
}

// Every waiter of the one (forced, as above) load gets its error; nothing is cached.
TEST(LocalCache, AThrowingLoaderReachesEveryWaiterAndCachesNothing) {
  auto cache = LocalCacheBuilder<int>().maximum_size(100).build();
  std::atomic<int> loads{0};
  constexpr int kThreads = 8;
  std::atomic<bool> all_waiting{false};
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      try {
        (void)cache.get_or_load("bad", [&](std::string_view) -> int {
          ++loads;
          all_waiting =
              testing::eventually([&] { return cache.stats().load_waits >= kThreads - 1; });
          throw UnavailableError("database down");
        });
      } catch (const UnavailableError& e) {
        if (std::string(e.what()).find("database down") != std::string::npos) ++errors;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_TRUE(all_waiting) << "the other threads never joined the load";
  EXPECT_EQ(errors.load(), kThreads);
  EXPECT_EQ(loads.load(), 1);
  EXPECT_FALSE(cache.get("bad"));
  EXPECT_EQ(cache.stats().load_failures, 1u);
  // The next call loads again.
  EXPECT_EQ(cache.get_or_load("bad", [](std::string_view) { return 7; }), 7);
}

TEST(LocalCache, OptionalLoaderResultsAreNotCached) {
  auto cache = LocalCacheBuilder<int>().maximum_size(100).build();
  int loads = 0;
  auto missing = [&](std::string_view) -> std::optional<int> {
    ++loads;
    return std::nullopt;
  };
  EXPECT_FALSE(cache.get_or_load("nope", missing));
  EXPECT_FALSE(cache.get_or_load("nope", missing));
  EXPECT_EQ(loads, 2);
  EXPECT_EQ(cache.get_or_load("yes", [](std::string_view) -> std::optional<int> { return 5; }), 5);
  EXPECT_EQ(cache.get("yes"), 5);
}

TEST(LocalCache, EraseDuringALoadKeepsTheLoadedValueOutOfTheCache) {
  auto cache = LocalCacheBuilder<int>().maximum_size(100).build();
  const int loaded = cache.get_or_load("k", [&](std::string_view) {
    cache.erase("k");  // an invalidation races with the load
    return 1;
  });
  EXPECT_EQ(loaded, 1);
  EXPECT_FALSE(cache.get("k"));
  // A put during the load wins over the (older) loaded value.
  const int second = cache.get_or_load("k", [&](std::string_view) {
    cache.put("k", 2);
    return 1;
  });
  EXPECT_EQ(second, 1);
  EXPECT_EQ(cache.get("k"), 2);
}

// A load that started before an erase may have read the value the erase was about: a caller
// that arrives after the erase loads afresh instead of joining it (found by `strata bench` with
// concurrent clients as stale reads), while a caller that joined before the erase still gets
// the load's result, which is not cached.
TEST(LocalCache, ACallAfterAnEraseDoesNotJoinTheLoadInFlight) {
  for (const bool clear : {false, true}) {
    SCOPED_TRACE(clear ? "clear()" : "erase()");
    auto cache = LocalCacheBuilder<int>().maximum_size(100).build();
    std::promise<void> release;
    std::shared_future<void> released = release.get_future().share();
    std::atomic<bool> started{false};
    std::optional<int> first, joined, after;
    std::thread leader([&] {
      first = cache.get_or_load("k", [&](std::string_view) {
        started = true;
        released.wait();
        return 1;  // read before the erase: old
      });
    });
    ASSERT_TRUE(testing::eventually(10s, [&] { return started.load(); }));
    std::thread early([&] { joined = cache.get_or_load("k", [](std::string_view) { return 9; }); });
    ASSERT_TRUE(testing::eventually(10s, [&] { return cache.stats().load_waits == 1; }));
    if (clear) {
      cache.clear();
    } else {
      cache.erase("k");
    }
    std::atomic<bool> late_done{false};
    std::thread late([&] {
      after = cache.get_or_load("k", [](std::string_view) { return 2; });
      late_done = true;
    });
    const bool finished_alone = testing::eventually(10s, [&] { return late_done.load(); });
    release.set_value();
    leader.join();
    early.join();
    late.join();
    EXPECT_TRUE(finished_alone) << "the call after the erase waited for the load before it";
    EXPECT_EQ(after, 2);
    EXPECT_EQ(first, 1);
    EXPECT_EQ(joined, 1) << "a caller that joined before the erase shares the load";
    EXPECT_EQ(cache.get("k"), 2) << "the load from before the erase is not cached";
  }
}

// The same for a put during the load, once the put's entry is evicted: the load in flight read
// the value the put replaced, so it is neither joined nor cached.
TEST(LocalCache, ALoadFromBeforeAPutIsNeitherJoinedNorCachedOnceThePutIsEvicted) {
  auto cache = LocalCacheBuilder<int>().maximum_size(1).build();
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<bool> started{false};
  std::optional<int> first, after;
  std::thread leader([&] {
    first = cache.get_or_load("k", [&](std::string_view) {
      started = true;
      released.wait();
      return 1;
    });
  });
  ASSERT_TRUE(testing::eventually(10s, [&] { return started.load(); }));
  cache.put("k", 3);
  for (int i = 0; i < 10 && cache.get("k"); ++i) {
    cache.put("other" + std::to_string(i), i);  // evicts "k" from a cache of one entry
    for (int r = 0; r < 5; ++r) (void)cache.get("other" + std::to_string(i));
  }
  const bool evicted = !cache.get("k").has_value();
  std::atomic<bool> late_done{false};
  std::thread late([&] {
    if (evicted) after = cache.get_or_load("k", [](std::string_view) { return 2; });
    late_done = true;
  });
  const bool finished_alone = testing::eventually(10s, [&] { return late_done.load(); });
  release.set_value();
  leader.join();
  late.join();
  ASSERT_TRUE(evicted) << "the test needs the put's entry evicted";
  EXPECT_TRUE(finished_alone) << "the call after the put waited for the load before it";
  EXPECT_EQ(after, 2);
  EXPECT_EQ(first, 1);
  EXPECT_NE(cache.get("k"), std::optional<int>(1)) << "the load from before the put was cached";
}

TEST(LocalCache, StatsCountHitsMissesAndLoads) {
  auto clock = std::make_shared<ManualClock>();
  auto cache =
      LocalCacheBuilder<int>().maximum_size(100).expire_after_write(1h).clock(clock).build();
  cache.put("a", 1);
  (void)cache.get("a");
  (void)cache.get("a");
  (void)cache.get("b");
  (void)cache.get_or_load("c", [&](std::string_view) {
    clock->advance(3ms);
    return 3;
  });
  const auto s = cache.stats();
  EXPECT_EQ(s.hits, 2u);
  EXPECT_EQ(s.misses, 2u);  // "b", and "c" before its load
  EXPECT_EQ(s.load_successes, 1u);
  EXPECT_EQ(s.total_load_time, 3ms);
  EXPECT_DOUBLE_EQ(s.hit_ratio(), 0.5);
  EXPECT_EQ(s.entries, 2u);
}

class LocalCachePolicies : public ::testing::TestWithParam<PolicyKind> {};

TEST_P(LocalCachePolicies, HotKeysStayUnderChurn) {
  auto cache = LocalCacheBuilder<int>().maximum_size(1000).policy(GetParam()).build();
  for (int round = 0; round < 50; ++round) {
    for (int i = 0; i < 100; ++i) {
      const std::string key = "hot" + std::to_string(i);
      if (!cache.get(key)) cache.put(key, i);
    }
    for (int i = 0; i < 200; ++i) cache.put("cold" + std::to_string(round * 200 + i), i);
  }
  cache.cleanup();
  int hot = 0;
  for (int i = 0; i < 100; ++i) hot += cache.get("hot" + std::to_string(i)) ? 1 : 0;
  EXPECT_GE(hot, 95);
  EXPECT_LE(cache.size(), 1000u);
}

INSTANTIATE_TEST_SUITE_P(Policies, LocalCachePolicies,
                         ::testing::Values(PolicyKind::kWindowTinyLfu, PolicyKind::kLru),
                         [](const auto& param_info) {
                           return param_info.param == PolicyKind::kWindowTinyLfu ? "Strata" : "Lru";
                         });

TEST(LocalCache, ShardedCacheStaysWithinItsBound) {
  auto cache = LocalCacheBuilder<int>().maximum_size(64 * 1024).shards(16).build();
  for (int i = 0; i < 200'000; ++i) cache.put("k" + std::to_string(i), i);
  EXPECT_LE(cache.size(), 64u * 1024u);
  EXPECT_GT(cache.size(), 60u * 1024u);
}

}  // namespace
}  // namespace strata

namespace strata {
namespace {

// Issue 20: a put on a resident key builds a new entry that takes the old one's place in the
// policy (LRU: the update counts as a use), and the listener sees the old value replaced.
TEST(LocalCache, APutOnAResidentKeyReplacesTheEntryInItsPlace) {
  std::vector<std::string> removed;
  auto cache = LocalCacheBuilder<int>()
                   .maximum_size(3)
                   .shards(1)
                   .policy(PolicyKind::kLru)
                   .removal_listener([&](std::string_view key, const int& value, RemovalCause) {
                     removed.push_back(std::string(key) + "=" + std::to_string(value));
                   })
                   .build();
  cache.put("a", 1);
  cache.put("b", 2);
  cache.put("c", 3);
  cache.put("a", 10);  // a moves to the most recent end
  cache.put("d", 4);   // evicts b, the least recent
  EXPECT_EQ(cache.get("a"), 10);
  EXPECT_FALSE(cache.get("b").has_value());
  EXPECT_EQ(cache.get("c"), 3);
  EXPECT_EQ(cache.get("d"), 4);
  EXPECT_EQ(removed, (std::vector<std::string>{"a=1", "b=2"}));
  EXPECT_EQ(cache.size(), 3u);
  // Many replacements of one key, read back each time: the retired entries are reclaimed
  // (ASan checks that no freed entry is read) and the cache keeps one entry for the key.
  for (int i = 0; i < 10000; ++i) {
    cache.put("a", i);
    ASSERT_EQ(cache.get("a"), i);
  }
  EXPECT_EQ(cache.size(), 3u);
}

}  // namespace
}  // namespace strata
