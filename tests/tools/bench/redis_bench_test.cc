// `strata bench redis`, through its library function and as a process (small runs; the
// figures themselves are never asserted: the machine is shared and noisy).
#include "bench/redis/redis_bench.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "strata/error.h"
#include "strata/redis/redis_url.h"
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

// Issue 19 item 6: strata over TLS against strata over plaintext on the same server (its two
// ports), and GET from several threads against a pool of raw hiredis connections.
TEST(RedisBench, TlsAgainstPlaintextOnTheSameServerAndThreadedGets) {
  STRATA_SERVER_URL(tls_url, "STRATA_TEST_REDIS_TLS_URL");
  STRATA_SERVER_URL(plain_url, "STRATA_TEST_REDIS_TLS_PLAIN_URL");
  bench::RedisBenchOptions options;
  options.redis_url = plain_url;
  options.tls_url = tls_url;
  options.threads = 4;
  options.rounds = 2;
  options.operations = 50;
  options.mget_batches = 5;
  options.keyspace = 200;
  const auto report = bench::run_redis_bench(options);
  ASSERT_TRUE(report.tls);
  EXPECT_TRUE(report.tls->same_server);
  ASSERT_EQ(report.tls->rows.size(), 3u);
  ASSERT_EQ(report.threaded.size(), 1u);
  EXPECT_EQ(report.threaded.front().threads, 4);
  const auto json = bench::to_json(report);
  for (const char* field :
       {"tls_get_ratio_vs_plain", "tls_set_ratio_vs_plain", "tls_mget_ratio_vs_plain",
        "multiplexed_get_ops_per_sec", "strata_pooled_get_ops_per_sec", "pool_get_ops_per_sec",
        "multiplexed_ratio_vs_pool", "strata_pooled_ratio_vs_pool"}) {
    EXPECT_GT(json[field].get<double>(), 0) << field;
  }
  EXPECT_EQ(json["threads"], 4);
  EXPECT_EQ(json["tls_same_server"], true);
  std::ostringstream table;
  bench::print_redis_bench(table, report);
  EXPECT_NE(table.str().find("the same server, by run_id"), std::string::npos) << table.str();
  EXPECT_NE(table.str().find("GET from 4 threads"), std::string::npos) << table.str();
}

// Two different servers are reported as such (the ratio would not be TLS's cost alone).
TEST(RedisBench, TlsAgainstAnotherServerIsSaidSo) {
  STRATA_SERVER_URL(tls_url, "STRATA_TEST_REDIS_TLS_URL");
  STRATA_SERVER_URL(other, "STRATA_TEST_REDIS_URL");
  bench::RedisBenchOptions options;
  options.redis_url = other;
  options.tls_url = tls_url;
  options.rounds = 1;
  options.operations = 20;
  options.mget_batches = 2;
  options.keyspace = 50;
  const auto report = bench::run_redis_bench(options);
  ASSERT_TRUE(report.tls);
  EXPECT_FALSE(report.tls->same_server);
  std::ostringstream table;
  bench::print_redis_bench(table, report);
  EXPECT_NE(table.str().find("NOT the same server"), std::string::npos) << table.str();
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
  result = testing::run_command(testing::strata_cli() + " bench redis --redis '" + url +
                                "' --threads 1 2>&1");
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.output.find("--threads must be between 2 and 256"), std::string::npos)
      << result.output;
  // --tls-* flags apply to the --tls URL; a plaintext one is a usage error.
  result = testing::run_command(testing::strata_cli() + " bench redis --redis '" + url +
                                "' --tls '" + url + "' --tls-insecure 2>&1");
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.output.find("need a rediss://"), std::string::npos) << result.output;
}

// The CLI's --tls-ca reaches the --tls URL (given here without its tls_ca option).
TEST(RedisBench, CliTlsFlagsApplyToTheTlsUrl) {
  STRATA_SERVER_URL(tls_url, "STRATA_TEST_REDIS_TLS_URL");
  STRATA_SERVER_URL(plain_url, "STRATA_TEST_REDIS_TLS_PLAIN_URL");
  const RedisUrl parsed = parse_redis_url(tls_url);
  const std::string bare = "rediss://127.0.0.1:" + std::to_string(parsed.nodes.at(0).port);
  auto result =
      testing::run_command(testing::strata_cli() + " bench redis --redis '" + plain_url +
                           "' --tls '" + bare + "' --tls-ca '" + parsed.tls.ca_file +
                           "' --rounds 1 --operations 20 --mget-batches 2 --keys 50 --json");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const auto json = nlohmann::json::parse(result.output);
  EXPECT_GT(json["tls_get_ratio_vs_plain"].get<double>(), 0);
}

}  // namespace
}  // namespace strata
