// Bad input, through every layer of a Cache<User> (L1, L2 on the real Redis of `make test`,
// SQLite source): empty keys and keys over max_key_size, binary keys (NUL, 0xFF, newlines, glob
// and hash-tag characters), values over max_value_size, malformed URLs. Each is refused with a
// typed error naming the problem, or (binary keys) stored and read back byte for byte. Corrupted
// or foreign bytes in Redis (raw SETs of garbage, a truncated envelope, another codec's bytes)
// are a miss: deleted, counted, served from the source, never a crash.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "cache/cache_fixtures.h"
#include "common/temp_dir.h"
#include "redis/redis_test_util.h"
#include "strata/cache/cache.h"
#include "strata/codec/json.h"
#include "strata/codec/msgpack.h"
#include "strata/redis/redis_url.h"
#include "strata/source/sqlite_source.h"
#include "support/test_servers.h"

namespace strata {
namespace {

using namespace std::chrono_literals;
using testing::make_user;
using testing::User;

// Runs `call`, expects InvalidArgumentError whose message contains every one of `parts`.
template <typename F>
void expect_invalid(F&& call, std::initializer_list<std::string> parts) {
  try {
    call();
    ADD_FAILURE() << "expected InvalidArgumentError";
  } catch (const InvalidArgumentError& e) {
    for (const auto& part : parts) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
  }
}

struct SqliteCache {
  tools::TempDir dir{"strata-bad-input"};
  std::string prefix = testing::unique_prefix();
  std::shared_ptr<SqliteSource<User>> source = std::make_shared<SqliteSource<User>>(
      SqliteOptions{.path = (dir.path() / "users.db").string()}, testing::user_columns("users"));
};

TEST(BadInput, EmptyAndOversizedKeysAreRefusedByEveryCall) {
  STRATA_SERVER_URL(url, "STRATA_TEST_REDIS_URL");
  SqliteCache db;
  auto cache = CacheBuilder<User>()
                   .local({.maximum_size = 100})
                   .remote(RedisClient(url), {.ttl = 60s})
                   .source(db.source)
                   .key_prefix(db.prefix)
                   .write_mode(WriteMode::kWriteThrough)
                   .max_key_size(16)
                   .build();
  const std::string too_long(17, 'k');
  const std::string longest(16, 'k');
  for (const std::string& key : {std::string(), too_long}) {
    const std::vector<std::string> parts =
        key.empty() ? std::vector<std::string>{"empty"}
                    : std::vector<std::string>{"17 bytes", "max_key_size 16"};
    const auto check = [&](auto&& call) {
      try {
        call();
        ADD_FAILURE() << "expected InvalidArgumentError for a key of " << key.size() << " bytes";
      } catch (const InvalidArgumentError& e) {
        for (const auto& part : parts) {
          EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
        }
      }
    };
    check([&] { (void)cache.get(key); });
    check([&] { cache.put(key, make_user(1)); });
    check([&] { cache.erase(key); });
    check([&] { cache.invalidate(key); });
    check([&] { (void)cache.get_or_load(key, [](std::string_view) { return make_user(1); }); });
    const std::vector<std::string> keys = {"ok", key};
    check([&] { (void)cache.get_many(keys); });
  }
  EXPECT_EQ(cache.stats().source.writes, 0u);  // nothing reached the source
  cache.put(longest, make_user(7));            // the limit itself is accepted
  EXPECT_EQ(cache.get(longest), make_user(7));

  expect_invalid([] { (void)CacheBuilder<User>().max_key_size(0); }, {"max_key_size"});
  expect_invalid([] { (void)CacheBuilder<User>().max_key_size(70'000); }, {"max_key_size"});
  expect_invalid([] { (void)CacheBuilder<User>().max_value_size(0); }, {"max_value_size"});
}

TEST(BadInput, BinaryKeysRoundTripThroughL1L2AndSqliteAndDoNotCollide) {
  STRATA_SERVER_URL(url, "STRATA_TEST_REDIS_URL");
  STRATA_SERVER_URL(cluster_url, "STRATA_TEST_REDIS_CLUSTER_URL");
  const std::vector<std::string> keys = {std::string("a\0b", 3),
                                         std::string("a", 1),
                                         std::string("\xff\xfe\x00", 3),
                                         "line\nbreak\r\n",
                                         "tab\there",
                                         "*glob?[x]",
                                         "{tag}",
                                         "}{",
                                         "  spaced  ",
                                         "'; DROP TABLE users; --",
                                         "\\x00",
                                         std::string(300, '\xff'),
                                         "}starts-with-brace",
                                         std::string("\0}", 2),
                                         std::string("\0", 1)};
  for (const std::string& redis_url : {url, cluster_url}) {
    SCOPED_TRACE(redis_url);
    SqliteCache db;
    RedisClient redis(redis_url);
    auto cache = CacheBuilder<User>()
                     .local({.maximum_size = 100})
                     .remote(redis, {.ttl = 60s})
                     .source(db.source)
                     .key_prefix(db.prefix)
                     .write_mode(WriteMode::kWriteThrough)
                     .build();
    for (std::size_t i = 0; i < keys.size(); ++i) {
      cache.put(keys[i], make_user(static_cast<int>(i)));
    }
    auto reader = CacheBuilder<User>()  // a second instance: no L1 of its own yet
                      .local({.maximum_size = 100})
                      .remote(redis, {.ttl = 60s})
                      .source(db.source)
                      .key_prefix(db.prefix)
                      .build();
    for (std::size_t i = 0; i < keys.size(); ++i) {
      const User expected = make_user(static_cast<int>(i));
      EXPECT_EQ(cache.get(keys[i]), expected) << testing::hex(keys[i]);   // L1
      EXPECT_EQ(reader.get(keys[i]), expected) << testing::hex(keys[i]);  // L2
      EXPECT_EQ(db.source->load(keys[i]), expected) << testing::hex(keys[i]);
      EXPECT_TRUE(redis.exists(cache.remote_key(keys[i]))) << testing::hex(keys[i]);
    }
    EXPECT_EQ(reader.stats().l2.hits, keys.size());
    EXPECT_EQ(reader.stats().source.loads, 0u);
    // Invalidating one key leaves its look-alikes alone (no pattern, no prefix match).
    cache.invalidate(keys[1]);  // "a", a prefix of "a\0b"
    EXPECT_FALSE(redis.exists(cache.remote_key(keys[1])));
    EXPECT_TRUE(redis.exists(cache.remote_key(keys[0])));
    cache.invalidate("*");  // a glob character is a literal key
    EXPECT_TRUE(redis.exists(cache.remote_key("*glob?[x]")));
    for (const auto& k : keys) cache.erase(k);
    for (const auto& k : keys) EXPECT_EQ(db.source->load(k), std::nullopt) << testing::hex(k);
  }
}

TEST(BadInput, ValuesOverMaxValueSizeAreRefusedBeforeAnyWrite) {
  STRATA_SERVER_URL(url, "STRATA_TEST_REDIS_URL");
  SqliteCache db;
  RedisClient redis(url);
  auto cache = CacheBuilder<User>()
                   .local({.maximum_size = 100})
                   .remote(redis, {.ttl = 60s})
                   .source(db.source)
                   .key_prefix(db.prefix)
                   .write_mode(WriteMode::kWriteThrough)
                   .max_value_size(1000)
                   .build();
  cache.put("k", make_user(1));
  std::string incompressible;  // the envelope compresses: random letters stay large
  std::mt19937 rng(7);
  for (int i = 0; i < 2000; ++i) incompressible += static_cast<char>('a' + rng() % 26);
  const User big = make_user(2, incompressible);
  expect_invalid([&] { cache.put("k", big); }, {"max_value_size 1000", "'k'", "bytes"});
  EXPECT_EQ(db.source->load("k"), make_user(1));  // the source was not written
  EXPECT_EQ(cache.get("k"), make_user(1));        // nor the caches
  // A value that is already too large in the source is served, but not stored in L2.
  db.source->write("big", big);
  EXPECT_EQ(cache.get("big"), big);
  EXPECT_FALSE(redis.exists(cache.remote_key("big")));
  EXPECT_EQ(cache.get("big"), big);  // from L1
}

TEST(BadInput, CorruptedOrForeignBytesInRedisAreAMissDeletedAndCounted) {
  STRATA_SERVER_URL(url, "STRATA_TEST_REDIS_URL");
  SqliteCache db;
  RedisClient redis(url);
  auto cache = CacheBuilder<User>()
                   .remote(redis, {.ttl = 60s})
                   .source(db.source)
                   .key_prefix(db.prefix)
                   .write_mode(WriteMode::kWriteThrough)
                   .build();
  auto msgpack_cache = CacheBuilder<User>()  // same keys, another codec
                           .remote(redis, {.ttl = 60s})
                           .source(db.source)
                           .key_prefix(db.prefix)
                           .format(ValueFormat<User, MsgpackCodec<User>>::envelope())
                           .write_mode(WriteMode::kWriteThrough)
                           .build();
  cache.put("k", make_user(1));
  const auto stored = redis.get(cache.remote_key("k"));
  ASSERT_TRUE(stored.has_value());
  const std::string good = *stored;
  msgpack_cache.put("m", make_user(3));
  const auto stored_foreign = redis.get(cache.remote_key("m"));
  ASSERT_TRUE(stored_foreign.has_value());
  const std::string foreign = *stored_foreign;
  const std::vector<std::pair<std::string, std::string>> garbage = {
      {"empty", ""},
      {"random bytes", std::string("\x00\xff\x13garbage\n\r", 12)},
      {"truncated envelope", good.substr(0, good.size() / 2)},
      {"envelope with a flipped byte",
       [&] {
         std::string g = good;
         g[g.size() - 3] ^= 0x55;
         return g;
       }()},
      {"another codec's bytes (msgpack)", foreign},
      {"plain JSON of another type", R"({"not":"a user"})"},
      {"a Redis-looking reply", "+OK\r\n$-1\r\n"},
  };
  std::uint64_t expected_corrupted = 0;
  for (const auto& [what, bytes] : garbage) {
    SCOPED_TRACE(what);
    ASSERT_TRUE(redis.set(cache.remote_key("k"), bytes));
    EXPECT_EQ(cache.get("k"), make_user(1));  // a miss: served from the source
    ++expected_corrupted;
    EXPECT_EQ(cache.stats().l2.corrupted, expected_corrupted);
    const auto now = redis.get(cache.remote_key("k"));
    EXPECT_NE(now, bytes) << "the corrupted value was not deleted";
    EXPECT_EQ(cache.get("k"), make_user(1));
  }
  // A corrupted entry in an MGET (get_many) is a miss too.
  ASSERT_TRUE(redis.set(cache.remote_key("k"), "garbage"));
  const std::vector<std::string> keys = {"k", "m"};
  const auto values = cache.get_many(keys);
  EXPECT_EQ(values[0], make_user(1));
  EXPECT_EQ(values[1], make_user(3));
  EXPECT_GT(cache.stats().l2.corrupted, expected_corrupted);
}

TEST(BadInput, MalformedRedisUrlsAreInvalidArgumentsNamingThePart) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"", "redis"},
      {"http://127.0.0.1:6379", "scheme"},
      {"redis://", "host"},
      {"redis://127.0.0.1:0", "port"},
      {"redis://127.0.0.1:65536", "port"},
      {"redis://127.0.0.1:abc", "port"},
      {"redis://127.0.0.1:6379/x", "db"},
      {"redis://127.0.0.1:6379?command_timeout=fast", "command_timeout"},
      {"redis://127.0.0.1:6379?pool_size=0", "pool_size"},
      {"redis://127.0.0.1:6379?unknown=1", "unknown"},
      {"redis://[::1:6379", "["},
      {std::string("redis://127.0.0.1\0:6379", 23), ""},
      {"redis+cluster://127.0.0.1:7000/1", ""},
  };
  for (const auto& [text, part] : bad) {
    SCOPED_TRACE(testing::hex(text));
    try {
      (void)parse_redis_url(text);
      ADD_FAILURE() << "accepted " << text;
    } catch (const InvalidArgumentError& e) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
    EXPECT_THROW(RedisClient{text}, InvalidArgumentError);
  }
}

}  // namespace
}  // namespace strata
