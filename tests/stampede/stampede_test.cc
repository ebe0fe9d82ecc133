// Stampede protection against real servers (standalone and cluster), docs/stampede.md: the
// lease on a miss across processes (forked children), a lease holder killed with SIGKILL, the
// waiter's deadline fallback, owner-only release; XFetch's decision rule (statistical, fixed
// seed) and through the cache; stale-while-revalidate; past the hard TTL; stale-if-error within
// and beyond its bound; negative entries expiring in L1 and L2.
#include "strata/stampede/stampede.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
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

class Stampede : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (auto found = testing::find_server(GetParam().c_str())) {
      url_ = *found;
    } else if (testing::servers_required()) {
      FAIL() << testing::missing_server_message(GetParam().c_str());
    } else {
      GTEST_SKIP() << testing::missing_server_message(GetParam().c_str());
    }
    prefix_ = unique_name("test:stampede:") + ":";
  }
  std::string url_;
  std::string prefix_;
};

// Waits (polling, with eventually()'s liveness bound) until Redis no longer holds `key`.
[[nodiscard]] bool gone_eventually(RedisClient& redis, const std::string& key) {
  return testing::eventually([&] { return !redis.exists(key); });
}

// --- the lease across processes ----------------------------------------------------------------
// Each child process builds its own cache (its own single-flight) and runs several threads that
// miss the same key together (a start barrier in Redis); the loader counts itself with INCR.
// Each child publishes its lease_waits to Redis (a reporter thread), and the loader holds the
// lease until every other process is observed waiting on it: the overlap is forced, so the
// test shows exactly one load with kProcesses - 1 processes that waited, not a lucky schedule.
TEST_P(Stampede, LeaseGivesOneLoadAmongProcesses) {
  constexpr int kProcesses = 4;
  constexpr int kThreads = 8;
  const std::string ready = prefix_ + "ready";
  const std::string loads = prefix_ + "loads";
  const auto waits_key = [&](int p) { return prefix_ + "waits:" + std::to_string(p); };
  const auto total = [&](RedisClient& redis, const std::string& suffix) {
    int sum = 0;
    for (int p = 0; p < kProcesses; ++p) {
      sum += std::stoi(redis.get(prefix_ + suffix + std::to_string(p)).value_or("0"));
    }
    return sum;
  };
  std::vector<pid_t> children;
  for (int p = 0; p < kProcesses; ++p) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      int code = 0;
      try {
        RedisClient redis(url_);
        bool others_waited = false;
        auto cache = CacheBuilder<int>()
                         .remote(RedisClient(url_), {.ttl = 60s})
                         .key_prefix(prefix_)
                         .loader([&](std::string_view) -> std::optional<int> {
                           redis.incrby(loads, 1);
                           others_waited = testing::eventually(
                               [&] { return total(redis, "waits:") >= kProcesses - 1; });
                           return 42;
                         })
                         .lease({.ttl = 30s, .wait_deadline = 30s})
                         .build();
        std::atomic<bool> done{false};
        std::thread reporter([&] {
          RedisClient out(url_);
          std::uint64_t published = 0;
          while (!done) {
            const auto waits = cache.stats().stampede.lease_waits;
            if (waits != published) {
              out.set(waits_key(p), std::to_string(waits));
              published = waits;
            }
            std::this_thread::sleep_for(1ms);  // a poll interval, not a synchronisation
          }
        });
        redis.incrby(ready, 1);
        while (std::stoi(redis.get(ready).value_or("0")) < kProcesses) {
          std::this_thread::sleep_for(1ms);
        }
        std::atomic<int> wrong{0};
        std::vector<std::thread> threads;
        for (int t = 0; t < kThreads; ++t) {
          threads.emplace_back([&] {
            if (cache.get("hot") != 42) ++wrong;
          });
        }
        for (auto& thread : threads) thread.join();
        done = true;
        reporter.join();
        if (wrong != 0) code = 1;
        if (cache.stats().stampede.lease_timeouts != 0) code = 2;
        if (cache.stats().stampede.lease_acquired == 1 && !others_waited) code = 4;
      } catch (...) {
        code = 3;
      }
      ::_exit(code);
    }
    children.push_back(pid);
  }
  for (const pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
  }
  RedisClient redis(url_);
  EXPECT_EQ(redis.get(loads), "1");
  EXPECT_EQ(total(redis, "waits:"), kProcesses - 1);  // every other process waited on the lease
  // The holder's fill replaced its lease (the placeholder in the value's key) with the value.
  const auto held = redis.get(prefix_ + "hot");
  ASSERT_TRUE(held.has_value());
  EXPECT_FALSE(is_fill_placeholder(*held));
}

// A child takes the lease and is killed with SIGKILL in the middle of its load; this process
// waits, and proceeds when the lease expires: it takes the lease and loads.
TEST_P(Stampede, LeaseOfAKilledHolderExpires) {
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(pipe_fds[0]);
    try {
      auto cache = CacheBuilder<int>()
                       .remote(RedisClient(url_), {.ttl = 60s})
                       .key_prefix(prefix_)
                       .loader([&](std::string_view) -> std::optional<int> {
                         const char byte = 'L';
                         (void)!::write(pipe_fds[1], &byte, 1);  // "I hold the lease"
                         std::this_thread::sleep_for(60s);       // killed here
                         return 1;
                       })
                       .lease({.ttl = 800ms, .wait_deadline = 30s})
                       .build();
      (void)cache.get("hot");
    } catch (...) {
    }
    ::_exit(0);
  }
  ::close(pipe_fds[1]);
  char byte = 0;
  ASSERT_EQ(::read(pipe_fds[0], &byte, 1), 1);
  ::close(pipe_fds[0]);
  RedisClient redis(url_);
  const auto lease = redis.get(prefix_ + "hot");  // the lease is a placeholder in the value's key
  ASSERT_TRUE(lease.has_value() && is_fill_placeholder(*lease));
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status));

  int loads = 0;
  auto cache = CacheBuilder<int>()
                   .remote(RedisClient(url_), {.ttl = 60s})
                   .key_prefix(prefix_)
                   .loader([&](std::string_view) -> std::optional<int> {
                     ++loads;
                     return 2;
                   })
                   .lease({.ttl = 800ms, .wait_deadline = 30s})
                   .build();
  EXPECT_EQ(cache.get("hot"), 2);
  EXPECT_EQ(loads, 1);
  const auto s = cache.stats().stampede;
  EXPECT_EQ(s.lease_waits, 1u);     // it found the dead holder's lease...
  EXPECT_EQ(s.lease_acquired, 1u);  // ...and took it once it expired
  EXPECT_EQ(s.lease_timeouts, 0u);  // not through the deadline fallback
}

// A waiter whose deadline passes loads itself (the textbook's fallback); the holder's release
// never deletes a lease that is no longer its own.
TEST_P(Stampede, WaiterFallsBackAtItsDeadlineAndOnlyTheOwnerReleases) {
  std::mutex mutex;
  std::condition_variable cv;
  bool holder_loading = false;
  bool release_holder = false;
  std::atomic<int> loads{0};
  auto holder = CacheBuilder<int>()
                    .remote(RedisClient(url_), {.ttl = 60s})
                    .key_prefix(prefix_)
                    .loader([&](std::string_view) -> std::optional<int> {
                      ++loads;
                      std::unique_lock lock(mutex);
                      holder_loading = true;
                      cv.notify_all();
                      cv.wait(lock, [&] { return release_holder; });
                      return 1;
                    })
                    .lease({.ttl = 30s, .wait_deadline = 30s})
                    .build();
  auto waiter = CacheBuilder<int>()
                    .remote(RedisClient(url_), {.ttl = 60s})
                    .key_prefix(prefix_)
                    .loader([&](std::string_view) -> std::optional<int> {
                      ++loads;
                      return 2;
                    })
                    .lease({.ttl = 30s, .wait_deadline = 100ms})
                    .build();
  std::thread holding([&] { EXPECT_EQ(holder.get("hot"), 1); });
  {
    std::unique_lock lock(mutex);
    cv.wait(lock, [&] { return holder_loading; });
  }
  EXPECT_EQ(waiter.get("hot"), 2);  // waited 100 ms, then loaded itself
  EXPECT_EQ(waiter.stats().stampede.lease_waits, 1u);
  EXPECT_EQ(waiter.stats().stampede.lease_timeouts, 1u);
  // Someone else now holds the lease (as if the holder's had expired and another process had
  // taken it: its placeholder is in the value's key): the holder's fill and release must leave
  // it alone.
  RedisClient redis(url_);
  const std::string lock_key = holder.remote_key("hot");
  const std::string other = std::string(kFillPlaceholderPrefix) + "another-owner";
  redis.set(lock_key, other, {.ttl = 30s});
  {
    std::lock_guard lock(mutex);
    release_holder = true;
  }
  cv.notify_all();
  holding.join();
  EXPECT_EQ(loads, 2);
  EXPECT_EQ(redis.get(lock_key), other);
  EXPECT_EQ(holder.stats().stampede.lease_acquired, 1u);
}

// --- XFetch -------------------------------------------------------------------------------------
// The decision rule alone: the share of readers that recompute rises as expiry approaches, close
// to exp(-gap / (delta * beta)). Fixed seed: deterministic.
TEST(XFetchRule, EarlyRefreshProbabilityRisesAsExpiryApproaches) {
  std::mt19937_64 rng(20150831);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  const std::chrono::milliseconds delta(100);
  const std::chrono::milliseconds expiry(1'000'000);
  constexpr int kSamples = 20000;
  double previous = -1;
  for (const double gap_in_deltas : {8.0, 4.0, 2.0, 1.0, 0.5, 0.1}) {
    const auto gap = std::chrono::milliseconds(static_cast<long>(gap_in_deltas * 100));
    int refresh = 0;
    for (int i = 0; i < kSamples; ++i) {
      refresh += xfetch_should_refresh(expiry - gap, expiry, delta, 1.0, 1.0 - uniform(rng));
    }
    const double p = static_cast<double>(refresh) / kSamples;
    EXPECT_NEAR(p, std::exp(-gap_in_deltas), 0.03) << "gap " << gap_in_deltas << " deltas";
    EXPECT_GT(p, previous) << "gap " << gap_in_deltas << " deltas";
    previous = p;
  }
  // At and after expiry always; never with u = 1 before it; beta scales the horizon.
  EXPECT_TRUE(xfetch_should_refresh(expiry, expiry, delta, 1.0, 1.0));
  EXPECT_FALSE(xfetch_should_refresh(expiry - 1ms, expiry, delta, 1.0, 1.0));
  EXPECT_TRUE(xfetch_should_refresh(expiry - 150ms, expiry, delta, 2.0, std::exp(-1.0)));
  EXPECT_FALSE(xfetch_should_refresh(expiry - 150ms, expiry, delta, 1.0, std::exp(-1.0)));
}

// Through the cache: reads of an L2 value at shrinking distances from its hard expiry trigger
// more and more early refreshes (the compute time, 1 s, measured by the loader on the clock).
TEST_P(Stampede, XFetchTriggersMoreOftenNearExpiry) {
  auto clock = std::make_shared<ManualClock>();
  auto executor = std::make_shared<ManualExecutor>();
  auto cache = CacheBuilder<int>()
                   .remote(RedisClient(url_), {.ttl = 60s, .ttl_jitter = 0})
                   .key_prefix(prefix_)
                   .loader([&](std::string_view) -> std::optional<int> {
                     clock->advance(1s);  // the recompute takes delta = 1 s
                     return 7;
                   })
                   .xfetch({.beta = 1.0, .seed = 1234})
                   .clock(clock)
                   .executor(executor)
                   .build();
  ASSERT_EQ(cache.get("hot"), 7);
  RedisClient redis(url_);
  const auto stored = ValueFormat<int>::envelope().decode(*redis.get(cache.remote_key("hot")));
  ASSERT_TRUE(stored.times && stored.times->hard_expiry);
  EXPECT_EQ(stored.times->compute_time, 1s);
  const auto expiry = stored.times->hard_expiry->time_since_epoch();
  constexpr int kReads = 400;
  std::vector<double> shares;
  for (const std::chrono::milliseconds gap : {20000ms, 3000ms, 1000ms, 200ms}) {
    clock->set(std::chrono::duration_cast<std::chrono::nanoseconds>(expiry - gap));
    const auto before = cache.stats().stampede.early_refreshes;
    for (int i = 0; i < kReads; ++i) ASSERT_EQ(cache.get("hot"), 7);
    shares.push_back(static_cast<double>(cache.stats().stampede.early_refreshes - before) / kReads);
  }
  EXPECT_EQ(shares[0], 0.0);   // exp(-20): none in 400
  EXPECT_LT(shares[1], 0.15);  // exp(-3) = 0.05
  EXPECT_GT(shares[2], 0.2);   // exp(-1) = 0.37
  EXPECT_LT(shares[2], 0.55);
  EXPECT_GT(shares[3], 0.65);  // exp(-0.2) = 0.82
  EXPECT_LT(shares[1], shares[2]);
  EXPECT_LT(shares[2], shares[3]);
  // One refresh was scheduled (one per key at a time), nothing was reloaded yet: readers kept
  // being served the current value.
  EXPECT_EQ(executor->pending(), 1u);
  EXPECT_EQ(cache.stats().source.loads, 1u);
}

// Two "processes" (caches sharing L2) decide to recompute early: the one that runs first wins
// the refresh lease and reloads, the other finds the newer value and does not load.
TEST_P(Stampede, XFetchRecomputesOnceAcrossProcesses) {
  auto clock = std::make_shared<ManualClock>();
  std::atomic<int> loads{0};
  std::atomic<int> version{1};
  auto make = [&](std::shared_ptr<ManualExecutor> executor) {
    return CacheBuilder<int>()
        .remote(RedisClient(url_), {.ttl = 60s, .ttl_jitter = 0})
        .key_prefix(prefix_)
        .loader([&](std::string_view) -> std::optional<int> {
          ++loads;
          clock->advance(1s);
          return version.load();
        })
        .xfetch({.random = [] { return 1e-30; }})  // -ln(u) = 69: always early
        .clock(clock)
        .executor(std::move(executor))
        .build();
  };
  auto ex_a = std::make_shared<ManualExecutor>();
  auto ex_b = std::make_shared<ManualExecutor>();
  auto a = make(ex_a);
  auto b = make(ex_b);
  ASSERT_EQ(a.get("hot"), 1);
  version = 2;
  clock->advance(1s);
  EXPECT_EQ(a.get("hot"), 1);  // served at once, refresh scheduled
  EXPECT_EQ(b.get("hot"), 1);
  EXPECT_EQ(a.stats().stampede.early_refreshes, 1u);
  EXPECT_EQ(b.stats().stampede.early_refreshes, 1u);
  EXPECT_EQ(ex_a->run_all(), 1u);
  EXPECT_EQ(loads, 2);
  EXPECT_EQ(ex_b->run_all(), 1u);
  EXPECT_EQ(loads, 2);  // b found a value computed after the one it saw
  EXPECT_EQ(b.get("hot"), 2);
}

// --- stale-while-revalidate
// ----------------------------------------------------------------------- Past the soft TTL every
// reader of every process is served the stale value at once, and one refresh (one process, through
// the refresh lease) reloads it.
TEST_P(Stampede, StaleWhileRevalidateServesStaleAndRefreshesOnce) {
  auto clock = std::make_shared<ManualClock>();
  std::atomic<int> loads{0};
  std::atomic<int> version{1};
  auto make = [&](std::shared_ptr<ManualExecutor> executor) {
    return CacheBuilder<int>()
        .remote(RedisClient(url_), {.ttl = 60s})
        .key_prefix(prefix_)
        .loader([&](std::string_view) -> std::optional<int> {
          ++loads;
          return version.load();
        })
        .refresh_after(10s)  // the soft TTL; the remote ttl is the hard one
        .clock(clock)
        .executor(std::move(executor))
        .build();
  };
  auto ex_a = std::make_shared<ManualExecutor>();
  auto ex_b = std::make_shared<ManualExecutor>();
  auto a = make(ex_a);
  auto b = make(ex_b);
  ASSERT_EQ(a.get("hot"), 1);
  version = 2;
  clock->advance(15s);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(a.get("hot"), 1);
    EXPECT_EQ(b.get("hot"), 1);
  }
  EXPECT_EQ(a.stats().stampede.stale_served, 5u);
  EXPECT_EQ(b.stats().stampede.stale_served, 5u);
  EXPECT_EQ(ex_a->run_all(), 1u);  // one refresh per key per process...
  EXPECT_EQ(ex_b->run_all(), 1u);
  EXPECT_EQ(loads, 2);  // ...and one load across both
  EXPECT_EQ(a.get("hot"), 2);
  EXPECT_EQ(b.get("hot"), 2);
}

// Past the hard TTL (Redis expired the key) a read is a miss: it loads.
TEST_P(Stampede, PastTheHardTtlIsAMiss) {
  std::atomic<int> loads{0};
  auto cache = CacheBuilder<int>()
                   .remote(RedisClient(url_), {.ttl = 300ms})
                   .key_prefix(prefix_)
                   .loader([&](std::string_view) -> std::optional<int> { return ++loads; })
                   .refresh_after(100ms)
                   .build();
  ASSERT_EQ(cache.get("hot"), 1);
  RedisClient redis(url_);
  ASSERT_TRUE(gone_eventually(redis, cache.remote_key("hot")));
  EXPECT_EQ(cache.get("hot"), 2);
  EXPECT_EQ(cache.stats().source.loads, 2u);
}

// --- stale-if-error ------------------------------------------------------------------------------
TEST_P(Stampede, StaleIfErrorWithinAndBeyondItsBound) {
  auto clock = std::make_shared<ManualClock>();
  auto store = std::make_shared<ControlledStore>();
  store->set("u", make_user(1));
  auto cache = CacheBuilder<User>()
                   .remote(RedisClient(url_), {.ttl = 10s, .ttl_jitter = 0})
                   .key_prefix(prefix_)
                   .source(testing::controlled_source(store))
                   .stale_if_error(20s)
                   .lease({})
                   .clock(clock)
                   .build();
  ASSERT_EQ(cache.get("u"), make_user(1));
  RedisClient redis(url_);
  EXPECT_GT(redis.pttl(cache.remote_key("u")), 10s);  // kept past the hard TTL for the bound
  clock->advance(15s);                                // past the hard TTL, within the bound
  {
    store->fail_loads = true;  // get_many goes to the source, which fails: the stale value
    const std::vector<std::string> keys{"u"};
    EXPECT_EQ(cache.get_many(keys)[0], make_user(1));
  }
  EXPECT_EQ(cache.stats().source.load_errors, 1u);
  EXPECT_EQ(cache.stats().stampede.stale_if_error_served, 1u);
  EXPECT_EQ(cache.get("u"), make_user(1));  // the source failed: the stale value is served
  EXPECT_EQ(cache.stats().stampede.stale_if_error_served, 2u);
  EXPECT_EQ(cache.stats().source.load_errors, 2u);
  store->fail_loads = false;
  store->set("u", make_user(2));
  EXPECT_EQ(cache.get("u"), make_user(2));  // past the hard TTL it is a miss when the source works
  clock->advance(31s);  // the new value: past its hard TTL (10 s) and beyond the bound (20 s)
  store->fail_loads = true;
  EXPECT_THROW((void)cache.get("u"), UnavailableError);
  EXPECT_EQ(cache.stats().stampede.stale_if_error_served, 2u);
  EXPECT_EQ(cache.stats().source.load_errors, 3u);
}

// --- negative caching expires --------------------------------------------------------------------
TEST_P(Stampede, NegativeEntriesExpireInL2) {
  std::atomic<int> loads{0};
  auto cache = CacheBuilder<int>()
                   .remote(RedisClient(url_), {.ttl = 60s})
                   .key_prefix(prefix_)
                   .loader([&](std::string_view) -> std::optional<int> {
                     ++loads;
                     return std::nullopt;
                   })
                   .negative_ttl(300ms)
                   .build();
  EXPECT_EQ(cache.get("missing"), std::nullopt);
  EXPECT_EQ(cache.get("missing"), std::nullopt);
  EXPECT_EQ(loads, 1);  // the second read was answered by the negative marker
  RedisClient redis(url_);
  const auto ttl = redis.pttl(cache.remote_key("missing"));
  EXPECT_GT(ttl, 0ms);
  EXPECT_LE(ttl, 300ms);
  ASSERT_TRUE(gone_eventually(redis, cache.remote_key("missing")));
  EXPECT_EQ(cache.get("missing"), std::nullopt);
  EXPECT_EQ(loads, 2);
}

INSTANTIATE_TEST_SUITE_P(
    Redis, Stampede, ::testing::Values("STRATA_TEST_REDIS_URL", "STRATA_TEST_REDIS_CLUSTER_URL"),
    [](const ::testing::TestParamInfo<std::string>& param_info) {
      return std::string(param_info.param == "STRATA_TEST_REDIS_URL" ? "Standalone" : "Cluster");
    });

TEST(StampedeL1, NegativeEntriesExpireInL1) {
  auto clock = std::make_shared<ManualClock>();
  int loads = 0;
  auto cache = CacheBuilder<int>()
                   .local({.maximum_size = 10, .ttl = 60s})
                   .loader([&](std::string_view) -> std::optional<int> {
                     ++loads;
                     return std::nullopt;
                   })
                   .negative_ttl(5s)
                   .clock(clock)
                   .build();
  EXPECT_EQ(cache.get("missing"), std::nullopt);
  EXPECT_EQ(cache.get("missing"), std::nullopt);
  EXPECT_EQ(loads, 1);
  EXPECT_EQ(cache.stats().negative_hits, 1u);
  clock->advance(4s);
  EXPECT_EQ(cache.get("missing"), std::nullopt);
  EXPECT_EQ(loads, 1);
  clock->advance(2s);  // 6 s > negative_ttl, < the value ttl
  EXPECT_EQ(cache.get("missing"), std::nullopt);
  EXPECT_EQ(loads, 2);
}

TEST(StampedeBuilder, ValidatesEachOption) {
  const auto expect_invalid = [](auto&& build, const std::string& what) {
    try {
      build();
      ADD_FAILURE() << "expected InvalidArgumentError naming " << what;
    } catch (const InvalidArgumentError& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  expect_invalid([] { CacheBuilder<int>().lease({.ttl = 0ms}); }, "lease: ttl");
  expect_invalid([] { CacheBuilder<int>().lease({.wait_deadline = 0ms}); }, "wait_deadline");
  expect_invalid([] { CacheBuilder<int>().lease({.initial_backoff = 10ms, .max_backoff = 5ms}); },
                 "max_backoff");
  expect_invalid([] { CacheBuilder<int>().xfetch({.beta = 0}); }, "beta");
  expect_invalid([] { CacheBuilder<int>().stale_if_error(0ms); }, "stale_if_error");
  expect_invalid([] { (void)CacheBuilder<int>().local({.maximum_size = 1}).lease({}).build(); },
                 "lease needs remote");
  expect_invalid(
      [] {
        (void)CacheBuilder<int>()
            .local({.maximum_size = 1})
            .loader([](std::string_view) { return std::optional<int>(1); })
            .xfetch()
            .build();
      },
      "xfetch needs remote");
  expect_invalid(
      [] {
        (void)CacheBuilder<int>()
            .remote(RedisClient("redis://127.0.0.1:1"))
            .format(ValueFormat<int>::plain_json())
            .stale_if_error(1s)
            .build();
      },
      "stale_if_error needs remote() with the envelope");
}

}  // namespace
}  // namespace strata
