// `strata stats --metrics URL` against the library's own endpoint: a Cache<V> registered in a
// MetricsRegistry, served by strata::MetricsServer, read by the CLI as a separate process.
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <string_view>

#include "strata/cache/cache.h"
#include "strata/codec/json.h"
#include "strata/metrics/metrics.h"
#include "strata/metrics/metrics_server.h"
#include "tools/ops/ops_test_support.h"

namespace strata::testing {
namespace {

using nlohmann::json;

TEST(StatsCommand, ReadsTheLibrarysOwnEndpoint) {
  int loads = 0;
  auto cache = CacheBuilder<std::string>()
                   .local({.maximum_size = 100})
                   .loader([&loads](std::string_view key) -> std::optional<std::string> {
                     ++loads;
                     return "value of " + std::string(key);
                   })
                   .build();
  for (int i = 0; i < 10; ++i) EXPECT_EQ(cache.get("k"), "value of k");  // 1 miss, 9 hits
  EXPECT_EQ(cache.get("k2"), "value of k2");                             // a second miss
  ASSERT_EQ(loads, 2);

  MetricsRegistry registry;
  registry.add_cache("users", cache);
  strata::MetricsServer server(registry, {.port = 0});
  const json s = strata_json("stats --metrics " + server.url());
  ASSERT_EQ(s["caches"].size(), 1u) << s.dump();
  const json& users = s["caches"][0];
  EXPECT_EQ(users["cache"], "users");
  EXPECT_NEAR(users["layers"]["l1"]["hit_ratio"].get<double>(), 9.0 / 11.0, 1e-9);
  EXPECT_EQ(users["l1_entries"], 2);
  EXPECT_GT(users["l1_bytes"].get<double>(), 0);
  EXPECT_FALSE(users["layers"].contains("l2"));  // no L2 configured
  EXPECT_TRUE(users["load_latency"]["p50"].is_number()) << users.dump();
}

}  // namespace
}  // namespace strata::testing
