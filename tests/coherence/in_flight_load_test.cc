// The in-flight-load invalidation race at the Cache level, forced deterministically as the
// cache-aside race test does (tests/cache/cache_behaviour_test.cc): instance B misses a key and
// its load reads the OLD row; inside that load (the source's after_read hook) instance A writes
// the new row through, and the hook waits until B has observably received the invalidation
// (tracking: B's keys_invalidated; bus: B's bus received a message). Only then does B's load
// return the old row. B's L1 must not keep it: B's next read sees the new row. The negative
// control runs the same interleaving without coherence and shows B's L1 keeps the stale row.
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>

#include "cache/cache_fixtures.h"
#include "strata/cache/cache.h"
#include "strata/coherence/redis_tracking.h"
#include "strata/invalidation/invalidation.h"
#include "support/eventually.h"
#include "support/test_servers.h"
#include "support/unique.h"

namespace strata {
namespace {

using namespace std::chrono_literals;
using testing::ControlledStore;
using testing::make_user;
using testing::User;

enum class Mode { kNone, kTracking, kBus };

struct Instance {
  std::shared_ptr<InvalidationBus> bus;  // kBus only
  std::optional<Cache<User>> cache;
};

Instance make_instance(Mode mode, const std::string& url, const std::string& prefix,
                       const std::string& channel, std::shared_ptr<ControlledStore> store) {
  Instance i;
  CacheBuilder<User> builder;
  builder.local({.maximum_size = 100, .ttl = 10min})
      .remote(RedisClient(url), {.ttl = 10min})
      .source(testing::controlled_source(std::move(store)))
      .key_prefix(prefix)
      .write_mode(WriteMode::kWriteThrough);
  if (mode == Mode::kTracking) builder.coherence(L1Coherence::kTracking);
  if (mode == Mode::kBus) {
    InvalidationBusOptions options;
    options.channel = channel;
    i.bus = std::make_shared<InvalidationBus>(url, options);
    EXPECT_TRUE(i.bus->wait_connected(testing::kEventuallyLimit));
    builder.coherence(L1Coherence::kBus).invalidation_bus(i.bus);
  }
  i.cache.emplace(builder.build());
  return i;
}

// What B reads after the race: from its L1 if it kept the row its load read, else fresh.
User run_race(Mode mode, const std::string& url) {
  const std::string prefix = testing::unique_prefix();
  const std::string k = "user-7";
  auto store = std::make_shared<ControlledStore>();  // the shared source of record
  store->set(k, make_user(1));
  Instance a = make_instance(mode, url, prefix, prefix + "bus", store);
  Instance b = make_instance(mode, url, prefix, prefix + "bus", store);
  bool raced = false;
  bool delivered = false;
  store->after_read = [&](std::string_view key) {
    if (raced) return;  // only B's first load
    raced = true;
    const auto seen_tracking =
        mode == Mode::kTracking ? b.cache->redis_tracking()->stats().keys_invalidated : 0;
    const auto seen_bus = mode == Mode::kBus ? b.bus->stats().received : 0;
    a.cache->put(key, make_user(2));  // A writes through (source, then L2), while B holds v1
    switch (mode) {
      case Mode::kNone:
        delivered = true;  // nothing to deliver
        break;
      case Mode::kTracking:
        delivered = testing::eventually(
            [&] { return b.cache->redis_tracking()->stats().keys_invalidated > seen_tracking; });
        break;
      case Mode::kBus:
        delivered = testing::eventually([&] { return b.bus->stats().received > seen_bus; });
        break;
    }
  };
  EXPECT_EQ(b.cache->get(k), make_user(1));  // B's load read the row before A's write
  EXPECT_TRUE(raced);
  EXPECT_TRUE(delivered) << "the invalidation never reached B while its load was in flight";
  store->after_read = nullptr;
  const auto second = b.cache->get(k);
  EXPECT_TRUE(second.has_value());
  return second.value_or(User{});
}

class InFlightLoad : public ::testing::TestWithParam<const char*> {
 protected:
  std::string url_;
  void SetUp() override {
    STRATA_SERVER_URL(url, GetParam());
    url_ = url;
  }
};

TEST_P(InFlightLoad, TrackingInvalidationDuringALoadLeavesNoStaleL1Value) {
  EXPECT_EQ(run_race(Mode::kTracking, url_), make_user(2));
}

TEST_P(InFlightLoad, BusInvalidationDuringALoadLeavesNoStaleL1Value) {
  EXPECT_EQ(run_race(Mode::kBus, url_), make_user(2));
}

// The negative control: the same interleaving, no coherence: B's L1 keeps the row its load read.
TEST_P(InFlightLoad, WithoutCoherenceTheLoadedRowStaysStaleInL1) {
  EXPECT_EQ(run_race(Mode::kNone, url_), make_user(1));
}

INSTANTIATE_TEST_SUITE_P(Servers, InFlightLoad,
                         ::testing::Values("STRATA_TEST_REDIS_URL",
                                           "STRATA_TEST_REDIS_CLUSTER_URL"),
                         [](const auto& param_info) {
                           return std::string(param_info.param).find("CLUSTER") != std::string::npos
                                      ? std::string("cluster")
                                      : std::string("standalone");
                         });

}  // namespace
}  // namespace strata
