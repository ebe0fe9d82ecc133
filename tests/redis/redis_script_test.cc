// Unit tests of the Redis layer's pure parts (no server).
#include "strata/redis/redis_script.h"

#include <gtest/gtest.h>

#include "strata/error.h"
#include "strata/redis/redis_client.h"

namespace strata {
namespace {

TEST(RedisScriptSha1, MatchesKnownDigests) {
  EXPECT_EQ(sha1_hex(""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  EXPECT_EQ(sha1_hex("abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
  EXPECT_EQ(sha1_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
  EXPECT_EQ(sha1_hex(std::string(1000000, 'a')), "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
  EXPECT_EQ(RedisScript("return 1").sha1(), "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
}

TEST(RedisClientConstruction, BadUrlNamesTheProblemWithoutThePassword) {
  try {
    RedisClient client("redis://user:hunter2@localhost:6379?pool_size=0");
    FAIL() << "expected InvalidArgumentError";
  } catch (const InvalidArgumentError& e) {
    EXPECT_NE(std::string(e.what()).find("pool_size"), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find("hunter2"), std::string::npos) << e.what();
  }
  RedisClient client("redis://user:hunter2@localhost:6379/3");
  EXPECT_EQ(client.description().find("hunter2"), std::string::npos);
  EXPECT_FALSE(client.is_cluster());
  EXPECT_TRUE(RedisClient("redis+cluster://127.0.0.1:1,127.0.0.1:2").is_cluster());
}

}  // namespace
}  // namespace strata
