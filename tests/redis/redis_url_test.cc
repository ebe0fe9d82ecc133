#include "strata/redis/redis_url.h"

#include <gtest/gtest.h>

#include "strata/error.h"

namespace strata {
namespace {

TEST(RedisUrl, ParsesAStandaloneServer) {
  const auto url = parse_redis_url("redis://127.0.0.1:6380/3");
  EXPECT_FALSE(url.cluster);
  ASSERT_EQ(url.nodes.size(), 1u);
  EXPECT_EQ(url.nodes[0], (RedisEndpoint{"127.0.0.1", 6380}));
  EXPECT_EQ(url.db, 3);
  EXPECT_TRUE(url.user.empty());
  EXPECT_TRUE(url.password.empty());
}

TEST(RedisUrl, DefaultsThePort) {
  EXPECT_EQ(parse_redis_url("redis://cache.internal").nodes[0].port, 6379);
}

TEST(RedisUrl, ParsesCredentialsWithPercentEncoding) {
  const auto url = parse_redis_url("redis://app:p%40ss%3Aword@localhost:6379");
  EXPECT_EQ(url.user, "app");
  EXPECT_EQ(url.password, "p@ss:word");
  EXPECT_EQ(parse_redis_url("redis://:secret@h:1").password, "secret");
  EXPECT_EQ(parse_redis_url("redis://:secret@h:1").user, "");
}

TEST(RedisUrl, ParsesClusterSeedsAndIpv6) {
  const auto url = parse_redis_url("redis+cluster://10.0.0.1:7000,[::1]:7001,node3:7002");
  EXPECT_TRUE(url.cluster);
  ASSERT_EQ(url.nodes.size(), 3u);
  EXPECT_EQ(url.nodes[1], (RedisEndpoint{"::1", 7001}));
  EXPECT_EQ(url.nodes[2], (RedisEndpoint{"node3", 7002}));
}

TEST(RedisUrl, ParsesOptions) {
  const auto url =
      parse_redis_url("redis://h:1?connect_timeout=250ms&command_timeout=2s&pool_size=8&retries=0");
  EXPECT_EQ(url.connect_timeout, std::chrono::milliseconds(250));
  EXPECT_EQ(url.command_timeout, std::chrono::milliseconds(2000));
  EXPECT_EQ(url.pool_size, 8);
  EXPECT_EQ(url.retries, 0);
}

// Each malformed URL is rejected with an InvalidArgumentError whose message names the part.
TEST(RedisUrl, RejectsMalformedUrlsNamingThePart) {
  const std::pair<const char*, const char*> cases[] = {
      {"http://h:1", "scheme"},
      {"redis://", "missing host"},
      {"redis://h:0", "port"},
      {"redis://h:70000", "port"},
      {"redis://h:12ab", "port"},
      {"redis://h:1/x", "db"},
      {"redis://a:1,b:2", "redis+cluster"},
      {"redis+cluster://a:1,", "empty node"},
      {"redis+cluster://a", "missing port"},
      {"redis+cluster://a:1/2", "db"},
      {"redis://h:1?pool_size=0", "pool_size"},
      {"redis://h:1?timeout=1", "unknown option 'timeout'"},
      {"redis://h:1?command_timeout=fast", "command_timeout"},
      {"redis://h:1?novalue", "name=value"},
      {"redis://u:%zz@h:1", "password"},
      {"redis://[::1:1", "unclosed"},
      {"redis+sentinel://a:1", "names its master"},
      {"redis+sentinel://a:1/", "names its master"},
      {"redis+sentinel://a:1/m/x", "db"},
      {"redis://h:1?sentinel_password=x", "needs a redis+sentinel:// URL"},
  };
  for (const auto& [text, expected] : cases) {
    try {
      (void)parse_redis_url(text);
      ADD_FAILURE() << "accepted " << text;
    } catch (const InvalidArgumentError& e) {
      EXPECT_NE(std::string(e.what()).find(expected), std::string::npos)
          << text << " -> " << e.what();
    }
  }
}

TEST(RedisUrl, ErrorsAndRedactionNeverShowThePassword) {
  try {
    (void)parse_redis_url("redis://user:hunter2@h:notaport");
    FAIL();
  } catch (const InvalidArgumentError& e) {
    EXPECT_EQ(std::string(e.what()).find("hunter2"), std::string::npos) << e.what();
  }
  const auto url = parse_redis_url("redis://user:hunter2@h:1/2");
  EXPECT_EQ(url.redacted(), "redis://user:***@h:1/2");
  EXPECT_EQ(parse_redis_url("redis+cluster://[::1]:1,b:2").redacted(),
            "redis+cluster://[::1]:1,b:2");
}

// redis+sentinel://: the nodes are sentinels (port 26379 unless given), the path names the
// master (and optionally a db), sentinel_user/sentinel_password are the sentinels' AUTH.
TEST(RedisUrl, ParsesSentinelUrls) {
  const auto url = parse_redis_url(
      "redis+sentinel://app:secret@10.0.0.1,10.0.0.2:26380,[::1]/my%2Dmaster/3"
      "?sentinel_user=watch&sentinel_password=s%40cret&command_timeout=50ms");
  EXPECT_TRUE(url.sentinel);
  EXPECT_FALSE(url.cluster);
  EXPECT_FALSE(url.tls.enabled);
  ASSERT_EQ(url.nodes.size(), 3u);
  EXPECT_EQ(url.nodes[0], (RedisEndpoint{"10.0.0.1", 26379}));
  EXPECT_EQ(url.nodes[1], (RedisEndpoint{"10.0.0.2", 26380}));
  EXPECT_EQ(url.nodes[2], (RedisEndpoint{"::1", 26379}));
  EXPECT_EQ(url.master_name, "my-master");
  EXPECT_EQ(url.db, 3);
  EXPECT_EQ(url.user, "app");
  EXPECT_EQ(url.password, "secret");
  EXPECT_EQ(url.sentinel_user, "watch");
  EXPECT_EQ(url.sentinel_password, "s@cret");
  EXPECT_EQ(url.command_timeout, std::chrono::milliseconds(50));
  EXPECT_EQ(url.redacted(),
            "redis+sentinel://app:***@10.0.0.1:26379,10.0.0.2:26380,[::1]:26379/my-master/3");
  EXPECT_EQ(url.redacted().find("s@cret"), std::string::npos);

  const auto tls = parse_redis_url("rediss+sentinel://h:5000/m?tls_ca=/ca.pem");
  EXPECT_TRUE(tls.sentinel);
  EXPECT_TRUE(tls.tls.enabled);
  EXPECT_EQ(tls.tls.ca_file, "/ca.pem");
  EXPECT_EQ(tls.master_name, "m");
  EXPECT_EQ(tls.db, 0);
  EXPECT_EQ(tls.redacted(), "rediss+sentinel://h:5000/m");
}

}  // namespace
}  // namespace strata
