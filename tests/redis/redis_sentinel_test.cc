// Redis Sentinel against the shared Sentinel setup of `make test` (a master, a replica, three
// sentinels), for what needs no failover: discovery errors, the ROLE check that keeps replicas
// out, and what is re-run after a lost connection (reads) and what is not (writes). Failovers
// run on private setups: tests/redis/sentinel_failover_test.cc.
#include <gtest/gtest.h>

#include "redis/connection.h"
#include "redis/redis_test_util.h"
#include "strata/error.h"
#include "strata/redis/redis_client.h"
#include "support/redis_process.h"
#include "support/test_servers.h"

namespace strata {
namespace {

// The first sentinel of a sentinel URL, as a plain redis:// URL (sentinels speak RESP too).
std::string first_sentinel(const RedisUrl& url) {
  return "redis://" + redis::to_address(url.nodes.front());
}

TEST(RedisSentinel, UnknownMasterNameIsATypedErrorNamingItAndEverySentinel) {
  STRATA_SERVER_URL(url, "STRATA_TEST_REDIS_SENTINEL_URL");
  const RedisUrl parsed = parse_redis_url(url);
  std::string wrong = url;
  wrong.replace(wrong.rfind('/'), std::string::npos, "/no-such-master");
  RedisClient redis(wrong);
  try {
    (void)redis.get("k");
    FAIL() << "a master that no sentinel knows was found";
  } catch (const UnavailableError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("'no-such-master'"), std::string::npos) << message;
    EXPECT_NE(message.find("does not know a master"), std::string::npos) << message;
    for (const auto& sentinel : parsed.nodes) {
      EXPECT_NE(message.find(redis::to_address(sentinel)), std::string::npos) << message;
    }
  }
}

TEST(RedisSentinel, NoSentinelAnsweringIsATypedErrorNamingThemAll) {
  const std::string a = "127.0.0.1:" + std::to_string(testing::free_port());
  const std::string b = "127.0.0.1:" + std::to_string(testing::free_port());
  RedisClient redis("redis+sentinel://" + a + "," + b +
                    "/strata-master?connect_timeout=200ms&command_timeout=200ms");
  try {
    redis.ping();
    FAIL() << "no sentinel listens, yet a master was found";
  } catch (const UnavailableError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("strata-master"), std::string::npos) << message;
    EXPECT_NE(message.find(a), std::string::npos) << message;
    EXPECT_NE(message.find(b), std::string::npos) << message;
  }
}

// Every connection of a sentinel URL checks ROLE: the setup's replica is refused as a master.
TEST(RedisSentinel, AReplicaIsNeverUsedAsTheMaster) {
  STRATA_SERVER_URL(url, "STRATA_TEST_REDIS_SENTINEL_URL");
  const RedisUrl parsed = parse_redis_url(url);
  RedisClient sentinel(first_sentinel(parsed));
  const RedisReply replicas = sentinel.command({"SENTINEL", "REPLICAS", parsed.master_name});
  ASSERT_TRUE(replicas.is_array());
  ASSERT_FALSE(replicas.elements.empty());
  RedisEndpoint replica;
  const auto& fields = replicas.elements[0].elements;
  for (std::size_t i = 0; i + 1 < fields.size(); i += 2) {
    if (fields[i].str == "ip") replica.host = fields[i + 1].str;
    if (fields[i].str == "port")
      replica.port = static_cast<std::uint16_t>(std::stoi(fields[i + 1].str));
  }
  const redis::ConnectOptions options = redis::connect_options(parsed);
  ASSERT_TRUE(options.require_master);
  try {
    (void)redis::Connection::open(replica, options);
    FAIL() << "a connection to the replica " << redis::to_address(replica) << " was accepted";
  } catch (const UnavailableError& e) {
    EXPECT_NE(std::string(e.what()).find("is not a master"), std::string::npos) << e.what();
  }
  // The same connection without the check works: the refusal above is the ROLE check's.
  redis::ConnectOptions plain = options;
  plain.require_master = false;
  EXPECT_NO_THROW((void)redis::Connection::open(replica, plain));
}

// A read whose connection died after it was sent is re-run; a write is not (it may have run):
// it fails with UnavailableError saying so, and indeed did not run here. Pipelines alike.
void read_rerun_write_not(const std::string& url, const std::string& killer_url) {
  RedisClient redis(url);  // one data connection: the one killed below
  RedisClient killer(killer_url);
  const std::string k = testing::unique_prefix() + "k";
  ASSERT_TRUE(redis.set(k, "v"));
  auto kill_the_connection = [&] {
    const auto id = std::to_string(redis.command({"CLIENT", "ID"}).integer);
    ASSERT_EQ(killer.command({"CLIENT", "KILL", "ID", id}).integer, 1);
  };
  kill_the_connection();
  EXPECT_EQ(redis.get(k), "v");
  kill_the_connection();
  try {
    (void)redis.set(k, "w");
    FAIL() << "a write on a dead connection was re-run";
  } catch (const UnavailableError& e) {
    EXPECT_NE(std::string(e.what()).find("not retried"), std::string::npos) << e.what();
  }
  EXPECT_EQ(redis.get(k), "v");

  // The same for pipelines: one of reads only is re-run, one holding a write is not.
  kill_the_connection();
  auto reads = redis.pipeline();
  reads.add({"GET", k}).add({"EXISTS", k});
  const auto replies = reads.execute();
  ASSERT_EQ(replies.size(), 2u);
  EXPECT_EQ(replies[0].str, "v");
  EXPECT_EQ(replies[1].integer, 1);
  kill_the_connection();
  auto writes = redis.pipeline();
  writes.add({"GET", k}).add({"SET", k, "w"});
  try {
    (void)writes.execute();
    FAIL() << "a pipeline with a write on a dead connection was re-run";
  } catch (const UnavailableError& e) {
    EXPECT_NE(std::string(e.what()).find("not retried"), std::string::npos) << e.what();
  }
  EXPECT_EQ(redis.get(k), "v");
  (void)redis.del(k);
}

// Both transports: the shared multiplexed connection (CLIENT ID names it) and, with
// multiplex=false, the one pooled connection of pool_size=1.
TEST(RedisSentinel, AReadIsReRunAfterALostConnectionAWriteIsNot) {
  STRATA_SERVER_URL(url, "STRATA_TEST_REDIS_SENTINEL_URL");
  for (const std::string options : {"?pool_size=1", "?pool_size=1&multiplex=false"}) {
    SCOPED_TRACE(options);
    read_rerun_write_not(url + options, url);
  }
}

}  // namespace
}  // namespace strata
