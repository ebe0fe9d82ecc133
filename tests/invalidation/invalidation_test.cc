// Invalidation against real servers (standalone and cluster): the bus across processes and
// instances, the entity channel, sequence gaps, a killed subscriber connection,
// namespaces, dependency sets across slots, SCAN invalidation, glob escaping, L2 TTL jitter.
#include "strata/invalidation/invalidation.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "redis/redis_test_util.h"
#include "strata/cache/cache.h"
#include "strata/codec/json.h"
#include "strata/redis/key_slot.h"
#include "support/run_command.h"
#include "support/test_servers.h"

namespace strata::testing {
namespace {

using namespace std::chrono_literals;

PatternInvalidationOptions pattern_options(std::size_t batch, bool dry_run, bool collect) {
  PatternInvalidationOptions o;
  o.batch = batch;
  o.dry_run = dry_run;
  o.collect = collect;
  return o;
}

constexpr auto kWait = 10s;  // an upper bound for "eventually", never a performance threshold

struct UserUpdated {
  int id = 0;
};

// A bus on a channel private to this test (the helper process joins the same channel).
std::shared_ptr<InvalidationBus> make_bus(const std::string& url, const std::string& channel,
                                          std::string entity_channel = "") {
  InvalidationBusOptions options;
  options.channel = channel;
  options.entity_channel = std::move(entity_channel);
  auto bus = std::make_shared<InvalidationBus>(url, options);
  EXPECT_TRUE(bus->wait_connected(kWait));
  return bus;
}

Cache<std::string> make_cache(const std::string& url, const std::string& prefix,
                              const std::shared_ptr<InvalidationBus>& bus,
                              L1Coherence mode = L1Coherence::kBus) {
  CacheBuilder<std::string> builder;
  builder.local({.maximum_size = 1000, .ttl = 10min})
      .remote(RedisClient(url), {.ttl = 10min})
      .key_prefix(prefix)
      .coherence(mode);
  if (mode == L1Coherence::kBus) builder.invalidation_bus(bus);
  return builder.build();
}

std::string peer(const std::string& args) {
  const CommandResult result = run_command(std::string(INVAL_PEER_PATH) + " " + args + " 2>&1");
  EXPECT_EQ(result.exit_code, 0) << result.output;
  return result.output;
}

class BusTest : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    if (auto found = find_server(GetParam())) {
      url_ = *found;
    } else if (servers_required()) {
      FAIL() << missing_server_message(GetParam());
    } else {
      GTEST_SKIP() << missing_server_message(GetParam());
    }
    prefix_ = unique_prefix();
    channel_ = prefix_ + "bus";
  }
  [[nodiscard]] bool cluster() const {
    return std::string(GetParam()).find("CLUSTER") != std::string::npos;
  }
  // Sends a message on the bus's channel as another strata instance would: SPUBLISH on a
  // cluster (BusPubSub::kAuto is sharded there), PUBLISH otherwise.
  void send_raw(RedisClient& redis, const InvalidationMessage& message) const {
    (void)redis.command(
        {cluster() ? "SPUBLISH" : "PUBLISH", channel_, encode_invalidation(message)});
  }

  std::string url_;
  std::string prefix_;
  std::string channel_;
};

INSTANTIATE_TEST_SUITE_P(Servers, BusTest,
                         ::testing::Values("STRATA_TEST_REDIS_URL",
                                           "STRATA_TEST_REDIS_CLUSTER_URL"),
                         [](const auto& param_info) {
                           return std::string(param_info.param).find("CLUSTER") != std::string::npos
                                      ? std::string("Cluster")
                                      : std::string("Standalone");
                         });

// Two instances in one process (two buses, two instance ids): a put on one drops the other's L1;
// a cache without coherence keeps serving its stale L1 entry (so the drop is what made the
// difference).
TEST_P(BusTest, PutOnOneInstanceDropsTheOthersL1) {
  auto bus_a = make_bus(url_, channel_);
  auto bus_b = make_bus(url_, channel_);
  ASSERT_NE(bus_a->instance_id(), bus_b->instance_id());
  auto a = make_cache(url_, prefix_, bus_a);
  auto b = make_cache(url_, prefix_, bus_b);
  auto plain = make_cache(url_, prefix_, nullptr, L1Coherence::kNone);
  a.put("k", "v1");
  ASSERT_EQ(b.get("k"), "v1");
  ASSERT_EQ(plain.get("k"), "v1");
  a.put("k", "v2");
  EXPECT_TRUE(eventually(kWait, [&] { return b.get("k") == "v2"; }));
  EXPECT_EQ(plain.get("k"), "v1");  // its L1 never heard of the write
  a.erase("k");
  EXPECT_TRUE(eventually(kWait, [&] { return !b.get("k").has_value(); }));
  EXPECT_GE(bus_b->stats().received, 2u);
  EXPECT_EQ(bus_b->stats().sequence_gaps, 0u);
  EXPECT_GE(bus_a->stats().published, 2u);
}

// Issue 19 item 5: on a cluster strata's messages travel by sharded pub/sub (SPUBLISH, heard on
// the channel's slot owner only, no cluster-bus hop), elsewhere by classic PUBLISH: a message
// another client sends that way is received.
TEST_P(BusTest, StrataMessagesTravelShardedOnAClusterAndClassicElsewhere) {
  auto bus = make_bus(url_, channel_);
  ASSERT_TRUE(bus->wait_connected(kWait));
  RedisClient raw(url_);
  std::uint64_t sequence = 0;
  const bool received = eventually(kWait, [&] {
    send_raw(raw, {"another-instance", prefix_, sequence++, {"k"}, false, {}});
    return bus->stats().received > 0;
  });
  EXPECT_TRUE(received) << (cluster() ? "SPUBLISH" : "PUBLISH") << " did not reach the bus";
}

// The acceptance test: another *process* (inval_peer) writes, this process's L1 drops the key.
TEST_P(BusTest, AnEventFromAnotherProcessDropsL1) {
  auto bus = make_bus(url_, channel_);
  auto cache = make_cache(url_, prefix_, bus);
  cache.put("k", "v1");
  ASSERT_EQ(cache.get("k"), "v1");
  ASSERT_EQ(cache.stats().l1.hits, 1u);
  peer("put " + url_ + " " + channel_ + " " + prefix_ + " k v2");
  EXPECT_TRUE(eventually(kWait, [&] { return cache.get("k") == "v2"; }));

  // publish(entity) from the other process: the entity and its dependents go everywhere.
  cache.put("user:7", "alice");
  cache.put("user_profile:7", "profile of alice", {"user:7"});
  cache.put("user_list", "alice,bob", {"user:7"});
  ASSERT_EQ(cache.get("user_profile:7"), "profile of alice");
  peer("publish " + url_ + " " + channel_ + " user:7");
  EXPECT_TRUE(eventually(kWait, [&] {
    return !cache.get("user:7") && !cache.get("user_profile:7") && !cache.get("user_list");
  }));
  RedisClient redis(url_);
  EXPECT_FALSE(redis.exists(cache.remote_key("user_profile:7")));
  EXPECT_FALSE(redis.exists("deps:" + prefix_ + "user:7"));
}

// The typed registry, from another process: "user_updated" 9 -> user:9, user_profile:9, user_list.
TEST_P(BusTest, ADomainEventFromAnotherProcessInvalidatesItsKeys) {
  auto bus = make_bus(url_, channel_);
  auto cache = make_cache(url_, prefix_, bus);
  for (const char* key : {"user:9", "user_profile:9", "user_list", "user:10"}) cache.put(key, "x");
  peer("event " + url_ + " " + channel_ + " 9");
  EXPECT_TRUE(eventually(kWait, [&] {
    return !cache.get("user:9") && !cache.get("user_profile:9") && !cache.get("user_list");
  }));
  EXPECT_EQ(cache.get("user:10"), "x");
}

// The textbook's own format: JSON {"entity": "user:123"} on channel cache_invalidation, sent by
// anything (here a plain PUBLISH): L1 and L2 lose the entity.
TEST_P(BusTest, TheTextbookJsonFormatInvalidates) {
  auto bus = make_bus(url_, channel_, "cache_invalidation");
  auto cache = make_cache(url_, prefix_, bus);
  const std::string entity = "user:" + prefix_;  // unique: other tests may use the channel too
  cache.put(entity, "v1");
  ASSERT_EQ(cache.get(entity), "v1");
  RedisClient redis(url_);
  ASSERT_TRUE(redis.exists(cache.remote_key(entity)));
  nlohmann::json message = {{"entity", entity}};
  (void)redis.publish("cache_invalidation", message.dump());
  EXPECT_TRUE(eventually(kWait, [&] { return !cache.get(entity).has_value(); }));
  EXPECT_FALSE(redis.exists(cache.remote_key(entity)));
  EXPECT_GE(bus->stats().entity_received, 1u);
  (void)redis.publish("cache_invalidation", "not json");
  EXPECT_TRUE(eventually(kWait, [&] { return bus->stats().malformed >= 1; }));
}

// A message lost between two others of one sender: the receiver flushes its L1 and counts it.
TEST_P(BusTest, ASequenceGapFlushesL1) {
  auto bus = make_bus(url_, channel_);
  auto cache = make_cache(url_, prefix_, bus);
  cache.put("k", "v1");
  RedisClient redis(url_);
  (void)redis.del(cache.remote_key("k"));  // the write whose message will be "lost"
  ASSERT_EQ(cache.get("k"), "v1");         // L1 still serves it
  InvalidationMessage m{"peer-x", prefix_, 1, {"other"}, false, {}};
  send_raw(redis, m);
  EXPECT_TRUE(eventually(kWait, [&] { return bus->stats().received >= 1; }));
  EXPECT_EQ(cache.get("k"), "v1");
  EXPECT_EQ(bus->stats().sequence_gaps, 0u);
  m.sequence = 3;  // 2 never arrives
  send_raw(redis, m);
  EXPECT_TRUE(eventually(kWait, [&] { return bus->stats().sequence_gaps == 1; }));
  EXPECT_GE(bus->stats().l1_flushes, 1u);
  EXPECT_FALSE(cache.get("k").has_value());
  // Its own messages are skipped.
  m.sender = bus->instance_id();
  m.sequence = 1;
  send_raw(redis, m);
  EXPECT_TRUE(eventually(kWait, [&] { return bus->stats().own_skipped >= 1; }));
}

// CLIENT KILL of the subscriber connection: L1 is flushed, nothing stale is read afterwards, and
// the connection comes back. Standalone only (a client id names one connection of one server; in
// a cluster the id of the subscriber's node could name another client on another node), so it
// is instantiated for the standalone server alone rather than skipped on the cluster.
class StandaloneBusTest : public BusTest {};

INSTANTIATE_TEST_SUITE_P(Servers, StandaloneBusTest, ::testing::Values("STRATA_TEST_REDIS_URL"),
                         [](const auto&) { return std::string("Standalone"); });

TEST_P(StandaloneBusTest, AKilledSubscriberConnectionFlushesL1AndReconnects) {
  auto bus_a = make_bus(url_, channel_);
  auto bus_b = make_bus(url_, channel_);
  auto a = make_cache(url_, prefix_, bus_a);
  auto b = make_cache(url_, prefix_, bus_b);
  a.put("k", "v1");
  ASSERT_EQ(b.get("k"), "v1");
  RedisClient redis(url_);
  const std::int64_t id = bus_b->subscriber_client_id();
  ASSERT_GT(id, 0);
  // B's L2 copy changes behind its back, as if B had missed the message.
  (void)redis.del(b.remote_key("k"));
  const std::string id_text = std::to_string(id);
  (void)redis.command({"CLIENT", "KILL", "ID", id_text});
  a.put("k", "v2");
  EXPECT_TRUE(eventually(kWait, [&] { return bus_b->stats().connection_losses >= 1; }));
  EXPECT_TRUE(eventually(kWait, [&] {
    return bus_b->connected() && bus_b->subscriber_client_id() > 0 &&
           bus_b->subscriber_client_id() != id;
  }));
  EXPECT_GE(bus_b->stats().l1_flushes, 1u);
  EXPECT_GE(bus_b->stats().reconnects, 1u);
  EXPECT_EQ(b.get("k"), "v2");  // never v1 again
  // And the bus works again after the reconnect (once the server has the new SUBSCRIBE: probe).
  const auto received = bus_b->stats().received;
  EXPECT_TRUE(eventually(kWait, [&] {
    a.put("probe", "x");
    return bus_b->stats().received > received;
  }));
  a.put("k", "v3");
  EXPECT_TRUE(eventually(kWait, [&] { return b.get("k") == "v3"; }));
}

// Bumping a namespace generation: every key of it is unreachable at once, in every instance
// (their cached generation and their L1s are dropped); old keys keep their TTL and age out.
TEST_P(BusTest, BumpingANamespaceInvalidatesItEverywhere) {
  auto bus_a = make_bus(url_, channel_);
  auto bus_b = make_bus(url_, channel_);
  NamespaceVersions ns_a(RedisClient(url_), bus_a);
  NamespaceVersions ns_b(RedisClient(url_), bus_b);
  const std::string name = prefix_ + "users";
  auto a = make_cache(url_, prefix_, bus_a);
  auto b = make_cache(url_, prefix_, bus_b);
  const std::string key_v1 = ns_a.key(name, "42");
  EXPECT_EQ(key_v1, name + ":v1:42");
  EXPECT_EQ(ns_b.key(name, "42"), key_v1);
  a.put(key_v1, "old");
  ASSERT_EQ(b.get(ns_b.key(name, "42")), "old");
  EXPECT_EQ(ns_a.bump(name), 2u);
  EXPECT_EQ(ns_a.key(name, "42"), name + ":v2:42");
  EXPECT_TRUE(eventually(kWait, [&] { return ns_b.key(name, "42") == name + ":v2:42"; }));
  EXPECT_FALSE(b.get(ns_b.key(name, "42")).has_value());
  EXPECT_GE(bus_b->stats().l1_flushes, 1u);
  RedisClient redis(url_);
  const auto left = redis.pttl(a.remote_key(key_v1));
  EXPECT_GT(left.count(), 0) << "the old generation's key ages out by its TTL";
  // Without a bus the generation is read from Redis every time.
  NamespaceVersions plain{RedisClient(url_)};
  EXPECT_EQ(plain.generation(name), 2u);
  EXPECT_EQ(plain.generation(prefix_ + "never-bumped"), 1u);
}

// Dependencies spread over many slots: invalidating the entity removes exactly the entity, its
// dependents and the set; a key that merely looks alike stays. The set is `deps:<entity>` and
// holds the dependents' Redis keys as they are.
TEST_P(BusTest, InvalidatingAnEntityRemovesItsDependentsAcrossSlots) {
  RedisClient redis(url_);
  DependencyIndex deps(redis);
  const std::string entity = prefix_ + "user:7";
  EXPECT_EQ(deps.set_key(entity), "deps:" + entity);
  std::vector<std::string> dependents;
  std::set<int> slots;
  for (int i = 0; i < 40; ++i) {
    dependents.push_back(prefix_ + "dep" + std::to_string(i));
    slots.insert(key_slot(dependents.back()));
    redis.set(dependents.back(), "v", {.ttl = 60s});
  }
  if (cluster()) {
    ASSERT_GT(slots.size(), 30u);
  }
  const std::string own = prefix_ + entity;
  redis.set(own, "entity", {.ttl = 60s});
  const std::string bystander = prefix_ + "bystander";
  redis.set(bystander, "stays", {.ttl = 60s});
  deps.add(entity, dependents);
  EXPECT_EQ(deps.dependents(entity).size(), dependents.size());
  EXPECT_GT(redis.pttl(deps.set_key(entity)).count(), 0);
  const std::string own_keys[] = {own};
  std::vector<std::string> removed = deps.invalidate(entity, own_keys);
  std::sort(removed.begin(), removed.end());
  std::vector<std::string> expected = dependents;
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(removed, expected);
  for (const auto& key : dependents) EXPECT_FALSE(redis.exists(key)) << key;
  EXPECT_FALSE(redis.exists(own));
  EXPECT_FALSE(redis.exists(deps.set_key(entity)));
  EXPECT_TRUE(redis.exists(bystander));
  EXPECT_TRUE(redis.scan(escape_glob(deps.set_key(entity)) + "*").empty());
  EXPECT_TRUE(deps.invalidate(entity).empty());  // idempotent
}

// The convention works both ways: dependents another client recorded (SADD deps:<entity> <its
// key>) are deleted by strata's invalidate_entity, and what strata records is a plain set of
// real keys another client can read and delete.
TEST_P(BusTest, DependencySetsAreSharedWithOtherClients) {
  auto cache = CacheBuilder<std::string>()
                   .local({.maximum_size = 100, .ttl = 10min})
                   .remote(RedisClient(url_), {.ttl = 10min})
                   .key_prefix(prefix_)
                   .build();
  RedisClient raw(url_);
  const std::string entity = "user:" + prefix_;
  // Another client's dependent, recorded by the convention.
  const std::string foreign = "report:" + prefix_;
  raw.set(foreign, "theirs", {.ttl = 60s});
  (void)raw.command({"SADD", "deps:" + entity, foreign});
  // strata's own dependent.
  cache.put("profile", "mine", {entity});
  ASSERT_EQ(raw.command({"SISMEMBER", "deps:" + entity, prefix_ + "profile"}).integer, 1);
  cache.invalidate_entity(entity);
  EXPECT_FALSE(raw.exists(foreign)) << "a dependent recorded by another client";
  EXPECT_FALSE(raw.exists(prefix_ + "profile"));
  EXPECT_EQ(cache.get("profile"), std::nullopt) << "dropped from L1 too";
  EXPECT_FALSE(raw.exists("deps:" + entity));

  // The other way: strata records, another client invalidates by reading the set.
  cache.put("profile", "mine again", {entity});
  const auto members = raw.command({"SMEMBERS", "deps:" + entity});
  ASSERT_EQ(members.elements.size(), 1u);
  EXPECT_EQ(members.elements[0].str, prefix_ + "profile");
  EXPECT_EQ(raw.get(members.elements[0].str).has_value(), true);
}

// Another client (not strata) deletes a key and says so on the entity channel with the Redis
// keys it deleted: every attached L1 drops them, whatever its key prefix; bystanders stay.
TEST_P(BusTest, AnotherClientsKeysMessageDropsTheKeysFromEveryL1) {
  const std::string entity_channel = prefix_ + "entities";
  auto bus = make_bus(url_, channel_, entity_channel);
  auto cache = make_cache(url_, prefix_, bus);
  auto other = make_cache(url_, prefix_ + "o:", bus);
  cache.put("k", "v");
  cache.put("stays", "v");
  other.put("k", "w");
  RedisClient raw(url_);
  (void)raw.del(prefix_ + "k");
  // With the key gone from L2, only L1 can still answer: it must forget the key.
  ASSERT_EQ(cache.get("k"), "v");
  (void)raw.publish(entity_channel, R"({"keys": [")" + prefix_ + R"(k"]})");
  EXPECT_TRUE(eventually(kWait, [&] { return !cache.get("k").has_value(); }));
  EXPECT_EQ(cache.get("stays"), "v");
  EXPECT_EQ(other.get("k"), "w") << "another prefix's key of the same name is another key";
  (void)raw.publish(entity_channel, R"({"keys": [1]})");
  EXPECT_TRUE(eventually(kWait, [&] { return bus->stats().malformed >= 1; }));
}

// The same through Cache<V>: put with entities, invalidate_entity without a bus.
TEST_P(BusTest, CachePutWithEntitiesAndInvalidateEntity) {
  auto cache = CacheBuilder<std::string>()
                   .local({.maximum_size = 100, .ttl = 10min})
                   .remote(RedisClient(url_), {.ttl = 10min})
                   .key_prefix(prefix_)
                   .dependencies([](const std::string& v) {
                     return std::vector<std::string>{"owner:" + v.substr(0, v.find('/'))};
                   })
                   .build();
  const std::string owner = "owner:" + prefix_;
  cache.put("doc1", prefix_ + "/one");
  cache.put("doc2", prefix_ + "/two");
  cache.put("doc3", "someone-else/three");
  cache.put(owner, "the owner");
  ASSERT_EQ(cache.get("doc1"), prefix_ + "/one");
  cache.invalidate_entity(owner);
  EXPECT_FALSE(cache.get("doc1").has_value());
  EXPECT_FALSE(cache.get("doc2").has_value());
  EXPECT_FALSE(cache.get(owner).has_value());
  EXPECT_EQ(cache.get("doc3"), "someone-else/three");
  (void)RedisClient(url_).del(DependencyIndex(RedisClient(url_)).set_key("owner:someone-else"));
}

// Issue 18 item 8: the dependencies of a value filled by a read (not put) are recorded too, so
// invalidate_entity drops it from L2 and L1 and the next read loads the new row.
TEST_P(BusTest, DependenciesAreRecordedWhenAReadFillsTheValue) {
  std::string row = prefix_ + "/one";
  auto cache = CacheBuilder<std::string>()
                   .local({.maximum_size = 100, .ttl = 10min})
                   .remote(RedisClient(url_), {.ttl = 10min})
                   .key_prefix(prefix_)
                   .loader([&](std::string_view) -> std::optional<std::string> { return row; })
                   .dependencies([](const std::string& v) {
                     return std::vector<std::string>{"owner:" + v.substr(0, v.find('/'))};
                   })
                   .build();
  const std::string owner = "owner:" + prefix_;
  ASSERT_EQ(cache.get("doc1"), prefix_ + "/one");  // loaded and filled by the read
  const auto bulk = cache.get_or_load_many(std::vector<std::string>{"doc2"});
  ASSERT_EQ(bulk[0].value(), prefix_ + "/one");  // and by a bulk read
  row = prefix_ + "/two";
  cache.invalidate_entity(owner);
  EXPECT_FALSE(RedisClient(url_).exists(cache.remote_key("doc1")));
  EXPECT_FALSE(RedisClient(url_).exists(cache.remote_key("doc2")));
  EXPECT_EQ(cache.get("doc1"), prefix_ + "/two");
  EXPECT_EQ(cache.get("doc2"), prefix_ + "/two");
}

// SCAN-based invalidation on every master: exactly the matching keys go, nothing else; the dry
// run lists the same keys and deletes nothing; a glob character in user data stays literal.
TEST_P(BusTest, PatternInvalidationRemovesExactlyTheMatchingKeys) {
  RedisClient redis(url_);
  std::vector<std::string> match, other;
  for (int i = 0; i < 150; ++i) {
    match.push_back(prefix_ + "match:" + std::to_string(i));
    other.push_back(prefix_ + "other:" + std::to_string(i));
  }
  other.push_back(prefix_ + "matc:h");
  other.push_back(prefix_ + "xmatch:1");
  std::vector<KeyValueView> items;
  for (const auto& k : match) items.emplace_back(k, "v");
  for (const auto& k : other) items.emplace_back(k, "v");
  redis.set_many(items, 60s);
  const std::string pattern = escape_glob(prefix_) + "match:*";
  const PatternInvalidationResult dry =
      invalidate_pattern(redis, pattern, pattern_options(40, true, false));
  std::vector<std::string> sorted_match = match;
  std::sort(sorted_match.begin(), sorted_match.end());
  EXPECT_EQ(dry.keys, sorted_match);
  EXPECT_EQ(dry.matched, match.size());
  EXPECT_EQ(dry.deleted, 0u);
  EXPECT_EQ(redis.exists(std::span<const std::string_view>(
                std::vector<std::string_view>(match.begin(), match.end()))),
            static_cast<long long>(match.size()));
  const PatternInvalidationResult done =
      invalidate_pattern(redis, pattern, pattern_options(40, false, false));
  EXPECT_EQ(done.deleted, match.size());
  EXPECT_EQ(done.matched, match.size());
  EXPECT_GE(done.batches, match.size() / 40);
  EXPECT_TRUE(redis.scan(escape_glob(prefix_) + "*match:*").size() == 1u);  // xmatch:1
  for (const auto& k : other) EXPECT_TRUE(redis.exists(k)) << k;
  (void)redis.del(std::span<const std::string>(other));
}

// With the bus, the deleted cache keys leave every instance's L1 too.
TEST_P(BusTest, PatternInvalidationReachesOtherL1s) {
  auto bus_a = make_bus(url_, channel_);
  auto bus_b = make_bus(url_, channel_);
  auto a = make_cache(url_, prefix_, bus_a);
  auto b = make_cache(url_, prefix_, bus_b);
  for (const char* k : {"report:1", "report:2", "keep:1"}) a.put(k, "v");
  for (const char* k : {"report:1", "report:2", "keep:1"}) ASSERT_EQ(b.get(k), "v");
  RedisClient redis(url_);
  const auto result = invalidate_pattern(redis, escape_glob(prefix_) + "report:*",
                                         pattern_options(500, false, true), bus_a.get());
  EXPECT_EQ(result.deleted, 2u);
  EXPECT_TRUE(eventually(kWait, [&] { return !b.get("report:1") && !b.get("report:2"); }));
  EXPECT_EQ(b.get("keep:1"), "v");
}

// L2 TTLs are jittered: many keys written with one ttl get spread-out PTTLs, all within
// [ttl * (1 - jitter), ttl].
TEST_P(BusTest, RemoteTtlsAreSpreadByJitter) {
  auto cache = CacheBuilder<std::string>()
                   .remote(RedisClient(url_), {.ttl = 100s, .ttl_jitter = 0.5})
                   .key_prefix(prefix_)
                   .build();
  RedisClient redis(url_);
  std::vector<long long> pttls;
  for (int i = 0; i < 100; ++i) {
    const std::string key = "k" + std::to_string(i);
    cache.put(key, "v");
    pttls.push_back(redis.pttl(cache.remote_key(key)).count());
  }
  const auto [lo, hi] = std::minmax_element(pttls.begin(), pttls.end());
  EXPECT_GE(*lo, 50'000 - 5'000);  // 5 s of slack for a slow machine between SET and PTTL
  EXPECT_LE(*hi, 100'000);
  // 100 uniform draws over 50 s: a spread under 10 s has probability below 1e-60.
  EXPECT_GT(*hi - *lo, 10'000);
  EXPECT_GT(std::set<long long>(pttls.begin(), pttls.end()).size(), 50u);
}

TEST(InvalidationUnitTest, EscapeGlobEscapesEveryMetacharacter) {
  EXPECT_EQ(escape_glob("plain:key"), "plain:key");
  EXPECT_EQ(escape_glob("a*b?c[d]e\\f"), "a\\*b\\?c\\[d\\]e\\\\f");
  EXPECT_EQ(escape_glob(""), "");
}

// Against Redis: a key holding '*' never widens the match.
TEST_P(BusTest, AnEscapedGlobMatchesOnlyItself) {
  RedisClient redis(url_);
  const std::vector<std::string> keys = {prefix_ + "a*", prefix_ + "ab",  prefix_ + "a*x",
                                         prefix_ + "a?", prefix_ + "[a]", prefix_ + "a",
                                         prefix_ + "a\\"};
  for (const auto& k : keys) redis.set(k, "v", {.ttl = 60s});
  for (const auto& k : keys) {
    const auto found = redis.scan(escape_glob(k));
    EXPECT_EQ(found, std::vector<std::string>{k}) << k;
  }
  EXPECT_EQ(redis.scan(escape_glob(prefix_ + "a*") + "*"),
            (std::vector<std::string>{prefix_ + "a*", prefix_ + "a*x"}));
  const auto result = invalidate_pattern(redis, escape_glob(prefix_ + "a*"));
  EXPECT_EQ(result.deleted, 1u);
  EXPECT_TRUE(redis.exists(prefix_ + "ab"));
  (void)redis.del(std::span<const std::string>(keys));
}

TEST(InvalidationUnitTest, MessagesRoundTripAndMalformedOnesAreRejected) {
  InvalidationMessage m{"me", "app:user:", 42, {"1", "two", std::string("\x01z", 2)}, false, {}};
  const auto back = decode_invalidation(encode_invalidation(m));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->sender, "me");
  EXPECT_EQ(back->ns, "app:user:");
  EXPECT_EQ(back->sequence, 42u);
  EXPECT_EQ(back->keys, m.keys);
  EXPECT_FALSE(back->flush);
  EXPECT_TRUE(back->redis_keys.empty());
  EXPECT_FALSE(decode_invalidation("not json"));
  EXPECT_FALSE(decode_invalidation(R"({"entity":"user:1"})"));
  EXPECT_FALSE(decode_invalidation(R"({"v":2,"sender":"a","ns":"","seq":1,"keys":[]})"));
  EXPECT_FALSE(decode_invalidation(R"({"v":1,"sender":"a","ns":"","seq":1,"keys":[1]})"));
  // Redis keys travel beside cache keys; a message without them is still valid.
  m.redis_keys = {"app:user:42", std::string("bin\0ary", 7)};
  const auto with_redis_keys = decode_invalidation(encode_invalidation(m));
  ASSERT_TRUE(with_redis_keys);
  EXPECT_EQ(with_redis_keys->redis_keys, m.redis_keys);
  EXPECT_FALSE(
      decode_invalidation(R"({"v":1,"sender":"a","ns":"","seq":1,"keys":[],"redis_keys":[1]})"));
}

TEST(InvalidationUnitTest, TheRegistryMapsDomainEventsToKeys) {
  InvalidationRegistry registry;
  registry.on<UserUpdated>("user_updated", [](const UserUpdated& e) {
    const std::string id = std::to_string(e.id);
    return std::vector<std::string>{"user:" + id, "user_profile:" + id, "user_list"};
  });
  EXPECT_EQ(registry.keys_for("user_updated", UserUpdated{7}),
            (std::vector<std::string>{"user:7", "user_profile:7", "user_list"}));
  EXPECT_TRUE(registry.contains("user_updated"));
  EXPECT_THROW((void)registry.keys_for("user_deleted", UserUpdated{7}), InvalidArgumentError);
  EXPECT_THROW((void)registry.keys_for("user_updated", 7), InvalidArgumentError);
}

TEST(InvalidationUnitTest, TheBuilderChecksBusConfiguration) {
  EXPECT_THROW((void)CacheBuilder<std::string>()
                   .local({.maximum_size = 1})
                   .remote(RedisClient("redis://127.0.0.1:1"))
                   .coherence(L1Coherence::kBus)
                   .build(),
               InvalidArgumentError);  // no invalidation_bus()
  EXPECT_THROW((void)CacheBuilder<std::string>().invalidation_bus(nullptr), InvalidArgumentError);
  EXPECT_THROW((void)CacheBuilder<std::string>()
                   .local({.maximum_size = 1})
                   .dependencies([](const std::string&) { return std::vector<std::string>{}; })
                   .build(),
               InvalidArgumentError);  // dependencies without remote()
}

}  // namespace
}  // namespace strata::testing
