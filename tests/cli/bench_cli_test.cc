// `strata bench` run as a process, as a user runs it.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/run_command.h"

namespace strata {
namespace {

using testing::run_command;
using testing::strata_cli;

TEST(BenchCli, JsonReportHasEveryPatternAndField) {
  const auto result = run_command(strata_cli() + " bench --users 300 --operations 3000 --json");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const auto report = nlohmann::json::parse(result.output);
  EXPECT_EQ(report["source"], "sqlite");
  EXPECT_EQ(report["operations"], 3000);
  ASSERT_EQ(report["patterns"].size(), 2u);
  EXPECT_EQ(report["patterns"][0]["pattern"], "no cache");
  EXPECT_EQ(report["patterns"][1]["pattern"], "cache-aside");
  for (const auto& p : report["patterns"]) {
    EXPECT_GT(p["ops_per_sec"].get<double>(), 0);
    EXPECT_GT(p["p99_us"].get<double>(), 0);
    EXPECT_EQ(p["stale_reads"], 0);
    EXPECT_EQ(p["lost_writes"], 0);
    EXPECT_EQ(p["errors"], 0);
  }
  EXPECT_GT(report["patterns"][1]["hit_ratio"].get<double>(), 0.5);
  EXPECT_LT(report["patterns"][1]["source_reads"].get<int>(),
            report["patterns"][0]["source_reads"].get<int>());
}

TEST(BenchCli, TablePrintsOneRowPerPattern) {
  const auto result = run_command(strata_cli() + " bench --users 300 --operations 3000");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("hit ratio"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("\nno cache "), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("\ncache-aside "), std::string::npos) << result.output;
}

TEST(BenchCli, BadOptionsFailWithAMessageNamingTheOption) {
  auto result = run_command(strata_cli() + " bench --write-fraction 2 2>&1");
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.output.find("--write-fraction must be within [0, 1]"), std::string::npos)
      << result.output;
  result = run_command(strata_cli() + " bench --users abc 2>&1");
  EXPECT_NE(result.exit_code, 0);
  EXPECT_NE(result.output.find("--users"), std::string::npos) << result.output;
  result = run_command(strata_cli() + " 2>&1");
  EXPECT_NE(result.exit_code, 0);
}

}  // namespace
}  // namespace strata

namespace strata {
namespace {

TEST(BenchL1Cli, JsonHasTheRatiosAndTheMeasuredOverhead) {
  const auto result = testing::run_command(testing::strata_cli() +
                                           " bench l1 --keys 20000 --seconds 0.05 --rounds 1 "
                                           "--memory-entries 20000 --json");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const auto report = nlohmann::json::parse(result.output);
  for (const char* field : {"threads", "strata_ops_per_sec", "raw_map_ops_per_sec",
                            "mutex_lru_ops_per_sec", "ratio_vs_raw_map", "ratio_vs_mutex_lru",
                            "overhead_bytes_per_entry"}) {
    ASSERT_TRUE(report.contains(field)) << field;
  }
  EXPECT_EQ(report["threads"], 2);
  EXPECT_GT(report["strata_ops_per_sec"].get<double>(), 0);
  EXPECT_GT(report["overhead_bytes_per_entry"].get<double>(), 0);
  EXPECT_EQ(report["mixes"].size(), 3u);
  const double ratio = report["ratio_vs_raw_map"].get<double>();
  EXPECT_NEAR(ratio, report["strata_ops_per_sec"].get<double>() /
                         report["raw_map_ops_per_sec"].get<double>(), 1e-9);
}

TEST(BenchL1Cli, RejectsBadOptions) {
  const auto result = testing::run_command(testing::strata_cli() + " bench l1 --threads 0 2>&1");
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.output.find("--threads"), std::string::npos) << result.output;
}

}  // namespace
}  // namespace strata
