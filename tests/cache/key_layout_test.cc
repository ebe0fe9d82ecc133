// The key layout is the user's (docs/redis-keys.md): strata and any other client of the same
// Redis read and write the same keys, on a standalone server and on a cluster. Plain-JSON mode
// interoperates both ways; another client's value of another shape or Redis type is a miss left
// in place; a fill placeholder is never returned as a value.
#include "strata/cache/key_layout.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "strata/cache/cache.h"
#include "strata/codec/json.h"
#include "strata/redis/redis_client.h"
#include "strata/source/function_source.h"
#include "support/test_servers.h"
#include "support/unique.h"

namespace strata {
namespace {

using namespace std::chrono_literals;

// What a Python or Go service writes for a user: `email` is optional there.
struct Profile {
  std::string name;
  int age = 0;
  std::string email;
  bool operator==(const Profile&) const = default;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(Profile, name, age, email)

class KeyLayout : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    STRATA_SERVER_URL(url, GetParam());
    url_ = url;
    // No prefix: the keys are exactly the user's ("user:<unique>:7").
    base_ = testing::unique_name("user") + ":";
  }
  CacheBuilder<Profile> plain(std::string prefix = "") const {
    CacheBuilder<Profile> b;
    b.local({.maximum_size = 100, .ttl = 10min})
        .remote(RedisClient(url_), {.ttl = 10min})
        .format(ValueFormat<Profile>::plain_json());
    if (!prefix.empty()) b.key_prefix(std::move(prefix));
    return b;
  }
  std::shared_ptr<FunctionSource<Profile>> source(int* loads) const {
    SourceFunctions<Profile> fn;
    fn.load = [loads](std::string_view key) -> std::optional<Profile> {
      ++*loads;
      return Profile{"from-source:" + std::string(key), 1, ""};
    };
    return std::make_shared<FunctionSource<Profile>>(std::move(fn));
  }
  std::string url_;
  std::string base_;
};

INSTANTIATE_TEST_SUITE_P(Servers, KeyLayout,
                         ::testing::Values("STRATA_TEST_REDIS_URL",
                                           "STRATA_TEST_REDIS_CLUSTER_URL"),
                         [](const auto& param_info) {
                           return std::string(param_info.index == 0 ? "Standalone" : "Cluster");
                         });

TEST_P(KeyLayout, APutIsReadByAnotherClientAtExactlyThePrefixAndTheKey) {
  RedisClient raw(url_);
  auto cache = plain().build();
  const std::string key = base_ + "123";
  cache.put(key, Profile{"ann", 41, "ann@example.com"});
  EXPECT_EQ(cache.remote_key(key), key);
  const auto bytes = raw.get(key);  // what `redis-cli GET user:...:123` prints
  ASSERT_TRUE(bytes.has_value());
  EXPECT_EQ(nlohmann::json::parse(*bytes),
            nlohmann::json({{"name", "ann"}, {"age", 41}, {"email", "ann@example.com"}}));
  EXPECT_EQ(raw.scan(base_ + "*"), std::vector<std::string>{key}) << "nothing else beside it";

  // With a prefix: prefix + key, nothing added.
  auto prefixed = plain("app:" + base_).build();
  prefixed.put("7", Profile{"bo", 7, ""});
  EXPECT_TRUE(raw.exists("app:" + base_ + "7"));
}

TEST_P(KeyLayout, AValueAnotherClientWroteIsReadByStrata) {
  RedisClient raw(url_);
  int loads = 0;
  auto cache = plain().source(source(&loads)).build();
  const std::string key = base_ + "9";
  // Written by another service, without the optional field.
  ASSERT_TRUE(raw.set(key, R"({"name":"cy","age":9})", {.ttl = 60s}));
  EXPECT_EQ(cache.get(key), (Profile{"cy", 9, ""}));
  EXPECT_EQ(loads, 0);
  EXPECT_EQ(cache.stats().l2.hits, 1u);
}

TEST_P(KeyLayout, AValueOfAnotherShapeOrTypeIsAMissLeftInPlace) {
  RedisClient raw(url_);
  int loads = 0;
  auto cache = plain().source(source(&loads)).build();
  const std::string shaped = base_ + "shape";
  const std::string other = R"({"name":["not","a","string"],"age":"x"})";
  ASSERT_TRUE(raw.set(shaped, other, {.ttl = 60s}));
  EXPECT_EQ(cache.get(shaped)->name, "from-source:" + shaped);
  EXPECT_EQ(raw.get(shaped), other) << "another client's value survives a strata read";
  const std::string hash = base_ + "hash";
  (void)raw.command({"HSET", hash, "name", "dee"});
  EXPECT_EQ(cache.get(hash)->name, "from-source:" + hash);
  EXPECT_EQ(raw.command({"TYPE", hash}).str, "hash") << "and so does a key of another type";
  EXPECT_EQ(raw.command({"HGET", hash, "name"}).str, "dee");
  EXPECT_EQ(loads, 2);
  const auto s = cache.stats();
  EXPECT_EQ(s.l2.foreign, 2u);
  EXPECT_EQ(s.l2.errors, 0u) << "another type is not a failure of L2";
  EXPECT_EQ(s.l2.corrupted, 0u);
  // get_many meets them too: misses, left in place.
  const std::vector<std::string> keys = {shaped, hash};
  const auto many = cache.get_many(keys);
  ASSERT_EQ(many.size(), 2u);
  EXPECT_EQ(raw.get(shaped), other);
  EXPECT_EQ(raw.command({"TYPE", hash}).str, "hash");
}

// A placeholder is a load in progress: every read path treats it as a miss, never as a value.
TEST_P(KeyLayout, AFillPlaceholderIsNeverReturnedAsAValue) {
  RedisClient raw(url_);
  int loads = 0;
  auto reader = CacheBuilder<Profile>().remote(RedisClient(url_), {.ttl = 10min}).build();
  auto loader = plain().source(source(&loads)).build();
  const std::string key = base_ + "p";
  const std::string placeholder = std::string(kFillPlaceholderPrefix) + "someone-else";
  ASSERT_TRUE(raw.set(key, placeholder, {.ttl = 60s}));
  EXPECT_EQ(reader.get(key), std::nullopt);  // no loader: a miss
  const std::vector<std::string> keys = {key};
  EXPECT_EQ(reader.get_many(keys), std::vector<std::optional<Profile>>{std::nullopt});
  EXPECT_EQ(reader.stats().l2.corrupted, 0u);
  EXPECT_EQ(loader.get(key)->name, "from-source:" + key);  // loads, shares the guard, fills
  EXPECT_EQ(loads, 1);
  const auto now = raw.get(key);
  ASSERT_TRUE(now.has_value());
  EXPECT_FALSE(is_strata_marker(*now));
}

// The guard in the value's key: a fill races with a DEL from another client, and loses.
TEST_P(KeyLayout, ADeleteByAnotherClientDuringALoadWins) {
  RedisClient raw(url_);
  const std::string key = base_ + "race";
  SourceFunctions<Profile> fn;
  fn.load = [&](std::string_view) -> std::optional<Profile> {
    const auto held = raw.get(key);  // the reader's placeholder is there while it loads
    EXPECT_TRUE(held && is_fill_placeholder(*held));
    (void)raw.del(key);  // another client invalidates meanwhile (its row changed)
    return Profile{"old", 1, ""};
  };
  auto cache = plain().source(std::make_shared<FunctionSource<Profile>>(std::move(fn))).build();
  EXPECT_EQ(cache.get(key)->name, "old");
  EXPECT_FALSE(raw.exists(key)) << "the fill after the DEL was refused";
  EXPECT_EQ(cache.stats().l2.fills_skipped, 1u);
}

// A failed load gives its placeholder up at once, so nobody waits for its expiry.
TEST_P(KeyLayout, AFailedLoadRemovesItsPlaceholder) {
  RedisClient raw(url_);
  const std::string key = base_ + "fails";
  SourceFunctions<Profile> fn;
  fn.load = [](std::string_view) -> std::optional<Profile> { throw UnavailableError("db down"); };
  auto cache = plain().source(std::make_shared<FunctionSource<Profile>>(std::move(fn))).build();
  EXPECT_THROW((void)cache.get(key), UnavailableError);
  EXPECT_FALSE(raw.exists(key));
}

}  // namespace
}  // namespace strata
