// Fault: Redis Sentinel failovers on a private Sentinel setup (a master, a replica, three
// sentinels; tests/support/redis_process.h), so that the shared setup of `make test` is never
// left failed over. Two ways a master goes:
//  - killed (SIGKILL): a Cache<User> with a source, read in a loop, never fails a read (it
//    falls back to the source while L2 is away), its L2 hits resume on the promoted replica,
//    and the invalidation bus reconnects to the new master (a message sent after the failover
//    arrives);
//  - handed over (SENTINEL FAILOVER): the old master stays up, still a master, for several
//    seconds before the sentinels demote it. Clients that did not hear "+switch-master" would
//    keep writing to it; strata's RedisClient and the bus must have moved to the new master
//    before the old one is demoted (an ordering, checked as such: no time limit).
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "cache/cache_fixtures.h"
#include "redis/redis_test_util.h"
#include "strata/cache/cache.h"
#include "strata/codec/json.h"
#include "strata/invalidation/invalidation.h"
#include "strata/redis/redis_client.h"
#include "support/redis_process.h"
#include "support/test_servers.h"

namespace strata {
namespace {

using namespace std::chrono_literals;
using testing::ControlledStore;
using testing::eventually;
using testing::make_user;
using testing::SentinelSetup;
using testing::User;

constexpr int kKeys = 100;
// Short timeouts so that a dead master costs little per attempt.
constexpr const char* kOptions = "?connect_timeout=300ms&command_timeout=500ms";

std::string user_key(int i) {
  return "user:" + std::to_string(i);
}

std::shared_ptr<InvalidationBus> make_bus(const std::string& url, const std::string& channel) {
  InvalidationBusOptions options;
  options.channel = channel;
  return std::make_shared<InvalidationBus>(url, options);
}

// A message announced on `from` reaches `to` (announced again on every poll: one sent while
// `to` was between connections is lost, as the bus documents).
bool bus_delivers(InvalidationBus& from, InvalidationBus& to, std::chrono::milliseconds limit) {
  const std::uint64_t before = to.stats().received;
  const std::vector<std::string> keys = {"k"};
  return eventually(limit, [&] {
    (void)from.announce("sentinel-test:", keys);
    return to.stats().received > before;
  });
}

// Waits (30 s at most) until the sentinels name a master other than the node started as one.
bool another_master_promoted(const SentinelSetup& setup) {
  return eventually(30s, [&] {
    const auto port = setup.master_port();
    return port != 0 && port != setup.first_master_port();
  });
}

// Waits (30 s at most) until `redis` reads `<prefix>before` (written as "1" before the
// failover) and writes `<prefix>after`: it found the promoted replica.
bool client_follows(RedisClient& redis, const std::string& prefix) {
  return eventually(30s, [&] {
    try {
      return redis.get(prefix + "before") == std::optional<std::string>("1") &&
             redis.set(prefix + "after", "2");
    } catch (const Error&) {
      return false;
    }
  });
}

TEST(FaultSentinel, MasterKilledCacheServesEveryReadL2HitsResumeAndTheBusFollows) {
  STRATA_SERVER_URL(script, "STRATA_TEST_SERVERS_SCRIPT");
  STRATA_SERVER_URL(servers_dir, "STRATA_TEST_SERVERS_DIR");
  SentinelSetup setup(script, servers_dir);
  const std::string url = setup.url() + kOptions;

  auto store = std::make_shared<ControlledStore>();
  for (int i = 0; i < kKeys; ++i) store->set(user_key(i), make_user(i));
  // No L1: every read goes to L2 (or, while L2 is away, to the source).
  auto cache = CacheBuilder<User>()
                   .remote(RedisClient(url), {.ttl = 60s})
                   .source(testing::controlled_source(store))
                   .circuit_breaker({.failure_threshold = 3, .cool_down = 100ms})
                   .build();
  for (int i = 0; i < kKeys; ++i) ASSERT_EQ(cache.get(user_key(i)), make_user(i));
  RedisClient direct(url);
  ASSERT_EQ(setup.wait_for_replica(), 1) << "the replica did not catch up";
  const auto filled = cache.stats();

  const std::string channel = "sentinel-test:" + testing::unique_prefix();
  auto sender = make_bus(url, channel);
  auto receiver = make_bus(url, channel);
  ASSERT_TRUE(sender->wait_connected(10s) && receiver->wait_connected(10s));
  ASSERT_TRUE(bus_delivers(*sender, *receiver, 10s)) << "the bus does not work before the fault";

  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> reads{0}, failed_reads{0}, wrong_reads{0};
  std::thread reader([&] {
    for (int i = 0; !stop.load(); i = (i + 1) % kKeys) {
      try {
        if (cache.get(user_key(i)) != make_user(i)) ++wrong_reads;
      } catch (const std::exception&) {
        ++failed_reads;
      }
      ++reads;
    }
  });

  setup.kill_first_master();
  const bool promoted = another_master_promoted(setup);
  // L2 hits resume: reads served by the promoted replica, which holds what was written.
  const auto after_failover = cache.stats();
  const bool hits_resume =
      eventually(30s, [&] { return cache.stats().l2.hits >= after_failover.l2.hits + 2 * kKeys; });
  const std::uint64_t reads_before_stop = reads.load();
  stop = true;
  reader.join();

  ASSERT_TRUE(promoted) << "the sentinels did not promote the replica";
  EXPECT_TRUE(hits_resume) << "no L2 hits after the failover";
  EXPECT_GT(reads_before_stop, 0u);
  EXPECT_EQ(failed_reads.load(), 0u) << "reads failed during the failover";
  EXPECT_EQ(wrong_reads.load(), 0u);
  EXPECT_GE(cache.stats().l2.hits, filled.l2.hits + 2 * kKeys);
  // The invalidation bus's subscribers moved to the new master.
  EXPECT_TRUE(bus_delivers(*sender, *receiver, 30s)) << "the bus did not follow the failover";
  EXPECT_GE(receiver->stats().connection_losses, 1u);
  // Writes go to the new master.
  EXPECT_TRUE(direct.set("after-failover", "yes"));
  EXPECT_EQ(SentinelSetup::cli(setup.master_port(), "get after-failover"), "yes");
}

TEST(FaultSentinel, ForcedFailoverClientAndBusMoveBeforeTheOldMasterIsDemoted) {
  STRATA_SERVER_URL(script, "STRATA_TEST_SERVERS_SCRIPT");
  STRATA_SERVER_URL(servers_dir, "STRATA_TEST_SERVERS_DIR");
  SentinelSetup setup(script, servers_dir);
  const std::string url = setup.url() + kOptions;
  RedisClient redis(url);
  ASSERT_TRUE(redis.set("before", "1"));
  ASSERT_EQ(setup.wait_for_replica(), 1);
  const std::string channel = "sentinel-test:" + testing::unique_prefix();
  auto sender = make_bus(url, channel);
  auto receiver = make_bus(url, channel);
  ASSERT_TRUE(sender->wait_connected(10s) && receiver->wait_connected(10s));

  const std::uint16_t old_master = setup.first_master_port();
  ASSERT_EQ(SentinelSetup::cli(setup.sentinel_port(1), "sentinel failover strata-master"), "OK");
  ASSERT_TRUE(eventually(30s, [&] {
    const auto port = setup.master_port();
    return port != 0 && port != old_master;
  })) << "the sentinels did not fail over";
  const std::uint16_t new_master = setup.master_port();
  auto old_is_master = [&] { return SentinelSetup::cli(old_master, "role").starts_with("master"); };

  // Until the sentinels demote the old master it still accepts writes: the client must have
  // moved by then, told by +switch-master (an error would only come with the demotion).
  bool moved = false, demoted_first = false;
  int n = 0;
  ASSERT_TRUE(eventually(60s, [&] {
    const std::string value = std::to_string(++n);
    try {
      (void)redis.set("probe", value);
    } catch (const Error&) {
    }
    const bool landed = SentinelSetup::cli(new_master, "get probe") == value;
    const bool still_master = old_is_master();  // after: counts only while the old one was
    moved = landed && still_master;
    demoted_first = !still_master;
    return moved || demoted_first;
  }));
  EXPECT_TRUE(moved) << "the client kept writing to the old master until it was demoted";

  // The same for the bus: its subscriber is on the new master before the old one is demoted
  // (published on the new master, a message reaches no subscriber left on the old one).
  const std::uint64_t before = receiver->stats().received;
  const std::vector<std::string> keys = {"k"};
  bool received = false, demoted_before_received = false;
  ASSERT_TRUE(eventually(60s, [&] {
    (void)sender->announce("sentinel-test:", keys);
    const bool got = receiver->stats().received > before;
    const bool still_master = old_is_master();
    received = got && still_master;
    demoted_before_received = !still_master;
    return received || demoted_before_received;
  }));
  EXPECT_TRUE(received) << "the bus stayed on the old master until it was demoted";
  EXPECT_EQ(redis.get("before"), "1");
}

// Passwords everywhere (issue 19 item 3: "with the TLS and AUTH options"): the data nodes
// require one, the sentinels another. Discovery, the ROLE check, reads and writes work, the
// client follows a failover with both passwords, and a wrong password of either kind is a
// typed error that says which nodes refused.
TEST(FaultSentinel, WithPasswordsOnSentinelsAndDataNodesAndAfterAFailover) {
  STRATA_SERVER_URL(script, "STRATA_TEST_SERVERS_SCRIPT");
  STRATA_SERVER_URL(servers_dir, "STRATA_TEST_SERVERS_DIR");
  SentinelSetup setup(script, servers_dir, SentinelSetup::Mode::kAuth);
  const std::string url = setup.url() + "&connect_timeout=300ms&command_timeout=500ms";
  ASSERT_NE(url.find(":data-secret@"), std::string::npos) << url;
  ASSERT_NE(url.find("sentinel_password=sentinel-secret"), std::string::npos) << url;
  RedisClient redis(url);
  ASSERT_TRUE(redis.set("auth-before", "1"));
  EXPECT_EQ(redis.get("auth-before"), "1");

  auto replace = [&](std::string text, const std::string& from, const std::string& to) {
    text.replace(text.find(from), from.size(), to);
    return text;
  };
  try {
    RedisClient wrong(replace(url, "sentinel_password=sentinel-secret", "sentinel_password=nope"));
    (void)wrong.get("auth-before");
    ADD_FAILURE() << "a wrong sentinel password was accepted";
  } catch (const UnavailableError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("no sentinel gave a reachable master"), std::string::npos) << what;
    EXPECT_NE(what.find(std::to_string(setup.sentinel_port(0))), std::string::npos) << what;
    EXPECT_EQ(what.find("sentinel-secret"), std::string::npos) << "leaks a password: " << what;
  }
  try {
    RedisClient wrong(replace(url, ":data-secret@", ":nope@"));
    (void)wrong.get("auth-before");
    ADD_FAILURE() << "a wrong data password was accepted";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("failed the check"), std::string::npos) << what;
    EXPECT_EQ(what.find("nope"), std::string::npos) << "leaks a password: " << what;
  }

  ASSERT_EQ(setup.wait_for_replica(), 1);
  setup.kill_first_master();
  ASSERT_TRUE(another_master_promoted(setup)) << "the sentinels did not promote the replica";
  EXPECT_TRUE(client_follows(redis, "auth-")) << "the client did not follow the failover";
}

// The same failover over TLS only (sentinels, data nodes, replication): the client and the bus
// rediscover the master through TLS sentinels and reconnect to it over TLS.
TEST(FaultSentinel, OverTlsTheClientAndTheBusFollowAKilledMaster) {
  STRATA_SERVER_URL(script, "STRATA_TEST_SERVERS_SCRIPT");
  STRATA_SERVER_URL(servers_dir, "STRATA_TEST_SERVERS_DIR");
  STRATA_SERVER_URL(tls_dir, "STRATA_TEST_TLS_DIR");
  SentinelSetup setup(script, servers_dir, SentinelSetup::Mode::kTls, tls_dir);
  const std::string url = setup.url() + "&connect_timeout=300ms&command_timeout=500ms";
  ASSERT_TRUE(url.starts_with("rediss+sentinel://")) << url;
  RedisClient redis(url);
  ASSERT_TRUE(redis.set("tls-before", "1"));
  const std::string channel = "sentinel-test:" + testing::unique_prefix();
  auto sender = make_bus(url, channel);
  auto receiver = make_bus(url, channel);
  ASSERT_TRUE(sender->wait_connected(10s) && receiver->wait_connected(10s));
  ASSERT_TRUE(bus_delivers(*sender, *receiver, 10s)) << "the bus does not work before the fault";
  ASSERT_EQ(setup.wait_for_replica(), 1);

  setup.kill_first_master();
  ASSERT_TRUE(another_master_promoted(setup)) << "the sentinels did not promote the replica";
  EXPECT_TRUE(client_follows(redis, "tls-")) << "the client did not follow the failover";
  EXPECT_TRUE(bus_delivers(*sender, *receiver, 30s)) << "the bus did not follow the failover";
}

}  // namespace
}  // namespace strata
