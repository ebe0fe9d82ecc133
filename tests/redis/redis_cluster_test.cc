// Redis Cluster behaviour on a private three-master cluster started by the test: a slot
// migrated while the client uses it (ASK during the migration, MOVED after), and a subscriber
// that moves to another node when its node dies.
#include <gtest/gtest.h>

#include <mutex>

#include "redis/redis_test_util.h"
#include "strata/error.h"
#include "strata/redis/key_slot.h"
#include "strata/redis/redis_client.h"
#include "strata/redis/redis_subscriber.h"
#include "support/redis_process.h"

namespace strata {
namespace {

using namespace std::chrono_literals;
using testing::eventually;

// The node (index) of the private cluster that owns a slot, from CLUSTER SLOTS.
std::size_t owner_of(testing::RedisClusterProcess& cluster, int slot) {
  RedisClient any(cluster.node(0).url());
  const RedisReply slots = any.command({"CLUSTER", "SLOTS"});
  for (const auto& range : slots.elements) {
    if (slot >= range.elements[0].integer && slot <= range.elements[1].integer) {
      const auto port = range.elements[2].elements[1].integer;
      for (std::size_t i = 0; i < cluster.size(); ++i) {
        if (cluster.node(i).port() == port) return i;
      }
    }
  }
  throw std::runtime_error("slot not found");
}

TEST(RedisCluster, SlotMigrationIsFollowedThroughAskAndMoved) {
  testing::RedisClusterProcess cluster;
  RedisClient redis(cluster.url());
  const std::string tag = "{migrating}";
  const int slot = key_slot(tag);
  std::vector<std::string> keys;
  for (int i = 0; i < 10; ++i) keys.push_back(tag + ":" + std::to_string(i));
  for (const auto& k : keys) ASSERT_TRUE(redis.set(k, "v:" + k));
  ASSERT_EQ(redis.get(keys[0]), "v:" + keys[0]);  // the client has its slot map

  const std::size_t source_index = owner_of(cluster, slot);
  const std::size_t target_index = (source_index + 1) % cluster.size();
  RedisClient source(cluster.node(source_index).url());
  RedisClient target(cluster.node(target_index).url());
  const std::string source_id = source.command({"CLUSTER", "MYID"}).str;
  const std::string target_id = target.command({"CLUSTER", "MYID"}).str;
  const std::string slot_text = std::to_string(slot);
  (void)target.command({"CLUSTER", "SETSLOT", slot_text, "IMPORTING", source_id});
  (void)source.command({"CLUSTER", "SETSLOT", slot_text, "MIGRATING", target_id});

  // Half the keys move: the source answers ASK for them, and for keys it does not have.
  std::vector<std::string_view> migrate = {"MIGRATE", "127.0.0.1", "", "", "0", "5000", "KEYS"};
  const std::string target_port = std::to_string(cluster.node(target_index).port());
  migrate[2] = target_port;
  for (int i = 0; i < 5; ++i) migrate.push_back(keys[i]);
  ASSERT_EQ(source.command(migrate), RedisReply::status("OK"));
  try {  // a plain connection to the source now sees ASK for a migrated key
    (void)source.command({"GET", keys[0]});
    ADD_FAILURE() << "expected ASK";
  } catch (const ReplyError& e) {
    EXPECT_NE(std::string(e.what()).find("ASK " + slot_text), std::string::npos) << e.what();
  }
  for (int i = 0; i < 10; ++i) EXPECT_EQ(redis.get(keys[i]), "v:" + keys[i]) << keys[i];  // ASK
  const std::string fresh = tag + ":fresh";
  EXPECT_TRUE(redis.set(fresh, "new"));  // not on the source: ASK, written on the target
  EXPECT_EQ(redis.get(fresh), "new");
  EXPECT_EQ(redis.ttl(keys[1]).count(), RedisClient::kNoExpiry);

  // The rest moves, then every master learns the new owner.
  migrate.resize(7);
  for (int i = 5; i < 10; ++i) migrate.push_back(keys[i]);
  ASSERT_EQ(source.command(migrate), RedisReply::status("OK"));
  for (std::size_t i = 0; i < cluster.size(); ++i) {
    (void)RedisClient(cluster.node(i).url())
        .command({"CLUSTER", "SETSLOT", slot_text, "NODE", target_id});
  }
  for (const auto& k : keys) EXPECT_EQ(redis.get(k), "v:" + k) << k;  // MOVED, then direct
  const auto values = redis.mget(keys);
  for (std::size_t i = 0; i < keys.size(); ++i) EXPECT_EQ(values[i], "v:" + keys[i]);
  EXPECT_EQ(redis.del(keys), 10);
  EXPECT_EQ(owner_of(cluster, slot), target_index);
}

TEST(RedisCluster, SubscriberMovesToAnotherNodeWhenItsNodeDies) {
  testing::RedisClusterProcess cluster;
  std::mutex mutex;
  std::vector<std::string> received;
  int losses = 0;
  SubscriberOptions options;
  options.keepalive_interval = 500ms;
  options.on_connection_lost = [&](std::string_view) {
    std::lock_guard lock(mutex);
    ++losses;
  };
  // The subscriber starts on the first seed; that node will die.
  RedisSubscriber subscriber(cluster.url() + "?connect_timeout=300ms&command_timeout=500ms",
                             options);
  ASSERT_TRUE(subscriber.subscribe("news", [&](std::string_view, std::string_view message) {
    std::lock_guard lock(mutex);
    received.emplace_back(message);
  }));
  RedisClient publisher(cluster.node(1).url());  // a node that stays up
  ASSERT_TRUE(eventually(10s, [&] {
    (void)publisher.publish("news", "before");
    std::lock_guard lock(mutex);
    return !received.empty();
  })) << "PUBLISH on one node reaches a subscriber on another";

  cluster.node(0).stop();
  ASSERT_TRUE(eventually(10s, [&] {
    std::lock_guard lock(mutex);
    return losses > 0;
  }));
  ASSERT_TRUE(subscriber.wait_connected(20s));
  ASSERT_TRUE(eventually(20s, [&] {
    (void)publisher.publish("news", "after");
    std::lock_guard lock(mutex);
    return received.back() == "after";
  }));
}

// Sharded pub/sub (issue 19 item 5): the subscriber is on the node that owns the channel's slot
// (SPUBLISH is delivered there only), and when the slot moves to another master it follows:
// the server ends the subscription, the subscriber reports a loss and subscribes on the new
// owner, where later messages arrive.
TEST(RedisCluster, ShardedSubscriberIsOnTheSlotOwnerAndFollowsTheSlot) {
  testing::RedisClusterProcess cluster;
  const std::string channel = "{sharded}:news";
  const int slot = key_slot(channel);
  std::mutex mutex;
  std::vector<std::string> received;
  int losses = 0;
  SubscriberOptions options;
  options.keepalive_interval = 500ms;
  options.on_connection_lost = [&](std::string_view) {
    std::lock_guard lock(mutex);
    ++losses;
  };
  RedisSubscriber subscriber(cluster.url(), options);
  ASSERT_TRUE(subscriber.ssubscribe(channel, [&](std::string_view, std::string_view message) {
    std::lock_guard lock(mutex);
    received.emplace_back(message);
  }));
  const std::size_t source_index = owner_of(cluster, slot);
  RedisClient source(cluster.node(source_index).url());
  // The owner counts one sharded subscriber (the first connection went to a seed, maybe
  // another node: then MOVED sent it to the owner).
  ASSERT_TRUE(eventually(10s, [&] {
    return source.command({"PUBSUB", "SHARDNUMSUB", channel}).elements.at(1).integer == 1;
  }));
  RedisClient publisher(cluster.url());  // SPUBLISH is routed by the channel's slot
  ASSERT_TRUE(eventually(10s, [&] {
    (void)publisher.command({"SPUBLISH", channel, "before"});
    std::lock_guard lock(mutex);
    return !received.empty() && received.back() == "before";
  }));
  const int losses_before = [&] {
    std::lock_guard lock(mutex);
    return losses;
  }();

  // Move the slot (it holds no keys) to another master.
  const std::size_t target_index = (source_index + 1) % cluster.size();
  RedisClient target(cluster.node(target_index).url());
  const std::string source_id = source.command({"CLUSTER", "MYID"}).str;
  const std::string target_id = target.command({"CLUSTER", "MYID"}).str;
  const std::string slot_text = std::to_string(slot);
  (void)target.command({"CLUSTER", "SETSLOT", slot_text, "IMPORTING", source_id});
  (void)source.command({"CLUSTER", "SETSLOT", slot_text, "MIGRATING", target_id});
  for (std::size_t i = 0; i < cluster.size(); ++i) {
    (void)RedisClient(cluster.node(i).url())
        .command({"CLUSTER", "SETSLOT", slot_text, "NODE", target_id});
  }
  ASSERT_EQ(owner_of(cluster, slot), target_index);
  ASSERT_TRUE(eventually(10s, [&] {
    return target.command({"PUBSUB", "SHARDNUMSUB", channel}).elements.at(1).integer == 1;
  })) << "the subscriber did not move to the slot's new owner";
  EXPECT_EQ(source.command({"PUBSUB", "SHARDNUMSUB", channel}).elements.at(1).integer, 0);
  ASSERT_TRUE(eventually(10s, [&] {
    (void)publisher.command({"SPUBLISH", channel, "after"});
    std::lock_guard lock(mutex);
    return !received.empty() && received.back() == "after";
  }));
  std::lock_guard lock(mutex);
  EXPECT_GT(losses, losses_before) << "the move must be reported: messages may have been missed";
}

TEST(RedisCluster, ShardedChannelsOfOneSubscriberShareASlot) {
  testing::RedisClusterProcess cluster;
  RedisSubscriber subscriber(cluster.url());
  ASSERT_TRUE(subscriber.ssubscribe("{a}:one", [](std::string_view, std::string_view) {}));
  EXPECT_TRUE(subscriber.ssubscribe("{a}:two", [](std::string_view, std::string_view) {}));
  EXPECT_THROW((void)subscriber.ssubscribe("{b}:three", [](std::string_view, std::string_view) {}),
               InvalidArgumentError);
}

}  // namespace
}  // namespace strata
