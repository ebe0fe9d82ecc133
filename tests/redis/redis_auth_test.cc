// AUTH against the password-protected server of `make test`: the password URL, the ACL user
// URL, and wrong credentials (a clear ReplyError that never contains the password).
#include <gtest/gtest.h>

#include "redis/redis_test_util.h"
#include "strata/error.h"
#include "strata/redis/redis_client.h"
#include "strata/redis/redis_subscriber.h"
#include "support/test_servers.h"

namespace strata {
namespace {

// The URL with its password replaced.
std::string with_password(const std::string& url, const std::string& password) {
  const auto at = url.rfind('@');
  const auto colon = url.rfind(':', at);
  return url.substr(0, colon + 1) + password + url.substr(at);
}

TEST(RedisAuth, PasswordUrlWorks) {
  STRATA_SERVER_URL(url, "STRATA_TEST_REDIS_AUTH_URL");
  RedisClient redis(url);
  const auto k = testing::unique_prefix() + "k";
  EXPECT_TRUE(redis.set(k, "v", {.ttl = std::chrono::seconds(30)}));
  EXPECT_EQ(redis.get(k), "v");
  EXPECT_EQ(redis.description().find(parse_redis_url(url).password), std::string::npos);
}

TEST(RedisAuth, AclUserUrlWorks) {
  STRATA_SERVER_URL(url, "STRATA_TEST_REDIS_ACL_URL");
  RedisClient redis(url);
  ASSERT_FALSE(parse_redis_url(url).user.empty());
  const auto k = testing::unique_prefix() + "k";
  EXPECT_TRUE(redis.set(k, "v", {.ttl = std::chrono::seconds(30)}));
  EXPECT_EQ(redis.get(k), "v");
  EXPECT_EQ(redis.command({"ACL", "WHOAMI"}), RedisReply::string(parse_redis_url(url).user));
  RedisSubscriber subscriber(url);
  EXPECT_TRUE(subscriber.subscribe(k, [](std::string_view, std::string_view) {}));
}

TEST(RedisAuth, WrongPasswordIsAClearErrorWithoutThePassword) {
  STRATA_SERVER_URL(auth_url, "STRATA_TEST_REDIS_AUTH_URL");
  STRATA_SERVER_URL(acl_url, "STRATA_TEST_REDIS_ACL_URL");
  const std::string wrong = "not-the-password-4711";
  for (const auto& url : {with_password(auth_url, wrong), with_password(acl_url, wrong)}) {
    RedisClient redis(url);
    try {
      (void)redis.get("k");
      FAIL() << "expected ReplyError";
    } catch (const ReplyError& e) {
      const std::string message = e.what();
      EXPECT_NE(message.find("AUTH failed"), std::string::npos) << message;
      EXPECT_EQ(message.find(wrong), std::string::npos) << message;
    }
  }
}

TEST(RedisAuth, MissingPasswordIsNoAuth) {
  STRATA_SERVER_URL(auth_url, "STRATA_TEST_REDIS_AUTH_URL");
  auto url = parse_redis_url(auth_url);
  url.password.clear();
  RedisClient redis(url);
  try {
    (void)redis.get("k");
    FAIL() << "expected ReplyError";
  } catch (const ReplyError& e) {
    EXPECT_NE(std::string(e.what()).find("NOAUTH"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace strata
