// L1Coherence::kTracking against real servers: two-tier caches that stand for separate instances
// (each its own RedisClient, so its own connections and its own invalidation connections, as
// separate processes would have) sharing one source of record. Standalone and cluster (the shared
// servers), and private servers for what would disturb the others: FLUSHALL, a slot migration.
// The several-processes case is `strata bench coherence`
// (tests/tools/bench/coherence_bench_test.cc).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "cache/cache_fixtures.h"
#include "redis/redis_test_util.h"
#include "strata/cache/cache.h"
#include "strata/codec/json.h"
#include "strata/coherence/redis_tracking.h"
#include "strata/redis/key_slot.h"
#include "support/redis_process.h"
#include "support/test_servers.h"

namespace strata {
namespace {

using namespace std::chrono_literals;
using testing::ControlledStore;
using testing::eventually;
using testing::make_user;
using testing::unique_name;
using testing::User;

constexpr auto kPatience = 10s;  // liveness bound for eventually(): never a timing assertion

// One instance: its own RedisClient and a write-through two-tier cache with kTracking.
struct Instance {
  Instance(const std::string& url, const std::string& prefix,
           std::shared_ptr<ControlledStore> store, TrackingOptions options = {})
      : cache(CacheBuilder<User>()
                  .local({.maximum_size = 10'000})
                  .remote(RedisClient(url), {.ttl = 1min})
                  .source(testing::controlled_source(std::move(store)))
                  .key_prefix(prefix)
                  .write_mode(WriteMode::kWriteThrough)
                  .coherence(L1Coherence::kTracking, std::move(options))
                  .build()) {}

  TrackingStats tracking() const { return cache.redis_tracking()->stats(); }
  std::uint64_t l1_hits() const { return cache.stats().l1.hits; }
  std::int64_t version(const std::string& key) {
    const auto user = cache.get(key);
    return user ? user->version : -1;
  }

  Cache<User> cache;
};

std::shared_ptr<ControlledStore> store_with(const std::vector<std::string>& keys) {
  auto store = std::make_shared<ControlledStore>();
  for (const auto& key : keys) store->set(key, make_user(0));
  return store;
}

std::int64_t source_version(ControlledStore& store, const std::string& key) {
  std::lock_guard lock(store.mutex);
  const auto it = store.rows.find(key);
  return it == store.rows.end() ? -1 : it->second.version;
}

std::vector<std::string> make_keys(const std::string& stem, int n) {
  std::vector<std::string> keys;
  for (int i = 0; i < n; ++i) keys.push_back(stem + "-" + std::to_string(i));
  return keys;
}

// Writes every key through `writer` (source and L2), so that later reads are L2 hits: no
// fill, and so no invalidation caused by the reader's own fill to blur the counts below.
void seed(Instance& writer, const std::vector<std::string>& keys, int version) {
  for (const auto& key : keys) writer.cache.put(key, make_user(version));
}

// Reads `key` through `reader` until it is an L1 hit (the L1 holds it, tracked).
void cache_in_l1(Instance& reader, const std::string& key) {
  for (int i = 0; i < 100; ++i) {
    const auto hits = reader.l1_hits();
    (void)reader.version(key);
    if (reader.l1_hits() > hits) return;
  }
  FAIL() << key << " never became an L1 hit";
}

// One node of the server(s) behind `url`, over the same transport (rediss:// and its tls_*
// options for a TLS URL).
std::string node_url(const std::string& url, const std::string& address) {
  const auto query = url.find('?');
  return std::string(url.starts_with("rediss") ? "rediss://" : "redis://") + address +
         (query == std::string::npos ? "" : url.substr(query));
}

class Tracking : public ::testing::TestWithParam<const char*> {
 protected:
  std::string url_;
  void SetUp() override {
    STRATA_SERVER_URL(url, GetParam());
    url_ = url;
  }
};

INSTANTIATE_TEST_SUITE_P(Servers, Tracking,
                         ::testing::Values("STRATA_TEST_REDIS_URL", "STRATA_TEST_REDIS_CLUSTER_URL",
                                           "STRATA_TEST_REDIS_TLS_CLUSTER_URL",
                                           "STRATA_TEST_REDIS_SENTINEL_URL"),
                         [](const auto& param_info) {
                           const std::string name = param_info.param;
                           if (name.find("TLS_CLUSTER") != std::string::npos) return "tls_cluster";
                           if (name.find("CLUSTER") != std::string::npos) return "cluster";
                           if (name.find("SENTINEL") != std::string::npos) return "sentinel";
                           return "standalone";
                         });

// A write in A is never read stale by B once B has received the invalidation of it.
TEST_P(Tracking, WriteInOneInstanceIsNeverReadStaleAfterTheInvalidation) {
  const std::string prefix = unique_name("trk") + ":";
  const auto keys = make_keys("user", 12);  // spread over the masters of a cluster
  auto store = store_with(keys);
  Instance a(url_, prefix, store);
  Instance b(url_, prefix, store);
  seed(a, keys, 0);
  for (int round = 1; round <= 5; ++round) {
    for (const auto& key : keys) cache_in_l1(b, key);
    for (const auto& key : keys) {
      const auto seen = b.tracking().keys_invalidated;
      a.cache.put(key, make_user(round));
      ASSERT_TRUE(eventually(kPatience, [&] { return b.tracking().keys_invalidated > seen; }))
          << "no invalidation reached B for " << key;
      EXPECT_EQ(b.version(key), round) << key;
    }
  }
  const TrackingStats s = b.tracking();
  EXPECT_GE(s.messages, keys.size() * 5);
  EXPECT_GE(s.connections, 1u);
  EXPECT_EQ(s.connection_losses, 0u);
}

// Writers in two instances, a reader in a third; once the writers stop, no instance holds a
// value older than the source's.
TEST_P(Tracking, NoInstanceHoldsAStaleValueAfterQuiescence) {
  const std::string prefix = unique_name("trk") + ":";
  const auto keys = make_keys("hot", 20);
  auto store = store_with(keys);
  Instance w1(url_, prefix, store), w2(url_, prefix, store), reader(url_, prefix, store);
  std::atomic<bool> stop{false};
  std::atomic<std::int64_t> next_version{1};
  std::thread reading([&] {
    std::mt19937 rng(7);
    while (!stop) (void)reader.version(keys[rng() % keys.size()]);
  });
  auto write = [&](Instance& w, unsigned seed) {
    std::mt19937 rng(seed);
    for (int i = 0; i < 300; ++i) {
      const auto& key = keys[rng() % keys.size()];
      (void)w.version(key);  // the writers read too, so their L1s hold values
      w.cache.put(key, make_user(static_cast<int>(next_version++)));
    }
  };
  std::thread t1(write, std::ref(w1), 1u), t2(write, std::ref(w2), 2u);
  t1.join();
  t2.join();
  stop = true;
  reading.join();
  for (Instance* instance : {&w1, &w2, &reader}) {
    for (const auto& key : keys) {
      EXPECT_TRUE(eventually(kPatience,
                             [&] { return instance->version(key) == source_version(*store, key); }))
          << key << ": stale after quiescence";
    }
  }
  EXPECT_GT(reader.tracking().keys_invalidated, 0u);
  EXPECT_GT(reader.l1_hits(), 0u);
}

// CLIENT KILL of the invalidation connection: L1 is flushed, no stale read follows, the
// connection comes back (new id) and the data connections are re-pointed at it.
TEST_P(Tracking, KilledInvalidationConnectionFlushesL1AndComesBack) {
  const std::string prefix = unique_name("trk") + ":";
  const auto keys = make_keys("k", 8);
  auto store = store_with(keys);
  Instance a(url_, prefix, store);
  Instance b(url_, prefix, store);
  seed(a, keys, 0);
  for (const auto& key : keys) cache_in_l1(b, key);
  const auto before = b.cache.redis_tracking()->subscribers();
  ASSERT_FALSE(before.empty());
  const TrackingStats s0 = b.tracking();

  for (const auto& [address, id] : before) {
    RedisClient node(node_url(url_, address));
    (void)node.command({"CLIENT", "KILL", "ID", std::to_string(id)});
  }
  // Written while B may be without its invalidation connection.
  for (const auto& key : keys) a.cache.put(key, make_user(1));
  ASSERT_TRUE(eventually(kPatience, [&] {
    const TrackingStats s = b.tracking();
    return s.connection_losses >= s0.connection_losses + before.size() &&
           s.nodes_connected == before.size();
  }));
  const TrackingStats s1 = b.tracking();
  EXPECT_GT(s1.flushes_connection_lost, s0.flushes_connection_lost);
  EXPECT_GT(s1.flushes_connected, s0.flushes_connected);
  for (const auto& [address, id] : b.cache.redis_tracking()->subscribers()) {
    for (const auto& [old_address, old_id] : before) {
      if (address == old_address) {
        EXPECT_NE(id, old_id) << address;
      }
    }
  }
  for (const auto& key : keys) EXPECT_EQ(b.version(key), 1) << key;

  // The re-pointed data connections are tracked towards the new connection: without that, B's
  // L1 would keep version 1 for ever.
  for (const auto& key : keys) cache_in_l1(b, key);
  const auto seen = b.tracking().keys_invalidated;
  for (const auto& key : keys) a.cache.put(key, make_user(2));
  for (const auto& key : keys) {
    EXPECT_TRUE(eventually(kPatience, [&] { return b.version(key) == 2; })) << key;
  }
  EXPECT_GE(b.tracking().keys_invalidated, seen + keys.size());
}

// BCAST: the server notifies every change under the cache's prefix, read or not.
TEST_P(Tracking, BroadcastModeNotifiesKeysNeverRead) {
  const std::string prefix = unique_name("trk") + ":";
  const auto keys = make_keys("b", 6);
  auto store = store_with(keys);
  Instance a(url_, prefix, store, {.bcast = true});
  Instance b(url_, prefix, store, {.bcast = true});
  seed(a, keys, 0);
  ASSERT_TRUE(b.cache.redis_tracking()->connect_all(kPatience));
  (void)b.version(keys[0]);  // B's data connections exist (and are set up) on at least one node
  for (const auto& key : keys) (void)b.version(key);
  const auto seen = b.tracking().keys_invalidated;
  a.cache.put(keys[1], make_user(5));  // B read it, but BCAST does not need that
  ASSERT_TRUE(eventually(kPatience, [&] { return b.tracking().keys_invalidated > seen; }));
  for (int round = 1; round <= 3; ++round) {
    for (const auto& key : keys) cache_in_l1(b, key);
    for (const auto& key : keys) {
      const auto before = b.tracking().keys_invalidated;
      a.cache.put(key, make_user(10 + round));
      ASSERT_TRUE(eventually(kPatience, [&] { return b.tracking().keys_invalidated > before; }));
      EXPECT_EQ(b.version(key), 10 + round);
    }
  }
}

// A write through the tracking cache itself: its own L1 never keeps an untracked value.
TEST_P(Tracking, OwnWritesAreReadBackAndStayCoherent) {
  const std::string prefix = unique_name("trk") + ":";
  const auto keys = make_keys("own", 4);
  auto store = store_with(keys);
  Instance a(url_, prefix, store);
  Instance b(url_, prefix, store);
  for (int round = 1; round <= 3; ++round) {
    for (const auto& key : keys) {
      a.cache.put(key, make_user(round));
      EXPECT_EQ(a.version(key), round);
      cache_in_l1(a, key);
      b.cache.put(key, make_user(100 + round));
      EXPECT_TRUE(eventually(kPatience, [&] { return a.version(key) == 100 + round; })) << key;
    }
  }
}

// FLUSHALL (a null invalidation) clears L1. A private server: FLUSHALL would hit other tests.
TEST(TrackingPrivate, FlushAllClearsL1) {
  testing::RedisProcess server;
  const auto keys = make_keys("f", 5);
  auto store = store_with(keys);
  Instance b(server.url(), "app:", store);
  // A first read fills L2, and the server may invalidate that fill's key a moment after the
  // read became an L1 hit (its tracking message is asynchronous): read every key again until
  // all five stay in L1.
  ASSERT_TRUE(eventually(kPatience, [&] {
    for (const auto& key : keys) cache_in_l1(b, key);
    return b.cache.stats().l1.cache.entries == keys.size();
  }));
  RedisClient(server.url()).command({"FLUSHALL"});
  ASSERT_TRUE(eventually(kPatience, [&] { return b.tracking().flushes_null >= 1; }));
  EXPECT_EQ(b.cache.stats().l1.cache.entries, 0u);
  {
    std::lock_guard lock(store->mutex);
    for (const auto& key : keys) store->rows[key] = make_user(9);  // changed behind the cache
  }
  for (const auto& key : keys) EXPECT_EQ(b.version(key), 9) << key;
}

// The owner of a cluster slot that B's L1 holds changes hands during the run (IMPORTING,
// MIGRATING, MIGRATE, SETSLOT NODE) while B reads: B ends with no stale entry after A's writes,
// and B's invalidation connections follow the keys to their new node.
TEST(TrackingPrivate, SlotMigrationLeavesNoStaleL1Entries) {
  testing::RedisClusterProcess cluster;
  const std::string prefix = "mig:";
  std::vector<std::string> keys;
  for (int i = 0; i < 10; ++i) keys.push_back("{slot}-" + std::to_string(i));
  auto store = store_with(keys);
  Instance a(cluster.url(), prefix, store);
  Instance b(cluster.url(), prefix, store);
  seed(a, keys, 0);
  for (const auto& key : keys) cache_in_l1(b, key);

  const std::string redis_key = b.cache.remote_key(keys[0]);
  const int slot = key_slot(redis_key);
  RedisClient any(cluster.node(0).url());
  std::size_t source_index = 0;
  for (const auto& range : any.command({"CLUSTER", "SLOTS"}).elements) {
    if (slot >= range.elements[0].integer && slot <= range.elements[1].integer) {
      for (std::size_t i = 0; i < cluster.size(); ++i) {
        if (cluster.node(i).port() == range.elements[2].elements[1].integer) source_index = i;
      }
    }
  }
  const std::size_t target_index = (source_index + 1) % cluster.size();
  RedisClient source(cluster.node(source_index).url());
  RedisClient target(cluster.node(target_index).url());
  const std::string source_id = source.command({"CLUSTER", "MYID"}).str;
  const std::string target_id = target.command({"CLUSTER", "MYID"}).str;
  const std::string slot_text = std::to_string(slot);
  (void)target.command({"CLUSTER", "SETSLOT", slot_text, "IMPORTING", source_id});
  (void)source.command({"CLUSTER", "SETSLOT", slot_text, "MIGRATING", target_id});

  const std::string target_port = std::to_string(cluster.node(target_index).port());
  auto migrate = [&](std::size_t from, std::size_t to) {
    std::vector<std::string> redis_keys;
    for (std::size_t i = from; i < to; ++i) {
      redis_keys.push_back(b.cache.remote_key(keys[i]));
    }
    std::vector<std::string_view> argv = {"MIGRATE", "127.0.0.1", target_port, "",
                                          "0",       "5000",      "KEYS"};
    argv.insert(argv.end(), redis_keys.begin(), redis_keys.end());
    const RedisReply reply = source.command(argv);
    ASSERT_TRUE(reply == RedisReply::status("OK") || reply == RedisReply::status("NOKEY"))
        << reply.str;
  };
  const auto before_migrate = b.tracking().keys_invalidated;
  migrate(0, 5);
  // MIGRATE deletes the keys on the source: B, which read them there, is told.
  ASSERT_TRUE(
      eventually(kPatience, [&] { return b.tracking().keys_invalidated >= before_migrate + 5; }));
  // During the migration B reads every key again: the moved ones through ASK on the target
  // (tracked there), the others on the source. (Writes wait: the cache's multi-key scripts get
  // TRYAGAIN in a migrating slot, see docs/coherence.md.)
  for (const auto& key : keys) EXPECT_EQ(b.version(key), 0) << key;
  for (const auto& key : keys) cache_in_l1(b, key);
  migrate(5, 10);
  for (std::size_t i = 0; i < cluster.size(); ++i) {
    (void)RedisClient(cluster.node(i).url())
        .command({"CLUSTER", "SETSLOT", slot_text, "NODE", target_id});
  }
  for (const auto& key : keys) cache_in_l1(b, key);
  for (const auto& key : keys) a.cache.put(key, make_user(2));
  for (const auto& key : keys) {
    EXPECT_TRUE(eventually(kPatience, [&] { return b.version(key) == 2; })) << key << " stale";
  }
  // B's L1 holds the keys again, tracked on their new node, and is invalidated from there.
  for (const auto& key : keys) cache_in_l1(b, key);
  for (const auto& key : keys) {
    const auto seen = b.tracking().keys_invalidated;
    a.cache.put(key, make_user(3));
    ASSERT_TRUE(eventually(kPatience, [&] { return b.tracking().keys_invalidated > seen; })) << key;
    EXPECT_EQ(b.version(key), 3) << key;
  }
  bool target_tracked = false;
  for (const auto& [address, id] : b.cache.redis_tracking()->subscribers()) {
    target_tracked = target_tracked || address.ends_with(":" + target_port);
  }
  EXPECT_TRUE(target_tracked);
}

// A Sentinel failover (SENTINEL FAILOVER on a private setup: the old master stays up, still a
// master, until the sentinels demote it) while B's L1 holds tracked keys: B's invalidation
// connection leaves the old master at once (flushing L1, since writes now go where it does not
// listen) and comes up on the new one, and A's writes are never read stale by B afterwards.
TEST(TrackingPrivate, SentinelFailoverMovesTrackingToTheNewMaster) {
  STRATA_SERVER_URL(script, "STRATA_TEST_SERVERS_SCRIPT");
  STRATA_SERVER_URL(servers_dir, "STRATA_TEST_SERVERS_DIR");
  testing::SentinelSetup setup(script, servers_dir);
  const std::string url = setup.url() + "?connect_timeout=300ms&command_timeout=500ms";
  const std::string prefix = "sentinel:";
  const auto keys = make_keys("user", 8);
  auto store = store_with(keys);
  Instance a(url, prefix, store);
  Instance b(url, prefix, store);
  seed(a, keys, 0);
  for (const auto& key : keys) cache_in_l1(b, key);
  ASSERT_EQ(setup.wait_for_replica(), 1);

  const std::uint16_t old_master = setup.first_master_port();
  ASSERT_EQ(testing::SentinelSetup::cli(setup.sentinel_port(0), "sentinel failover strata-master"),
            "OK");
  ASSERT_TRUE(eventually(30s, [&] {
    const auto port = setup.master_port();
    return port != 0 && port != old_master;
  }));
  const std::string new_master = "127.0.0.1:" + std::to_string(setup.master_port());
  auto old_is_master = [&] {
    return testing::SentinelSetup::cli(old_master, "role").starts_with("master");
  };
  // B's invalidation connection leaves the old master as soon as B's client moved, not when
  // the sentinels demote it seconds later (an ordering, checked as such: no time limit); B
  // reads meanwhile, which brings up the new master's invalidation connection.
  bool moved = false;
  ASSERT_TRUE(eventually(60s, [&] {
    for (const auto& key : keys) (void)b.version(key);
    const auto subscribers = b.cache.redis_tracking()->subscribers();
    const bool only_new = subscribers.size() == 1 && subscribers[0].first == new_master;
    const bool still_master = old_is_master();  // after: counts only while the old one was
    moved = only_new && still_master;
    return moved || !still_master;
  }));
  EXPECT_TRUE(moved) << "B's tracking stayed on the old master until it was demoted";
  ASSERT_TRUE(eventually(30s,
                         [&] {
                           for (const auto& key : keys) (void)b.version(key);
                           const auto subscribers = b.cache.redis_tracking()->subscribers();
                           return subscribers.size() == 1 && subscribers[0].first == new_master;
                         }))
      << "B's tracking did not move to " << new_master;
  for (int round = 1; round <= 2; ++round) {
    for (const auto& key : keys) cache_in_l1(b, key);
    for (const auto& key : keys) {
      const auto seen = b.tracking().keys_invalidated;
      a.cache.put(key, make_user(round));
      ASSERT_TRUE(eventually(kPatience, [&] { return b.tracking().keys_invalidated > seen; }))
          << "no invalidation reached B for " << key;
      EXPECT_EQ(b.version(key), round) << key;
    }
  }
}

TEST(TrackingBuilder, ValidatesTheChoice) {
  STRATA_SERVER_URL(url, "STRATA_TEST_REDIS_URL");
  auto store = store_with({});
  EXPECT_THROW((void)CacheBuilder<User>()
                   .remote(RedisClient(url))
                   .source(testing::controlled_source(store))
                   .coherence(L1Coherence::kTracking)
                   .build(),
               InvalidArgumentError);  // no L1
  EXPECT_THROW((void)CacheBuilder<User>()
                   .local({.maximum_size = 10})
                   .coherence(L1Coherence::kTracking)
                   .build(),
               InvalidArgumentError);  // no L2
  EXPECT_THROW(CacheBuilder<User>().coherence(L1Coherence::kNone, TrackingOptions{}),
               InvalidArgumentError);
  EXPECT_THROW(CacheBuilder<User>().coherence(L1Coherence::kTracking, {.prefixes = {"a:"}}),
               InvalidArgumentError);  // prefixes need BCAST
  EXPECT_THROW(CacheBuilder<User>().coherence(L1Coherence::kTracking, {.health_interval = 0ms}),
               InvalidArgumentError);
  // One tracking cache per RedisClient (its copies share the connections).
  RedisClient shared(url);
  auto build = [&] {
    return CacheBuilder<User>()
        .local({.maximum_size = 10})
        .remote(shared)
        .source(testing::controlled_source(store))
        .coherence(L1Coherence::kTracking)
        .build();
  };
  auto first = build();
  EXPECT_THROW((void)build(), InvalidArgumentError);
  EXPECT_NE(first.redis_tracking(), nullptr);
  auto plain = CacheBuilder<User>().local({.maximum_size = 10}).remote(RedisClient(url)).build();
  EXPECT_EQ(plain.redis_tracking(), nullptr);
}

// After the tracking cache is gone, the client's connections are plain again.
TEST(TrackingBuilder, DestroyingTheCacheTurnsTrackingOff) {
  STRATA_SERVER_URL(url, "STRATA_TEST_REDIS_URL");
  auto store = store_with({"x"});
  RedisClient shared(url);
  {
    auto cache = CacheBuilder<User>()
                     .local({.maximum_size = 10})
                     .remote(shared)
                     .source(testing::controlled_source(store))
                     .key_prefix(unique_name("trk") + ":")
                     .coherence(L1Coherence::kTracking)
                     .build();
    (void)cache.get("x");
    const RedisReply info = shared.command({"CLIENT", "TRACKINGINFO"});
    ASSERT_TRUE(info.is_array());
    EXPECT_NE(info.elements[1].elements[0].str, "off");
  }
  const RedisReply info = shared.command({"CLIENT", "TRACKINGINFO"});
  ASSERT_TRUE(info.is_array());
  EXPECT_EQ(info.elements[1].elements[0].str, "off");
}

}  // namespace
}  // namespace strata
