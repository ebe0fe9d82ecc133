// The RedisClient conformance suite: every data-structure call, run against the standalone
// server, the Redis Cluster, the TLS servers and the Sentinel setup of `make test` (the same
// tests, parameterised by the environment variable that names the server).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <limits>
#include <mutex>
#include <set>
#include <thread>

#include "redis/redis_test_util.h"
#include "strata/error.h"
#include "strata/redis/key_slot.h"
#include "strata/redis/redis_client.h"
#include "strata/redis/redis_subscriber.h"
#include "support/test_servers.h"

namespace strata {
namespace {

using namespace std::chrono_literals;
using testing::eventually;

class RedisConformance : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    // "VARIABLE+pooled": the same server with multiplex=false (a pooled connection per call).
    const std::string param = GetParam();
    const auto plus = param.find('+');
    const std::string variable = param.substr(0, plus);
    STRATA_SERVER_URL(url, variable.c_str());
    url_ = url;
    if (plus != std::string::npos) {
      url_ += (url_.find('?') == std::string::npos ? "?" : "&");
      url_ += "multiplex=false";
    }
    client_.emplace(url_);
    prefix_ = testing::unique_prefix();
  }
  void TearDown() override {
    if (!client_) return;
    try {
      const auto keys = client_->scan(prefix_ + "*");
      std::vector<std::string_view> views(keys.begin(), keys.end());
      (void)client_->del(views);
    } catch (const Error&) {
    }
  }
  std::string key(std::string_view name) const { return prefix_ + std::string(name); }
  bool cluster() const { return client_->is_cluster(); }

  // SCRIPT FLUSH on the server, or on every master of the cluster.
  void flush_scripts() {
    if (!cluster()) {
      (void)client_->command({"SCRIPT", "FLUSH"});
      return;
    }
    const RedisReply slots = client_->command({"CLUSTER", "SLOTS"});
    std::set<std::string> masters;
    // Each master over the cluster URL's transport: rediss:// and its tls_* options for a
    // TLS cluster.
    const bool tls = url_.starts_with("rediss");
    const auto query = url_.find('?');
    const std::string options = query == std::string::npos ? "" : url_.substr(query);
    for (const auto& range : slots.elements) {
      masters.insert(std::string(tls ? "rediss://" : "redis://") +
                     range.elements[2].elements[0].str + ":" +
                     std::to_string(range.elements[2].elements[1].integer) + options);
    }
    for (const auto& master : masters) (void)RedisClient(master).command({"SCRIPT", "FLUSH"});
  }

  std::string url_;
  std::optional<RedisClient> client_;
  std::string prefix_;
};

TEST_P(RedisConformance, GetSetDelExists) {
  auto& redis = *client_;
  const auto k = key("plain");
  EXPECT_EQ(redis.get(k), std::nullopt);
  EXPECT_FALSE(redis.exists(k));
  EXPECT_TRUE(redis.set(k, "v1"));
  EXPECT_EQ(redis.get(k), "v1");
  EXPECT_TRUE(redis.exists(k));
  EXPECT_EQ(redis.del(k), 1);
  EXPECT_EQ(redis.del(k), 0);
  EXPECT_EQ(redis.get(k), std::nullopt);
  redis.ping();
}

TEST_P(RedisConformance, BinaryKeysAndValuesRoundTrip) {
  auto& redis = *client_;
  const std::string k = key(std::string("bin\0\xff\xfe\x01 \r\n", 10));
  const std::string v("\x00\x01\x02\xc3\x28\xff\r\n\x00end", 12);
  ASSERT_TRUE(redis.set(k, v));
  const auto got = redis.get(k);
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, v);
  EXPECT_EQ(redis.mget({k})[0], v);
  EXPECT_TRUE(redis.hset(k + "h", std::string("f\0f", 3), v));
  EXPECT_EQ(redis.hget(k + "h", std::string("f\0f", 3)), v);
  const auto all = redis.hgetall(k + "h");
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].first, std::string("f\0f", 3));
  // The key shows up in SCAN with its bytes intact.
  const auto found = redis.scan(prefix_ + "bin*");
  EXPECT_NE(std::find(found.begin(), found.end(), k), found.end());
}

TEST_P(RedisConformance, SetWithTtlAndConditions) {
  auto& redis = *client_;
  const auto k = key("ttl");
  EXPECT_TRUE(redis.set(k, "a", {.ttl = 100s}));
  const auto ttl = redis.ttl(k);
  EXPECT_GT(ttl.count(), 0);
  EXPECT_LE(ttl.count(), 100);
  EXPECT_TRUE(redis.set(k, "b", {.ttl = 1500ms}));
  const auto pttl = redis.pttl(k);
  EXPECT_GT(pttl.count(), 0);
  EXPECT_LE(pttl.count(), 1500);

  const auto nx = key("nx");
  EXPECT_TRUE(redis.set(nx, "first", {.condition = SetOptions::Condition::kIfAbsent}));
  EXPECT_FALSE(redis.set(nx, "second", {.condition = SetOptions::Condition::kIfAbsent}));
  EXPECT_EQ(redis.get(nx), "first");
  const auto xx = key("xx");
  EXPECT_FALSE(redis.set(xx, "v", {.condition = SetOptions::Condition::kIfPresent}));
  EXPECT_EQ(redis.get(xx), std::nullopt);
  EXPECT_TRUE(redis.set(nx, "third", {.ttl = 50s, .condition = SetOptions::Condition::kIfPresent}));
  EXPECT_EQ(redis.get(nx), "third");
  EXPECT_GT(redis.ttl(nx).count(), 0);

  EXPECT_THROW((void)redis.set(k, "v", {.ttl = -1ms}), InvalidArgumentError);
}

TEST_P(RedisConformance, ExpireAndTtl) {
  auto& redis = *client_;
  const auto k = key("expire");
  EXPECT_EQ(redis.ttl(k).count(), RedisClient::kNoKey);
  EXPECT_EQ(redis.pttl(k).count(), RedisClient::kNoKey);
  EXPECT_FALSE(redis.expire(k, 10s));
  ASSERT_TRUE(redis.set(k, "v"));
  EXPECT_EQ(redis.ttl(k).count(), RedisClient::kNoExpiry);
  EXPECT_TRUE(redis.expire(k, 10s));
  EXPECT_GT(redis.ttl(k).count(), 0);
  EXPECT_TRUE(redis.pexpire(k, 60000ms));
  EXPECT_GT(redis.pttl(k).count(), 10000);
  // An expiry in the past deletes the key.
  EXPECT_TRUE(redis.pexpire(k, 0ms));
  EXPECT_EQ(redis.get(k), std::nullopt);
}

TEST_P(RedisConformance, MgetAndMsetKeepRequestOrderAcrossSlots) {
  auto& redis = *client_;
  std::vector<std::string> keys, values;
  std::set<int> slots;
  for (int i = 0; i < 60; ++i) {
    keys.push_back(key("m:" + std::to_string(i)));
    values.push_back("value-" + std::to_string(i * 7));
    slots.insert(key_slot(keys.back()));
  }
  ASSERT_GT(slots.size(), 10u) << "the keys must spread over many slots";
  std::vector<KeyValueView> items;
  for (std::size_t i = 0; i < keys.size(); i += 2) items.emplace_back(keys[i], values[i]);
  redis.mset(items);  // even keys only
  std::vector<std::string_view> request;
  for (std::size_t i = keys.size(); i-- > 0;) request.push_back(keys[i]);  // reversed
  const auto got = redis.mget(request);
  ASSERT_EQ(got.size(), request.size());
  for (std::size_t r = 0; r < request.size(); ++r) {
    const std::size_t i = keys.size() - 1 - r;
    if (i % 2 == 0) {
      EXPECT_EQ(got[r], values[i]) << "key " << keys[i];
    } else {
      EXPECT_EQ(got[r], std::nullopt) << "key " << keys[i];
    }
  }
  EXPECT_EQ(redis.exists(request), 30);
  EXPECT_EQ(redis.mget(keys).size(), keys.size());
  EXPECT_EQ(redis.del(keys), 30);
  EXPECT_EQ(redis.exists(request), 0);
  EXPECT_TRUE(redis.mget(std::span<const std::string_view>{}).empty());
}

TEST_P(RedisConformance, SetManyWithTtl) {
  auto& redis = *client_;
  std::vector<std::string> keys;
  for (int i = 0; i < 40; ++i) keys.push_back(key("many:" + std::to_string(i)));
  std::vector<std::string> values;
  for (const auto& k : keys) values.push_back(k + ":v");
  std::vector<KeyValueView> items;
  for (std::size_t i = 0; i < keys.size(); ++i) items.emplace_back(keys[i], values[i]);
  redis.set_many(items, 30s);
  const auto got = redis.mget(keys);
  for (std::size_t i = 0; i < keys.size(); ++i) EXPECT_EQ(got[i], keys[i] + ":v");
  for (const auto& k : {keys.front(), keys.back()}) {
    const auto pttl = redis.pttl(k);
    EXPECT_GT(pttl.count(), 0);
    EXPECT_LE(pttl.count(), 30000);
  }
  redis.set_many(items, 0ms);  // no expiry
  EXPECT_EQ(redis.ttl(keys[3]).count(), RedisClient::kNoExpiry);
}

TEST_P(RedisConformance, Counters) {
  auto& redis = *client_;
  const auto k = key("counter");
  EXPECT_EQ(redis.incrby(k, 5), 5);
  EXPECT_EQ(redis.incrby(k, -2), 3);
  EXPECT_EQ(redis.decrby(k, 10), -7);
  EXPECT_EQ(redis.get(k), "-7");
}

TEST_P(RedisConformance, Hashes) {
  auto& redis = *client_;
  const auto k = key("hash");
  EXPECT_EQ(redis.hget(k, "f"), std::nullopt);
  EXPECT_TRUE(redis.hgetall(k).empty());
  EXPECT_TRUE(redis.hset(k, "f", "1"));
  EXPECT_FALSE(redis.hset(k, "f", "2"));
  EXPECT_EQ(redis.hset(k, {{"a", "x"}, {"b", "y"}, {"f", "3"}}), 2);
  EXPECT_EQ(redis.hget(k, "f"), "3");
  auto all = redis.hgetall(k);
  std::sort(all.begin(), all.end());
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"a", "x"}, {"b", "y"}, {"f", "3"}};
  EXPECT_EQ(all, expected);
  EXPECT_EQ(redis.hdel(k, {"a", "nope"}), 1);
  EXPECT_EQ(redis.hgetall(k).size(), 2u);
}

TEST_P(RedisConformance, SortedSetsWithScores) {
  auto& redis = *client_;
  const auto k = key("zset");
  EXPECT_TRUE(redis.zadd(k, 2.5, "b"));
  EXPECT_EQ(redis.zadd(
                k, {{1.0, "a"}, {-0.125, "neg"}, {std::numeric_limits<double>::infinity(), "top"}}),
            3);
  EXPECT_FALSE(redis.zadd(k, 3.75, "b"));  // new score, not a new member
  EXPECT_EQ(redis.zrange(k, 0, -1), (std::vector<std::string>{"neg", "a", "b", "top"}));
  EXPECT_EQ(redis.zrevrange(k, 0, 1), (std::vector<std::string>{"top", "b"}));
  const auto scored = redis.zrange_with_scores(k, 0, -1);
  ASSERT_EQ(scored.size(), 4u);
  EXPECT_EQ(scored[0], (ScoredMember{"neg", -0.125}));
  EXPECT_EQ(scored[2], (ScoredMember{"b", 3.75}));
  EXPECT_EQ(scored[3].second, std::numeric_limits<double>::infinity());
  const auto rev = redis.zrevrange_with_scores(k, -2, -1);
  ASSERT_EQ(rev.size(), 2u);
  EXPECT_EQ(rev[0], (ScoredMember{"a", 1.0}));
  EXPECT_TRUE(redis.zrange(key("none"), 0, -1).empty());
}

TEST_P(RedisConformance, ScanWithPatternFindsExactlyTheMatchingKeys) {
  auto& redis = *client_;
  std::vector<std::string> expected;
  std::vector<std::string> storage;
  for (int i = 0; i < 120; ++i) {
    storage.push_back(key("scan:hit:" + std::to_string(i)));
    expected.push_back(storage.back());
  }
  for (int i = 0; i < 40; ++i) storage.push_back(key("scan:miss:" + std::to_string(i)));
  storage.push_back(key("scan:hitx"));  // "scan:hit:*" must not match it
  std::vector<KeyValueView> items;
  for (const auto& k : storage) items.emplace_back(k, "v");
  redis.set_many(items, 60s);
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(redis.scan(prefix_ + "scan:hit:*", 10), expected);
  std::size_t visited = 0;
  redis.scan(prefix_ + "scan:miss:*", [&](std::string_view k) {
    EXPECT_TRUE(k.starts_with(prefix_ + "scan:miss:")) << k;
    ++visited;
  });
  EXPECT_GE(visited, 40u);  // SCAN may report a key twice, never miss one
  EXPECT_TRUE(redis.scan(prefix_ + "scan:nothing:*").empty());
}

TEST_P(RedisConformance, ScriptsFallBackToEvalAfterScriptFlush) {
  auto& redis = *client_;
  const RedisScript script("return {KEYS[1], ARGV[1], redis.call('INCRBY', KEYS[1], ARGV[2])}");
  const auto k = key("{script}:n");
  auto reply = redis.eval(script, {k}, {std::string_view("a\0b", 3), "5"});
  ASSERT_TRUE(reply.is_array()) << to_string(reply.type);
  ASSERT_EQ(reply.elements.size(), 3u);
  EXPECT_EQ(reply.elements[0].str, k);
  EXPECT_EQ(reply.elements[1].str, std::string("a\0b", 3));
  EXPECT_EQ(reply.elements[2], RedisReply::from_integer(5));
  flush_scripts();
  reply = redis.eval(script, {k}, {"x", "5"});  // NOSCRIPT, then EVAL
  EXPECT_EQ(reply.elements[2], RedisReply::from_integer(10));
  reply = redis.eval(script, {k}, {"x", "1"});  // cached again: EVALSHA works
  EXPECT_EQ(reply.elements[2], RedisReply::from_integer(11));

  const RedisScript no_keys("return ARGV[1]");
  EXPECT_EQ(redis.eval(no_keys, {}, {"hi"}), RedisReply::string("hi"));
  const RedisScript failing("return redis.error_reply('boom')");
  EXPECT_THROW((void)redis.eval(failing, {k}, {}), ReplyError);

  const auto a = key("{script}:a"), b = key("{script}:b");
  EXPECT_EQ(redis.eval(RedisScript("return #KEYS"), {a, b}, {}), RedisReply::from_integer(2));
  std::string other = key("x");
  for (int i = 0; key_slot(other) == key_slot(a); ++i) other = key("x" + std::to_string(i));
  if (cluster()) {
    EXPECT_THROW((void)redis.eval(script, {a, other}, {"x", "1"}), InvalidArgumentError);
  } else {
    EXPECT_NO_THROW((void)redis.eval(RedisScript("return 1"), {a, other}, {}));
  }
}

TEST_P(RedisConformance, PipelineRepliesInOrderWithErrorsAsValues) {
  auto& redis = *client_;
  const auto k1 = key("p1"), k2 = key("p2");
  auto pipeline = redis.pipeline();
  pipeline.add({"SET", k1, "v"}).add({"INCR", k2}).add({"HSET", k1, "f", "v"}).add({"GET", k1});
  EXPECT_EQ(pipeline.size(), 4u);
  auto replies = pipeline.execute();
  EXPECT_TRUE(pipeline.empty());
  ASSERT_EQ(replies.size(), 4u);
  EXPECT_EQ(replies[0], RedisReply::status("OK"));
  EXPECT_EQ(replies[1], RedisReply::from_integer(1));
  EXPECT_TRUE(replies[2].is_error());
  EXPECT_TRUE(replies[2].str.starts_with("WRONGTYPE")) << replies[2].str;
  EXPECT_EQ(replies[3], RedisReply::string("v"));

  for (int i = 0; i < 200; ++i) {
    const auto k = key("pipe:" + std::to_string(i));
    pipeline.add({"SET", k, std::to_string(i), "EX", "60"});
  }
  for (int i = 0; i < 200; ++i) pipeline.add({"GET", key("pipe:" + std::to_string(i))});
  replies = pipeline.execute();
  ASSERT_EQ(replies.size(), 400u);
  for (int i = 0; i < 200; ++i) EXPECT_EQ(replies[200 + i], RedisReply::string(std::to_string(i)));
  EXPECT_TRUE(pipeline.execute().empty());
}

TEST_P(RedisConformance, CommandEscapeHatch) {
  auto& redis = *client_;
  const auto k = key("cmd");
  EXPECT_EQ(redis.command({"SET", k, "1"}), RedisReply::status("OK"));
  EXPECT_EQ(redis.command({"INCRBYFLOAT", k, "0.5"}), RedisReply::string("1.5"));
  EXPECT_EQ(redis.command({"GET", key("missing")}), RedisReply::nil());
  EXPECT_EQ(redis.command({"PING"}), RedisReply::status("PONG"));
  const auto list = key("list");
  (void)redis.command({"RPUSH", list, "a", "b"});
  EXPECT_EQ(redis.command({"LRANGE", list, "0", "-1"}),
            RedisReply::array({RedisReply::string("a"), RedisReply::string("b")}));
  EXPECT_THROW((void)redis.command({"NOSUCHCOMMAND"}), ReplyError);
}

TEST_P(RedisConformance, WrongTypeIsAReplyError) {
  auto& redis = *client_;
  const auto k = key("hash-not-string");
  ASSERT_TRUE(redis.hset(k, "f", "v"));
  try {
    (void)redis.get(k);
    FAIL() << "expected ReplyError";
  } catch (const ReplyError& e) {
    EXPECT_NE(std::string(e.what()).find("WRONGTYPE"), std::string::npos) << e.what();
    EXPECT_EQ(e.code(), ErrorCode::kReply);
  }
  // MGET answers nil for a key of another type (also when a cluster slot holds only it).
  const auto mixed = redis.mget({k, key("absent")});
  EXPECT_EQ(mixed, (std::vector<std::optional<std::string>>{std::nullopt, std::nullopt}));
  EXPECT_THROW((void)redis.incrby(k, 1), ReplyError);
  EXPECT_THROW((void)redis.zrange(k, 0, -1), ReplyError);
}

TEST_P(RedisConformance, PublishReachesChannelAndPatternSubscribers) {
  std::mutex mutex;
  std::condition_variable arrived;
  std::vector<std::string> messages;
  std::vector<std::string> pattern_hits;
  RedisSubscriber subscriber(url_);
  const std::string channel = key("chan");
  const std::string payload("bin\0\xff payload", 13);
  ASSERT_TRUE(subscriber.subscribe(channel, [&](std::string_view ch, std::string_view message) {
    std::lock_guard lock(mutex);
    EXPECT_EQ(ch, channel);
    messages.emplace_back(message);
    arrived.notify_all();
  }));
  ASSERT_TRUE(subscriber.psubscribe(
      key("pchan:*"), [&](std::string_view pattern, std::string_view ch, std::string_view message) {
        std::lock_guard lock(mutex);
        EXPECT_EQ(pattern, key("pchan:*"));
        pattern_hits.push_back(std::string(ch) + "=" + std::string(message));
        arrived.notify_all();
      }));
  EXPECT_TRUE(subscriber.connected());
  EXPECT_GT(subscriber.client_id(), 0);

  (void)client_->publish(channel, payload);
  (void)client_->publish(key("pchan:x"), "hello");
  std::unique_lock lock(mutex);
  ASSERT_TRUE(
      arrived.wait_for(lock, 10s, [&] { return !messages.empty() && !pattern_hits.empty(); }));
  EXPECT_EQ(messages, std::vector<std::string>{payload});
  EXPECT_EQ(pattern_hits, std::vector<std::string>{key("pchan:x") + "=hello"});
  lock.unlock();

  subscriber.unsubscribe(channel);
  (void)client_->publish(channel, "after unsubscribe");
  (void)client_->publish(key("pchan:y"), "still");
  lock.lock();
  ASSERT_TRUE(arrived.wait_for(lock, 10s, [&] { return pattern_hits.size() == 2; }));
  EXPECT_EQ(messages.size(), 1u);
  lock.unlock();
  subscriber.stop();
  EXPECT_FALSE(subscriber.connected());
}

TEST_P(RedisConformance, ManyThreadsShareOneClient) {
  RedisClient redis(url_ + (url_.find('?') == std::string::npos ? "?" : "&") + "pool_size=2");
  const auto counter = key("shared-counter");
  constexpr int kThreads = 4, kOps = 150;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      try {
        for (int i = 0; i < kOps; ++i) {
          const auto k = key("t" + std::to_string(t) + ":" + std::to_string(i % 10));
          redis.set(k, std::to_string(i));
          if (redis.get(k) != std::to_string(i)) ++failures;
          (void)redis.incrby(counter, 1);
          if (i % 25 == 0) (void)redis.mget({k, counter});
        }
      } catch (const std::exception& e) {
        ADD_FAILURE() << e.what();
        ++failures;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(redis.get(counter), std::to_string(kThreads * kOps));
}

// Plaintext and TLS (strata's transport over OpenSSL), standalone and cluster (the TLS cluster
// runs with tls-cluster yes: CLUSTER SLOTS gives TLS ports), and a master
// found through Redis Sentinel (plaintext, and TLS to the sentinels and the data nodes).
INSTANTIATE_TEST_SUITE_P(
    Servers, RedisConformance,
    ::testing::Values("STRATA_TEST_REDIS_URL", "STRATA_TEST_REDIS_CLUSTER_URL",
                      "STRATA_TEST_REDIS_TLS_URL", "STRATA_TEST_REDIS_MTLS_URL",
                      "STRATA_TEST_REDIS_TLS_CLUSTER_URL", "STRATA_TEST_REDIS_SENTINEL_URL",
                      "STRATA_TEST_REDIS_TLS_SENTINEL_URL", "STRATA_TEST_REDIS_URL+pooled",
                      "STRATA_TEST_REDIS_CLUSTER_URL+pooled"),
    [](const auto& param_info) {
      const std::string name = param_info.param;
      if (name == "STRATA_TEST_REDIS_URL") return "Standalone";
      if (name == "STRATA_TEST_REDIS_CLUSTER_URL") return "Cluster";
      if (name == "STRATA_TEST_REDIS_TLS_URL") return "Tls";
      if (name == "STRATA_TEST_REDIS_TLS_CLUSTER_URL") return "TlsCluster";
      if (name == "STRATA_TEST_REDIS_SENTINEL_URL") return "Sentinel";
      if (name == "STRATA_TEST_REDIS_TLS_SENTINEL_URL") return "TlsSentinel";
      if (name == "STRATA_TEST_REDIS_URL+pooled") return "StandalonePooled";
      if (name == "STRATA_TEST_REDIS_CLUSTER_URL+pooled") return "ClusterPooled";
      return "MutualTls";
    });

}  // namespace
}  // namespace strata
