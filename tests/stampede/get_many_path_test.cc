// get_many goes through get's per-key logic for what it finds in L2 (issue 15): XFetch,
// stale-while-revalidate (counted, from L2 and from L1), stale-if-error, the hard expiry,
// negative markers, corrupted values. And the hard expiry on every path (issue 16 item 6): a value
// past its envelope's hard expiry is never returned, whatever its Redis TTL, L1 fills included.
// Against real Redis (standalone and cluster).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cache/cache_fixtures.h"
#include "strata/cache/cache.h"
#include "strata/codec/json.h"
#include "support/test_servers.h"
#include "support/unique.h"

namespace strata {
namespace {

using namespace std::chrono_literals;
using testing::ControlledStore;
using testing::make_user;
using testing::unique_name;
using testing::User;

class GetManyPath : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (auto found = testing::find_server(GetParam().c_str())) {
      url_ = *found;
    } else if (testing::servers_required()) {
      FAIL() << testing::missing_server_message(GetParam().c_str());
    } else {
      GTEST_SKIP() << testing::missing_server_message(GetParam().c_str());
    }
    prefix_ = unique_name("test:getmany") + ":";
  }
  // A manual clock at the current wall-clock time (envelope times are read from it).
  static std::shared_ptr<ManualClock> make_clock() {
    auto clock = std::make_shared<ManualClock>();
    clock->set(std::chrono::duration_cast<std::chrono::nanoseconds>(
        std::chrono::system_clock::now().time_since_epoch()));
    return clock;
  }
  // The envelope time of the injected clock (the cache's wall clock when a clock is injected).
  static EnvelopeTime wall(const ManualClock& clock) {
    return EnvelopeTime(std::chrono::duration_cast<std::chrono::microseconds>(clock.now()));
  }
  std::string url_;
  std::string prefix_;
};

const std::vector<std::string> kHot{"hot"};

TEST_P(GetManyPath, AppliesXFetch) {
  auto clock = make_clock();
  auto executor = std::make_shared<ManualExecutor>();
  std::atomic<int> loads{0};
  auto cache = CacheBuilder<int>()
                   .remote(RedisClient(url_), {.ttl = 60s, .ttl_jitter = 0})
                   .key_prefix(prefix_)
                   .loader([&](std::string_view) -> std::optional<int> {
                     ++loads;
                     clock->advance(1s);
                     return 7;
                   })
                   .xfetch({.random = [] { return 1e-30; }})  // -ln(u) = 69: always early
                   .clock(clock)
                   .executor(executor)
                   .build();
  ASSERT_EQ(cache.get("hot"), 7);
  clock->advance(1s);
  const auto values = cache.get_many(kHot);
  ASSERT_EQ(values.size(), 1u);
  EXPECT_EQ(values[0], 7);  // served at once...
  EXPECT_EQ(cache.stats().stampede.early_refreshes, 1u);
  EXPECT_EQ(executor->pending(), 1u);  // ...with one refresh scheduled
  EXPECT_EQ(loads, 1);
}

TEST_P(GetManyPath, CountsStaleServesFromL2) {
  auto clock = make_clock();
  auto executor = std::make_shared<ManualExecutor>();
  auto cache = CacheBuilder<int>()
                   .remote(RedisClient(url_), {.ttl = 60s})
                   .key_prefix(prefix_)
                   .loader([](std::string_view) -> std::optional<int> { return 1; })
                   .refresh_after(10s)
                   .clock(clock)
                   .executor(executor)
                   .build();
  ASSERT_EQ(cache.get("hot"), 1);
  clock->advance(15s);  // past the soft TTL
  EXPECT_EQ(cache.get_many(kHot)[0], 1);
  EXPECT_EQ(cache.stats().stampede.stale_served, 1u);
  EXPECT_EQ(executor->pending(), 1u);
}

TEST_P(GetManyPath, CountsStaleServesFromL1) {
  auto clock = make_clock();
  auto executor = std::make_shared<ManualExecutor>();
  auto cache = CacheBuilder<int>()
                   .local({.maximum_size = 100, .ttl = 60s})
                   .remote(RedisClient(url_), {.ttl = 120s})
                   .key_prefix(prefix_)
                   .loader([](std::string_view) -> std::optional<int> { return 1; })
                   .refresh_after(10s)
                   .clock(clock)
                   .executor(executor)
                   .build();
  ASSERT_EQ(cache.get("hot"), 1);
  clock->advance(55s);  // within L1's stale window (ttl - refresh_after)
  EXPECT_EQ(cache.get_many(kHot)[0], 1);
  EXPECT_EQ(cache.stats().l1.hits, 1u);
  EXPECT_EQ(cache.stats().stampede.stale_served, 1u);
  EXPECT_EQ(executor->pending(), 1u);
}

TEST_P(GetManyPath, ServesStaleIfError) {
  auto clock = make_clock();
  auto store = std::make_shared<ControlledStore>();
  store->set("u", make_user(1));
  auto cache = CacheBuilder<User>()
                   .remote(RedisClient(url_), {.ttl = 10s, .ttl_jitter = 0})
                   .key_prefix(prefix_)
                   .source(testing::controlled_source(store))
                   .stale_if_error(20s)
                   .clock(clock)
                   .build();
  ASSERT_EQ(cache.get("u"), make_user(1));
  clock->advance(15s);  // past the hard TTL, within the bound
  store->fail_loads = true;
  const std::vector<std::string> keys{"u"};
  const auto values = cache.get_many(keys);
  EXPECT_EQ(values[0], make_user(1));
  EXPECT_EQ(cache.stats().stampede.stale_if_error_served, 1u);
  EXPECT_EQ(cache.stats().source.load_errors, 1u);
  clock->advance(20s);  // beyond the bound: the error reaches the caller
  EXPECT_THROW((void)cache.get_many(keys), UnavailableError);
  EXPECT_EQ(cache.stats().stampede.stale_if_error_served, 1u);
}

// A value whose envelope says it expired, with a long Redis TTL (written by another process,
// whose clock or TTL differ): a miss for get_many and get, without stale-if-error.
TEST_P(GetManyPath, NeverServesPastTheHardExpiry) {
  auto clock = make_clock();
  std::atomic<int> loads{0};
  auto cache = CacheBuilder<int>()
                   .remote(RedisClient(url_), {.ttl = 60s, .ttl_jitter = 0})
                   .key_prefix(prefix_)
                   .loader([&](std::string_view) -> std::optional<int> {
                     ++loads;
                     return 9;
                   })
                   .clock(clock)
                   .build();
  RedisClient redis(url_);
  const EnvelopeTimes expired{.computed_at = wall(*clock) - 120s, .hard_expiry = wall(*clock) - 1s};
  const std::string bytes = ValueFormat<int>::envelope().encode(5, expired);
  redis.set(cache.remote_key("hot"), bytes, {.ttl = 60s});
  EXPECT_EQ(cache.get_many(kHot)[0], 9);
  EXPECT_EQ(loads, 1);
  redis.set(cache.remote_key("hot"), bytes, {.ttl = 60s});
  EXPECT_EQ(cache.get("hot"), 9);
  EXPECT_EQ(loads, 2);
  // Cache-only reads too.
  auto reader = CacheBuilder<int>()
                    .remote(RedisClient(url_), {.ttl = 60s})
                    .key_prefix(prefix_)
                    .clock(clock)
                    .build();
  redis.set(cache.remote_key("hot"), bytes, {.ttl = 60s});
  EXPECT_EQ(reader.get("hot"), std::nullopt);
  EXPECT_EQ(reader.get_many(kHot)[0], std::nullopt);
}

// An L1 fill from L2 lives no longer than the value's hard expiry, however long the L1's TTL.
TEST_P(GetManyPath, L1FillsEndAtTheHardExpiry) {
  auto clock = make_clock();
  std::atomic<int> loads{0};
  auto cache = CacheBuilder<int>()
                   .local({.maximum_size = 100, .ttl = 1h})
                   .remote(RedisClient(url_), {.ttl = 2h, .ttl_jitter = 0})
                   .key_prefix(prefix_)
                   .loader([&](std::string_view) -> std::optional<int> {
                     ++loads;
                     return 9;
                   })
                   .clock(clock)
                   .build();
  RedisClient redis(url_);
  const EnvelopeTimes soon{.computed_at = wall(*clock), .hard_expiry = wall(*clock) + 1s};
  const std::string bytes = ValueFormat<int>::envelope().encode(5, soon);
  redis.set(cache.remote_key("a"), bytes, {.ttl = 60s});
  redis.set(cache.remote_key("b"), bytes, {.ttl = 60s});
  EXPECT_EQ(cache.get("a"), 5);                                    // get's L1 fill
  EXPECT_EQ(cache.get_many(std::vector<std::string>{"b"})[0], 5);  // get_many's
  EXPECT_EQ(cache.get("a"), 5);                                    // from L1
  EXPECT_EQ(cache.stats().l1.hits, 1u);
  clock->advance(2s);
  EXPECT_EQ(cache.get("a"), 9);
  EXPECT_EQ(cache.get_many(std::vector<std::string>{"b"})[0], 9);
  EXPECT_EQ(loads, 2);
}

// A negative marker found in L2 by get_many fills L1 as get's does.
TEST_P(GetManyPath, CachesNegativeMarkersInL1) {
  std::atomic<int> loads{0};
  auto make = [&] {
    return CacheBuilder<int>()
        .local({.maximum_size = 100, .ttl = 60s})
        .remote(RedisClient(url_), {.ttl = 60s})
        .key_prefix(prefix_)
        .loader([&](std::string_view) -> std::optional<int> {
          ++loads;
          return std::nullopt;
        })
        .negative_ttl(60s)
        .build();
  };
  auto a = make();
  EXPECT_EQ(a.get_many(kHot)[0], std::nullopt);  // loads, fills L2 with the marker
  auto b = make();
  EXPECT_EQ(b.get_many(kHot)[0], std::nullopt);  // the marker from L2, kept in L1
  EXPECT_EQ(b.get_many(kHot)[0], std::nullopt);  // from L1
  EXPECT_EQ(loads, 1);
  EXPECT_EQ(b.stats().l1.hits, 1u);
  EXPECT_EQ(b.stats().negative_hits, 2u);
}

// Envelope corruption on the get_many path: deleted, counted, loaded and refilled (as get).
TEST_P(GetManyPath, DeletesCorruptedValues) {
  auto cache = CacheBuilder<int>()
                   .remote(RedisClient(url_), {.ttl = 60s})
                   .key_prefix(prefix_)
                   .loader([](std::string_view) -> std::optional<int> { return 3; })
                   .build();
  RedisClient redis(url_);
  redis.set(cache.remote_key("hot"), "garbage", {.ttl = 60s});
  EXPECT_EQ(cache.get_many(kHot)[0], 3);
  EXPECT_EQ(cache.stats().l2.corrupted, 1u);
  EXPECT_EQ(ValueFormat<int>::envelope().decode(*redis.get(cache.remote_key("hot"))).value, 3);
}

// Plain JSON (issue 16, "Also"): a value of another shape is another program's: a miss, counted
// as foreign, left in place (not deleted, not filled over), on get and get_many; deleted only
// with delete_foreign_values(true).
TEST_P(GetManyPath, PlainJsonLeavesForeignValues) {
  auto store = std::make_shared<ControlledStore>();
  store->set("u", make_user(1));
  store->set("v", make_user(2));
  auto make = [&](bool delete_foreign) {
    return CacheBuilder<User>()
        .local({.maximum_size = 100, .ttl = 60s})
        .remote(RedisClient(url_), {.ttl = 60s})
        .format(ValueFormat<User>::plain_json())
        .key_prefix(prefix_)
        .source(testing::controlled_source(store))
        .delete_foreign_values(delete_foreign)
        .build();
  };
  auto cache = make(false);
  RedisClient redis(url_);
  const std::string foreign = "[1,2,3]";
  redis.set(cache.remote_key("u"), foreign, {.ttl = 60s});
  redis.set(cache.remote_key("v"), foreign, {.ttl = 60s});
  EXPECT_EQ(cache.get("u"), make_user(1));
  EXPECT_EQ(cache.get_many(std::vector<std::string>{"v"})[0], make_user(2));
  EXPECT_EQ(cache.stats().l2.foreign, 2u);
  EXPECT_EQ(cache.stats().l2.corrupted, 0u);
  EXPECT_EQ(redis.get(cache.remote_key("u")), foreign);
  EXPECT_EQ(redis.get(cache.remote_key("v")), foreign);
  EXPECT_EQ(cache.get("u"), make_user(1));  // not kept in L1 either: L2 is the other program's
  EXPECT_EQ(cache.stats().l2.foreign, 3u);

  auto deleting = make(true);
  EXPECT_EQ(deleting.get("u"), make_user(1));
  EXPECT_EQ(deleting.stats().l2.foreign, 1u);
  EXPECT_NE(redis.get(cache.remote_key("u")), foreign);  // deleted (then filled from the source)
}

INSTANTIATE_TEST_SUITE_P(
    Redis, GetManyPath, ::testing::Values("STRATA_TEST_REDIS_URL", "STRATA_TEST_REDIS_CLUSTER_URL"),
    [](const ::testing::TestParamInfo<std::string>& param_info) {
      return std::string(param_info.param == "STRATA_TEST_REDIS_URL" ? "Standalone" : "Cluster");
    });

}  // namespace
}  // namespace strata
