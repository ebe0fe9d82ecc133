// Security: a Cache<User> over the password-protected Redis of `make test` (a password, and an
// ACL user); secrets never appear in error messages, in the stats or in what the CLI prints
// (wrong password, unreachable servers with a password in the URL, URLs that fail to parse); SQL
// is never built from data (injection attempts through keys and values on SQLite and PostgreSQL
// leave the table intact and round-trip byte for byte).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cache/cache_fixtures.h"
#include "common/temp_dir.h"
#include "redis/redis_test_util.h"
#include "source/pg_connection.h"
#include "source/schema.h"
#include "strata/cache/cache.h"
#include "strata/codec/json.h"
#include "strata/redis/redis_url.h"
#include "strata/source/postgres_source.h"
#include "strata/source/sqlite_source.h"
#include "support/redis_process.h"
#include "support/run_command.h"
#include "support/test_servers.h"

namespace strata {
namespace {

using namespace std::chrono_literals;
using testing::make_user;
using testing::User;

constexpr const char* kSecret = "S3cret-Pa55word-4711";

// The URL with its password replaced.
std::string with_password(const std::string& url, const std::string& password) {
  const auto at = url.rfind('@');
  const auto colon = url.rfind(':', at);
  return url.substr(0, colon + 1) + password + url.substr(at);
}

std::shared_ptr<testing::ControlledStore> users(int n) {
  auto store = std::make_shared<testing::ControlledStore>();
  for (int i = 0; i < n; ++i) store->set("u" + std::to_string(i), make_user(i));
  return store;
}

TEST(Security, CacheOverPasswordAndAclUserServesFromL2) {
  STRATA_SERVER_URL(auth_url, "STRATA_TEST_REDIS_AUTH_URL");
  STRATA_SERVER_URL(acl_url, "STRATA_TEST_REDIS_ACL_URL");
  for (const auto& url : {auth_url, acl_url}) {
    SCOPED_TRACE(parse_redis_url(url).redacted());
    auto store = users(10);
    auto cache = CacheBuilder<User>()
                     .remote(RedisClient(url), {.ttl = 60s})
                     .source(testing::controlled_source(store))
                     .key_prefix(testing::unique_prefix())
                     .build();
    for (int i = 0; i < 10; ++i) EXPECT_EQ(cache.get("u" + std::to_string(i)), make_user(i));
    for (int i = 0; i < 10; ++i) EXPECT_EQ(cache.get("u" + std::to_string(i)), make_user(i));
    const auto s = cache.stats();
    EXPECT_EQ(s.l2.hits, 10u);
    EXPECT_EQ(s.l2.errors, 0u);
    EXPECT_EQ(store->loads, 10);
    EXPECT_TRUE(RedisClient(url).exists(cache.remote_key("u0")));
  }
}

TEST(Security, WrongPasswordNeitherFailsReadsNorLeaksTheSecret) {
  STRATA_SERVER_URL(auth_url, "STRATA_TEST_REDIS_AUTH_URL");
  STRATA_SERVER_URL(acl_url, "STRATA_TEST_REDIS_ACL_URL");
  for (const auto& url : {with_password(auth_url, kSecret), with_password(acl_url, kSecret)}) {
    // Through a Cache: every read is served from the source; the L2 errors are counted.
    auto store = users(5);
    auto cache = CacheBuilder<User>()
                     .remote(RedisClient(url), {.ttl = 60s})
                     .source(testing::controlled_source(store))
                     .build();
    for (int i = 0; i < 5; ++i) EXPECT_EQ(cache.get("u" + std::to_string(i)), make_user(i));
    EXPECT_GT(cache.stats().l2.errors + cache.stats().l2.short_circuited, 0u);
    // Through the client: a ReplyError that names the failure, never the password.
    RedisClient redis(url);
    EXPECT_EQ(redis.description().find(kSecret), std::string::npos) << redis.description();
    try {
      (void)redis.get("k");
      ADD_FAILURE() << "expected ReplyError";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("AUTH"), std::string::npos) << e.what();
      EXPECT_EQ(std::string(e.what()).find(kSecret), std::string::npos) << e.what();
    }
  }
}

TEST(Security, UnreachableOrMalformedUrlsNeverEchoThePassword) {
  const std::string port = std::to_string(testing::free_port());
  std::vector<std::string> messages;
  for (const auto& url : {"redis://app:" + std::string(kSecret) + "@127.0.0.1:" + port,
                          "redis+cluster://app:" + std::string(kSecret) + "@127.0.0.1:" + port}) {
    RedisClient redis(url + "?connect_timeout=200ms&command_timeout=200ms");
    try {
      (void)redis.get("k");
      ADD_FAILURE() << "expected an error from " << port;
    } catch (const Error& e) {
      EXPECT_TRUE(e.code() == ErrorCode::kUnavailable || e.code() == ErrorCode::kTimeout)
          << e.what();
      messages.emplace_back(e.what());
    }
    messages.push_back(redis.description());
    messages.push_back(parse_redis_url(url).redacted());
  }
  // Parse errors anywhere in a URL with a password (which may itself hold '?', '/', '@').
  for (const std::string tail : {"@h:99999", "@h:1/x", "@h:1?pool_size=0", "@h:1?bogus", "@h:1?x=1",
                                 "@[::1", "@", "@h:1,h:2", "@h\n:1"}) {
    for (const auto& secret :
         {std::string(kSecret), "pa?ss" + std::string(kSecret), "pa/ss@" + std::string(kSecret)}) {
      try {
        (void)parse_redis_url("redis://app:" + secret + tail);
        ADD_FAILURE() << "accepted a bad URL ending in " << tail;
      } catch (const InvalidArgumentError& e) {
        messages.emplace_back(e.what());
      }
    }
  }
  // PostgreSQL: an unreachable server with a password in the URL.
  try {
    PostgresSource<User> source(PostgresOptions{.url = "postgresql://app:" + std::string(kSecret) +
                                                       "@127.0.0.1:" + port + "/db",
                                                .pool_size = 1,
                                                .connect_timeout = 2s},
                                testing::user_columns("users"));
    (void)source.load("k");
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    messages.emplace_back(e.what());
  }
  for (const auto& message : messages) {
    EXPECT_EQ(message.find("S3cret"), std::string::npos) << message;
    EXPECT_EQ(message.find("4711"), std::string::npos) << message;
    EXPECT_EQ(message.find("pa?ss"), std::string::npos) << message;
  }
  EXPECT_GE(messages.size(), 30u);
}

TEST(Security, CliNeverPrintsThePassword) {
  const std::string port = std::to_string(testing::free_port());
  std::vector<std::string> lines = {
      " bench --users 50 --operations 200 --redis 'redis://app:" + std::string(kSecret) +
          "@127.0.0.1:" + port + "?connect_timeout=100ms&command_timeout=100ms' 2>&1",
      " bench --users 50 --operations 200 --redis 'redis://app:" + std::string(kSecret) +
          "@127.0.0.1:99999' 2>&1",
      " bench --users 50 --operations 200 --redis-cluster 'redis+cluster://app:" +
          std::string(kSecret) + "@127.0.0.1:" + port +
          "?connect_timeout=100ms&command_timeout=100ms' 2>&1"};
  if (auto auth_url = testing::optional_server("STRATA_TEST_REDIS_AUTH_URL")) {
    lines.push_back(" bench --users 50 --operations 200 --redis '" +
                    with_password(*auth_url, kSecret) + "' 2>&1");
  }
  for (const auto& line : lines) {
    const auto result = testing::run_command(testing::strata_cli() + line);
    EXPECT_FALSE(result.output.empty());
    EXPECT_EQ(result.output.find("S3cret"), std::string::npos) << result.output;
  }
}

// The table the injections aim at must survive, and the data round-trips exactly.
template <typename S>
void injection_round_trip(std::shared_ptr<S> source, RedisClient* redis, const std::string& t,
                          bool text_may_hold_nul) {
  std::vector<std::string> evil = {
      "'; DROP TABLE " + t + "; --",   "x' OR '1'='1",
      "\"; DELETE FROM " + t + "; --", "1); DROP TABLE " + t + "; --",
      "$1; SELECT pg_sleep(10); --",   std::string("nul\0", 4) + "'; DROP TABLE " + t + "; --",
      "\\'; DROP TABLE " + t + "; --",
  };
  if (!text_may_hold_nul) evil.erase(evil.begin() + 5);  // PostgreSQL text cannot hold NUL
  auto builder = CacheBuilder<User>()
                     .local({.maximum_size = 100})
                     .source(source)
                     .write_mode(WriteMode::kWriteThrough)
                     .key_prefix(testing::unique_prefix());
  if (redis) builder.remote(*redis, {.ttl = 60s});
  auto cache = builder.build();
  cache.put("innocent", make_user(1));
  for (std::size_t i = 0; i < evil.size(); ++i) {
    User value = make_user(static_cast<int>(i) + 2, evil[i]);
    value.email = evil[(i + 1) % evil.size()];
    value.avatar = evil[i];
    cache.put(evil[i], value);
    EXPECT_EQ(source->load(evil[i]), value) << evil[i];
    EXPECT_EQ(cache.get(evil[i]), value) << evil[i];
  }
  EXPECT_EQ(source->load("innocent"), make_user(1));  // the table is still there, row intact
  EXPECT_EQ(source->load("x"), std::nullopt);         // "' OR '1'='1" matched nothing else
  for (const auto& key : evil) cache.erase(key);
  for (const auto& key : evil) EXPECT_EQ(source->load(key), std::nullopt) << key;
  EXPECT_EQ(source->load("innocent"), make_user(1));
}

TEST(Security, SqlInjectionThroughKeysAndValuesOnSqlite) {
  tools::TempDir dir("strata-injection");
  auto source = std::make_shared<SqliteSource<User>>(
      SqliteOptions{.path = (dir.path() / "app.db").string()}, testing::user_columns("users"));
  std::optional<RedisClient> redis;
  if (auto url = testing::optional_server("STRATA_TEST_REDIS_URL")) redis.emplace(*url);
  injection_round_trip(source, redis ? &*redis : nullptr, "users", true);
}

TEST(Security, SqlInjectionThroughKeysAndValuesOnPostgres) {
  STRATA_SERVER_URL(url, "STRATA_TEST_POSTGRES_URL");
  // A table of its own (tests share the database); the payloads name it.
  const std::string table = testing::unique_name("strata_injection");
  auto source = std::make_shared<PostgresSource<User>>(PostgresOptions{.url = url, .pool_size = 2},
                                                       testing::user_columns(table));
  injection_round_trip(source, nullptr, table, false);
  pg::Connection admin(url, std::chrono::seconds(5));
  (void)admin.exec("DROP TABLE IF EXISTS " + source::quote(table));
}

}  // namespace
}  // namespace strata
