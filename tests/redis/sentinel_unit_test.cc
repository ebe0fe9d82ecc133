// Sentinel pieces that need no server: reading "+switch-master" messages, and which commands
// the router may re-run after a lost connection (src/redis/sentinel.h, command_router.h).
#include <gtest/gtest.h>

#include "redis/command_router.h"
#include "redis/sentinel.h"

namespace strata::redis {
namespace {

TEST(SentinelSwitchMaster, ReadsTheNewMasterOfOurNameOnly) {
  EXPECT_EQ(parse_switch_master("mymaster 127.0.0.1 6379 10.0.0.2 6380", "mymaster"),
            (RedisEndpoint{"10.0.0.2", 6380}));
  EXPECT_EQ(parse_switch_master("other 127.0.0.1 6379 10.0.0.2 6380", "mymaster"), std::nullopt);
  EXPECT_EQ(parse_switch_master("mymaster 127.0.0.1 6379 10.0.0.2", "mymaster"), std::nullopt);
  EXPECT_EQ(parse_switch_master("mymaster 127.0.0.1 6379 10.0.0.2 port", "mymaster"), std::nullopt);
  EXPECT_EQ(parse_switch_master("mymaster 127.0.0.1 6379 10.0.0.2 0", "mymaster"), std::nullopt);
  EXPECT_EQ(parse_switch_master("", "mymaster"), std::nullopt);
}

TEST(SentinelRetry, OnlyReadsAreReRunAfterALostConnection) {
  auto read_only = [](std::initializer_list<std::string_view> argv) {
    return is_read_only(std::span<const std::string_view>(argv.begin(), argv.size()));
  };
  EXPECT_TRUE(read_only({"GET", "k"}));
  EXPECT_TRUE(read_only({"mget", "a", "b"}));
  EXPECT_TRUE(read_only({"EXISTS", "k"}));
  EXPECT_TRUE(read_only({"SCAN", "0"}));
  EXPECT_TRUE(read_only({"EVALSHA_RO", "sha", "0"}));
  EXPECT_FALSE(read_only({"SET", "k", "v"}));
  EXPECT_FALSE(read_only({"DEL", "k"}));
  EXPECT_FALSE(read_only({"INCRBY", "k", "1"}));
  EXPECT_FALSE(read_only({"EVALSHA", "sha", "0"}));  // a script may write
  EXPECT_FALSE(read_only({"PUBLISH", "c", "m"}));
  EXPECT_FALSE(read_only({}));
}

}  // namespace
}  // namespace strata::redis
