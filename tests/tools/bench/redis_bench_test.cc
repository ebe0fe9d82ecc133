// `strata bench redis`, through its library function and as a process (small runs; the
// figures themselves are never asserted: the machine is shared and noisy).
#include "bench/redis/redis_bench.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "strata/error.h"
#include "support/run_command.h"
#include "support/test_servers.h"

namespace strata {
namespace {

TEST(RedisBench, ReportsEveryRatioForStandaloneAndCluster) {
  STRATA_SERVER_URL(url, "STRATA_TEST_REDIS_URL");
  STRATA_SERVER_URL(cluster_url, "STRATA_TEST_REDIS_CLUSTER_URL");
  bench::RedisBenchOptions options;
  options.redis_url = url;
  options.cluster_url = cluster_url;
  options.rounds = 2;
  options.operations = 50;
  options.mget_batches = 5;
  options.keyspace = 200;
  const auto report = bench::run_redis_bench(options);
  ASSERT_EQ(report.targets.size(), 2u);
  const auto json = bench::to_json(report);
  for (const char* field : {"get_ratio_vs_hiredis", "mget_ratio_vs_hiredis_pipeline",
                            "mget_ratio_vs_hiredis_mget", "set_ratio_vs_hiredis"}) {
    EXPECT_GT(json[field].get<double>(), 0) << field;
    EXPECT_GT(json["targets"]["cluster"][field].get<double>(), 0) << field;
  }
  std::ostringstream table;
  bench::print_redis_bench(table, report);
  EXPECT_NE(table.str().find("strata bench redis: 2 rounds"), std::string::npos) << table.str();
  EXPECT_NE(table.str().find("\ncluster     MGET"), std::string::npos) << table.str();
  // Issue 23 item 11: MGET against a pipeline of GETs is not presented as an overhead ratio:
  // it comes after the like-for-like table, under its own label.
  const std::string text = table.str();
  const auto label = text.find("Not like for like");
  ASSERT_NE(label, std::string::npos) << text;
  EXPECT_GT(text.find("pipeline of 100 GETs"), label) << text;
  EXPECT_LT(text.find("hiredis MGET"), label) << text;
  for (const auto& target : report.targets) {
    EXPECT_FALSE(target.row("MGET", "pipeline").like_for_like);
    EXPECT_TRUE(target.row("MGET", "hiredis MGET").like_for_like);
    EXPECT_TRUE(target.row("GET", "hiredis GET").like_for_like);
  }
}

TEST(RedisBench, CliPrintsJsonAndRejectsBadOptions) {
  STRATA_SERVER_URL(url, "STRATA_TEST_REDIS_URL");
  auto result = testing::run_command(testing::strata_cli() + " bench redis --redis '" + url +
                                     "' --rounds 1 --operations 20 --mget-batches 2 --json");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const auto json = nlohmann::json::parse(result.output);
  EXPECT_EQ(json["target"], "standalone");
  EXPECT_GT(json["get_ratio_vs_hiredis"].get<double>(), 0);
  result = testing::run_command(testing::strata_cli() + " bench redis --rounds 1 2>&1");
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.output.find("--redis"), std::string::npos) << result.output;
  result = testing::run_command(testing::strata_cli() + " bench redis --redis '" + url +
                                "' --rounds 0 2>&1");
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.output.find("--rounds must be at least 1"), std::string::npos) << result.output;
}

}  // namespace
}  // namespace strata
