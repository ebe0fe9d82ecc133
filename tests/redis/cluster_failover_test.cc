// Fault: on a private Redis Cluster of three masters with one replica each, a master is killed
// and its replica promoted by the cluster (failover), then a slot range is reassigned to
// another master. Proves that RedisClient and a Cache<User> over the cluster follow the new
// topology: reads and writes keep working (after the failover window), nothing written before
// the fault is lost, and keys of the moved slots are read and written on their new owner.
#include <gtest/gtest.h>

#include <cstdio>
#include <map>

#include "cache/cache_fixtures.h"
#include "redis/redis_test_util.h"
#include "strata/cache/cache.h"
#include "strata/codec/json.h"
#include "strata/redis/key_slot.h"
#include "strata/redis/redis_client.h"
#include "support/redis_process.h"

namespace strata {
namespace {

using namespace std::chrono_literals;
using testing::eventually;
using testing::make_user;
using testing::User;

// The port of the master serving `slot`, asked of a node that is up.
long long owner_port(testing::RedisProcess& alive, int slot) {
  const RedisReply slots = RedisClient(alive.url()).command({"CLUSTER", "SLOTS"});
  for (const auto& range : slots.elements) {
    if (slot >= range.elements[0].integer && slot <= range.elements[1].integer) {
      return range.elements[2].elements[1].integer;
    }
  }
  return -1;
}

std::size_t index_of_port(testing::RedisClusterProcess& cluster, long long port) {
  for (std::size_t i = 0; i < cluster.size(); ++i) {
    if (cluster.node(i).port() == port) return i;
  }
  throw std::runtime_error("no node on port " + std::to_string(port));
}

TEST(FaultClusterTopology, MasterKilledReplicaPromotedThenSlotsMovedClientFollows) {
  testing::RedisClusterProcess cluster(1);
  const std::string options = "?connect_timeout=300ms&command_timeout=500ms";
  RedisClient redis(cluster.url() + options);
  auto store = std::make_shared<testing::ControlledStore>();
  auto cache = CacheBuilder<User>()
                   .remote(RedisClient(cluster.url() + options), {.ttl = 60s})
                   .source(testing::controlled_source(store))
                   .write_mode(WriteMode::kWriteThrough)
                   .circuit_breaker({.failure_threshold = 1000, .cool_down = 100ms})
                   .build();

  std::map<std::string, std::string> written;
  for (int i = 0; i < 200; ++i) {
    const std::string k = "key:" + std::to_string(i);
    ASSERT_TRUE(redis.set(k, "v" + std::to_string(i)));
    written[k] = "v" + std::to_string(i);
    cache.put("user:" + std::to_string(i), make_user(i));
  }
  // Let the replicas catch up before the master dies (WAIT on each master would do the same).
  for (std::size_t i = 0; i < cluster.size(); ++i) {
    RedisClient node(cluster.node(i).url());
    if (node.command({"ROLE"}).elements[0].str == "master") {
      (void)node.command({"WAIT", "1", "5000"});
    }
  }

  // 1. Kill the master of the slot of key:0; its replica takes over.
  const int slot = key_slot("key:0");
  const std::size_t victim = index_of_port(cluster, owner_port(cluster.node(0), slot));
  const std::size_t witness = (victim + 1) % cluster.size();
  cluster.node(victim).kill();
  // Write to the dead master's slot until it works again: refused while no master serves the
  // slot (typed errors, counted), then accepted by the promoted replica.
  std::uint64_t failed_during_failover = 0, attempts = 0;
  const bool writable = eventually(60s, [&] {
    ++attempts;
    try {
      return redis.set("key:0", "after-failover");
    } catch (const Error& e) {
      EXPECT_TRUE(e.code() == ErrorCode::kUnavailable || e.code() == ErrorCode::kTimeout ||
                  e.code() == ErrorCode::kReply)
          << e.what();
      ++failed_during_failover;
      return false;
    }
  });
  ASSERT_TRUE(writable) << "the client did not follow the promoted replica";
  const long long new_owner = owner_port(cluster.node(witness), slot);
  EXPECT_NE(new_owner, cluster.node(victim).port()) << "no replica took over slot " << slot;
  written["key:0"] = "after-failover";
  std::uint64_t found = 0;
  for (const auto& [k, v] : written) {
    const auto got = redis.get(k);
    if (got == v) ++found;
    EXPECT_EQ(got, v) << k;
  }
  // The users written through the cache before the fault are still in L2 (on the promoted
  // replica for the victim's slots): read from L2, not from the source the cache falls back to.
  std::uint64_t users_found = 0, users_in_l2 = 0;
  const auto before_reads = cache.stats();
  for (int i = 0; i < 200; ++i) {
    const std::string user = "user:" + std::to_string(i);
    if (cache.get(user) == make_user(i)) ++users_found;
    const auto bytes = redis.get(cache.remote_key(user));
    if (bytes && ValueFormat<User>::envelope().decode(*bytes).value == make_user(i)) ++users_in_l2;
  }
  const auto after_reads = cache.stats();
  EXPECT_EQ(users_found, 200u);
  EXPECT_EQ(users_in_l2, 200u) << "L2 lost keys in the failover";
  EXPECT_EQ(after_reads.l2.hits - before_reads.l2.hits, 200u) << "reads were not L2 hits";
  EXPECT_EQ(after_reads.source.loads, before_reads.source.loads) << "reads fell back to the source";

  // 2. Move the slot range of key:1 to another live master (MIGRATE the keys, SETSLOT NODE).
  const int moved_slot = key_slot("key:1");
  const std::size_t from = index_of_port(cluster, owner_port(cluster.node(witness), moved_slot));
  std::size_t to = from;
  for (std::size_t i = 0; i < cluster.size(); ++i) {
    if (i == victim || i == from) continue;
    RedisClient node(cluster.node(i).url());
    if (node.command({"ROLE"}).elements[0].str == "master") {
      to = i;
      break;
    }
  }
  ASSERT_NE(to, from);
  RedisClient source(cluster.node(from).url());
  RedisClient target(cluster.node(to).url());
  const std::string source_id = source.command({"CLUSTER", "MYID"}).str;
  const std::string target_id = target.command({"CLUSTER", "MYID"}).str;
  const std::string slot_text = std::to_string(moved_slot);
  (void)target.command({"CLUSTER", "SETSLOT", slot_text, "IMPORTING", source_id});
  (void)source.command({"CLUSTER", "SETSLOT", slot_text, "MIGRATING", target_id});
  const RedisReply keys = source.command({"CLUSTER", "GETKEYSINSLOT", slot_text, "1000"});
  if (!keys.elements.empty()) {
    std::vector<std::string> argv = {
        "MIGRATE", "127.0.0.1", std::to_string(cluster.node(to).port()), "", "0", "5000", "KEYS"};
    for (const auto& k : keys.elements) argv.push_back(k.str);
    std::vector<std::string_view> views(argv.begin(), argv.end());
    ASSERT_EQ(source.command(views), RedisReply::status("OK"));
  }
  for (std::size_t i = 0; i < cluster.size(); ++i) {  // every live master; replicas follow
    if (i == victim) continue;
    RedisClient node(cluster.node(i).url());
    if (node.command({"ROLE"}).elements[0].str != "master") continue;
    (void)node.command({"CLUSTER", "SETSLOT", slot_text, "NODE", target_id});
  }
  EXPECT_EQ(redis.get("key:1"), written["key:1"]);  // MOVED, then the new owner
  EXPECT_TRUE(redis.set("key:1", "after-move"));
  EXPECT_EQ(RedisClient(cluster.node(to).url()).command({"GET", "key:1"}),
            RedisReply::string("after-move"));
  written["key:1"] = "after-move";
  cache.put("user:1", make_user(1001));
  EXPECT_EQ(cache.get("user:1"), make_user(1001));

  std::printf(
      "fault cluster-failover: keys written %zu, found after failover %llu; writes to the dead "
      "master's slot refused during the failover window %llu of %llu; Cache<User> values found "
      "%llu/200; slot %d moved from node %zu to node %zu\n",
      written.size(), static_cast<unsigned long long>(found),
      static_cast<unsigned long long>(failed_during_failover),
      static_cast<unsigned long long>(attempts), static_cast<unsigned long long>(users_found),
      moved_slot, from, to);
  EXPECT_EQ(found, written.size());
}

}  // namespace
}  // namespace strata
