// `strata invalidate` by key, tag, pattern and namespace, run as a process against Redis
// standalone and cluster: exactly the matching keys go (the dry run lists them and deletes
// nothing), and the invalidation reaches another instance's L1 through the bus.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>

#include "strata/cache/cache.h"
#include "strata/codec/json.h"
#include "strata/invalidation/invalidation.h"
#include "support/eventually.h"
#include "support/test_servers.h"
#include "tools/ops/ops_test_support.h"

namespace strata::testing {
namespace {

using nlohmann::json;

struct RedisParam {
  const char* name;
  const char* variable;
  const char* flag;
};

class InvalidateCommand : public ::testing::TestWithParam<RedisParam> {
 protected:
  void SetUp() override {
    STRATA_SERVER_URL(url, GetParam().variable);
    url_ = url;
    prefix_ = unique_name("opsi") + ":";
  }
  [[nodiscard]] std::string flags() const {
    return std::string(" ") + GetParam().flag + " " + url_ + " --key-prefix " + prefix_;
  }
  [[nodiscard]] Cache<Account> l2_cache() const {
    return CacheBuilder<Account>().remote(RedisClient(url_)).key_prefix(prefix_).build();
  }
  std::string url_;
  std::string prefix_;
};

TEST_P(InvalidateCommand, ByPatternRemovesExactlyTheMatchingKeys) {
  auto cache = l2_cache();
  RedisClient redis(url_);
  std::vector<std::string> want;
  for (int i = 0; i < 30; ++i) {
    cache.put("u" + std::to_string(i), Account{"u", i, 0});
    want.push_back(cache.remote_key("u" + std::to_string(i)));
  }
  for (int i = 0; i < 10; ++i) cache.put("o" + std::to_string(i), Account{"o", i, 0});
  std::sort(want.begin(), want.end());
  const std::string pattern = "'" + prefix_ + "u*'";  // what strata wrote as prefix + "u…"

  const json dry = strata_json("invalidate --pattern " + pattern + " --dry-run" + flags());
  EXPECT_EQ(dry["matched"], 30);
  EXPECT_EQ(dry["deleted"], 0);
  EXPECT_EQ(dry["keys"], json(want));
  for (const auto& k : want) EXPECT_TRUE(redis.exists(k)) << k;
  const auto dry_text = strata_run("invalidate --pattern " + pattern + " --dry-run" + flags());
  EXPECT_NE(dry_text.output.find(want.front() + "\n"), std::string::npos) << dry_text.output;
  EXPECT_NE(dry_text.output.find("would delete 30 key(s)"), std::string::npos) << dry_text.output;

  const json r = strata_json("invalidate --pattern " + pattern + " --batch 7" + flags());
  EXPECT_EQ(r["matched"], 30);
  EXPECT_EQ(r["deleted"], 30);
  EXPECT_EQ(r["keys"], json(want));
  EXPECT_EQ(r["broadcast"], true);
  for (const auto& k : want) EXPECT_FALSE(redis.exists(k)) << k;
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(cache.get("o" + std::to_string(i)), (Account{"o", i, 0}));
  }
}

TEST_P(InvalidateCommand, ByTagRemovesTheEntityAndItsDependents) {
  auto cache = l2_cache();
  RedisClient redis(url_);
  const std::string user = unique_name("user");
  const std::string other = unique_name("user");
  cache.put(user, Account{"entity", 1, 0});
  cache.put("profile:" + user, Account{"profile", 1, 0}, {user});
  cache.put("orders:" + user, Account{"orders", 1, 0}, {user});
  cache.put("profile:" + other, Account{"other", 1, 0}, {other});

  const json inspected = strata_json("inspect profile:" + user + flags());
  EXPECT_EQ(inspected["entities"], json::array({user}));

  const json dry = strata_json("invalidate --entity " + user + " --dry-run" + flags());
  ASSERT_EQ(dry["entities"].size(), 1u);
  EXPECT_EQ(dry["entities"][0]["dependents"],
            json({cache.remote_key("orders:" + user), cache.remote_key("profile:" + user)}));
  EXPECT_EQ(dry["entities"][0]["entity_had_value"], true);
  EXPECT_EQ(dry["matched"], 3);
  EXPECT_EQ(dry["invalidated"], 0);
  EXPECT_TRUE(redis.exists(cache.remote_key("profile:" + user)));

  const json r = strata_json("invalidate --entity " + user + flags());
  EXPECT_EQ(r["invalidated"], 3);
  EXPECT_FALSE(redis.exists(cache.remote_key(user)));
  EXPECT_FALSE(redis.exists(cache.remote_key("profile:" + user)));
  EXPECT_FALSE(redis.exists(cache.remote_key("orders:" + user)));
  EXPECT_EQ(cache.get("profile:" + other), (Account{"other", 1, 0}));
  EXPECT_EQ(strata_json("inspect profile:" + other + flags())["entities"], json::array({other}));
}

TEST_P(InvalidateCommand, ByNamespaceBumpsTheGeneration) {
  RedisClient redis(url_);
  const std::string ns = unique_name("ns");
  EXPECT_EQ(NamespaceVersions(redis).generation(ns), 1u);
  const json dry = strata_json("invalidate --namespace " + ns + " --dry-run" + flags());
  EXPECT_EQ(dry["namespaces"][0]["generation"], 1);
  EXPECT_EQ(NamespaceVersions(redis).generation(ns), 1u);
  const auto text = strata_run("invalidate --namespace " + ns + flags());
  ASSERT_EQ(text.exit_code, 0) << text.output;
  EXPECT_EQ(text.output, "namespace " + ns +
                             ": generation 1 -> 2\nbumped 1 namespace(s); broadcast on the bus\n");
  EXPECT_EQ(NamespaceVersions(redis).generation(ns), 2u);
}

TEST_P(InvalidateCommand, ReachesAnotherInstancesL1ThroughTheBus) {
  auto bus = std::make_shared<InvalidationBus>(url_);
  ASSERT_TRUE(bus->wait_connected(std::chrono::seconds(10)));
  auto app = CacheBuilder<Account>()
                 .local({.maximum_size = 100})
                 .remote(RedisClient(url_))
                 .key_prefix(prefix_)
                 .coherence(L1Coherence::kBus)
                 .invalidation_bus(bus)
                 .build();
  RedisClient redis(url_);
  // Each key is in the application's L1 and no longer in L2: only the bus can make it go.
  for (const char* key : {"k1", "k2", "p1"}) {
    app.put(key, Account{key, 1, 0});
    redis.del(app.remote_key(key));
    ASSERT_EQ(app.get(key), (Account{key, 1, 0}));
  }
  EXPECT_EQ(strata_json("invalidate --key k1" + flags())["broadcast"], true);
  EXPECT_TRUE(eventually([&] { return !app.get("k1"); }));

  // A pattern's deleted Cache<V> keys are announced too.
  app.put("p1", Account{"p1", 2, 0});  // back in L2 so that the pattern finds it
  EXPECT_EQ(strata_json("invalidate --pattern '" + prefix_ + "p*'" + flags())["deleted"], 1);
  EXPECT_TRUE(eventually([&] { return !app.get("p1"); }));

  // A put by the CLI drops the old value from the application's L1.
  ASSERT_EQ(
      strata_run("put k2 '{\"name\":\"new\",\"version\":2,\"balance\":0}'" + flags()).exit_code, 0);
  EXPECT_TRUE(eventually([&] { return app.get("k2") == Account{"new", 2, 0}; }));

  EXPECT_EQ(strata_json("invalidate --key k2 --no-broadcast" + flags())["broadcast"], false);
}

TEST_P(InvalidateCommand, NeedsExactlyOneKind) {
  const auto none = strata_run("invalidate" + flags() + " 2>&1");
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_NE(none.output.find("--key, --entity, --pattern or --namespace"), std::string::npos)
      << none.output;
  const auto two = strata_run("invalidate --key a --entity b" + flags() + " 2>&1");
  EXPECT_NE(two.exit_code, 0);
  EXPECT_NE(two.output.find("excludes"), std::string::npos) << two.output;
}

INSTANTIATE_TEST_SUITE_P(
    Redis, InvalidateCommand,
    ::testing::Values(RedisParam{"standalone", "STRATA_TEST_REDIS_URL", "--redis"},
                      RedisParam{"cluster", "STRATA_TEST_REDIS_CLUSTER_URL", "--redis-cluster"}),
    [](const auto& p) { return std::string(p.param.name); });

}  // namespace
}  // namespace strata::testing
