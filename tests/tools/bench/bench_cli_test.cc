// `strata bench` run as a process, as a user runs it.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "support/run_command.h"
#include "support/test_servers.h"

namespace strata {
namespace {

using testing::run_command;
using testing::strata_cli;

const std::vector<std::string> kEmbeddedPatterns = {"no cache", "cache-aside", "read-through",
                                                    "write-through", "write-behind"};

// Every pattern row of a `--json` report: the fields, nothing stale or lost (concurrent clients
// included), hits when cached.
void check_json_patterns(const nlohmann::json& report) {
  const auto& none = report["patterns"][0];
  EXPECT_EQ(none["pattern"], "no cache");
  for (const auto& p : report["patterns"]) {
    SCOPED_TRACE(p["pattern"].get<std::string>());
    for (const char* field :
         {"pattern", "ops_per_sec", "vs_no_cache", "hit_ratio", "source_reads", "source_writes",
          "p50_us", "p99_us", "p999_us", "stale_reads", "lost_writes", "errors"}) {
      ASSERT_TRUE(p.contains(field)) << field;
    }
    EXPECT_GT(p["ops_per_sec"].get<double>(), 0);
    EXPECT_GT(p["p99_us"].get<double>(), 0);
    // Write-behind included: a read of a key whose write is still pending is answered by the
    // sink (docs/patterns.md, read-your-writes), whether or not L1 still holds the key.
    EXPECT_EQ(p["stale_reads"], 0);
    EXPECT_EQ(p["lost_writes"], 0);
    EXPECT_EQ(p["errors"], 0);
    if (p["pattern"] == "no cache") {
      EXPECT_EQ(p["hit_ratio"].get<double>(), 0);
      continue;
    }
    EXPECT_GT(p["hit_ratio"].get<double>(), 0.5);
    EXPECT_LT(p["source_reads"].get<int>(), none["source_reads"].get<int>());
    EXPECT_GT(p["source_writes"].get<int>(), 0);
  }
}

TEST(BenchCli, JsonReportHasEveryPatternAndField) {
  const auto result = run_command(strata_cli() + " bench --users 300 --operations 3000 --json");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const auto report = nlohmann::json::parse(result.output);
  EXPECT_EQ(report["source"], "sqlite");
  EXPECT_EQ(report["operations"], 3000);
  EXPECT_EQ(report["clients"], 32);  // the defaults: a service's concurrent clients
  EXPECT_EQ(report["source_latency_us"], 500);
  ASSERT_EQ(report["patterns"].size(), kEmbeddedPatterns.size());
  for (std::size_t i = 0; i < kEmbeddedPatterns.size(); ++i) {
    EXPECT_EQ(report["patterns"][i]["pattern"], kEmbeddedPatterns[i]);
  }
  check_json_patterns(report);
}

TEST(BenchCli, NoPatternReadsStaleWhenL1HoldsEveryUser) {
  const auto result = run_command(
      strata_cli() + " bench --users 300 --operations 3000 --cache-fraction 1 --clients 1 --json");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const auto report = nlohmann::json::parse(result.output);
  ASSERT_EQ(report["patterns"].size(), kEmbeddedPatterns.size());
  check_json_patterns(report);
}

TEST(BenchCli, RedisAddsTheTwoTierRow) {
  STRATA_SERVER_URL(url, "STRATA_TEST_REDIS_URL");
  const auto result =
      run_command(strata_cli() + " bench --users 300 --operations 3000 --clients 1 --redis '" +
                  url + "' --json");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const auto report = nlohmann::json::parse(result.output);
  ASSERT_EQ(report["patterns"].size(), kEmbeddedPatterns.size() + 1);
  EXPECT_EQ(report["patterns"].back()["pattern"], "two-tier");
  check_json_patterns(report);
}

TEST(BenchCli, TablePrintsOneRowPerPattern) {
  const auto result = run_command(strata_cli() + " bench --users 300 --operations 3000");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("hit ratio"), std::string::npos) << result.output;
  for (const auto& name : kEmbeddedPatterns) {
    EXPECT_NE(result.output.find("\n" + name + " "), std::string::npos) << name << "\n"
                                                                        << result.output;
  }
  EXPECT_EQ(result.output.find("two-tier"), std::string::npos) << result.output;
}

TEST(BenchCli, ScenarioFileFlagsOverrideItAndPlotWritesAnSvg) {
  const std::string svg = ::testing::TempDir() + "strata-bench-cli-plot.svg";
  const auto result = run_command(strata_cli() +
                                  " bench --scenario '" STRATA_SOURCE_DIR
                                  "/bench/scenarios/remote_database.json' --users 200 "
                                  "--operations 600 --source-latency 200us --plot '" +
                                  svg + "' --json 2>&1");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_EQ(result.output.find('\r'), std::string::npos) << "no progress bar off a terminal";
  const auto report = nlohmann::json::parse(result.output);
  EXPECT_EQ(report["users"], 200);
  EXPECT_EQ(report["operations"], 600);
  EXPECT_EQ(report["source_latency_us"], 200);  // the flag, not the file's 1000
  EXPECT_EQ(report["zipf_s"], 0.99);            // from the file
  check_json_patterns(report);
  std::ifstream in(svg);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("</svg>"), std::string::npos) << svg;
  std::remove(svg.c_str());
}

TEST(BenchCli, MetricsPortServesWhileRunning) {
  const auto result =
      run_command(strata_cli() + " bench --users 100 --operations 300 --metrics-port 0 2>&1");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("strata bench: metrics at http://127.0.0.1:"), std::string::npos)
      << result.output;
}

TEST(BenchCli, BadOptionsFailWithAMessageNamingTheOption) {
  auto bad = run_command(strata_cli() + " bench --source-rtt 5 2>&1");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.output.find("--source-rtt"), std::string::npos) << bad.output;
  bad = run_command(strata_cli() + " bench --source-latency 5 2>&1");  // the old name still works
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.output.find("--source-rtt"), std::string::npos) << bad.output;
  bad = run_command(strata_cli() + " bench --clients 0 2>&1");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.output.find("--clients must be within [1, 1024]"), std::string::npos) << bad.output;
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
  for (const char* field :
       {"threads", "strata_ops_per_sec", "raw_map_ops_per_sec", "mutex_lru_ops_per_sec",
        "ratio_vs_raw_map", "ratio_vs_mutex_lru", "overhead_bytes_per_entry",
        // issue 20 item 6: the capacity-fraction and GetPut sections
        "capacity_fraction_ops_per_sec_1t", "capacity_fraction_ops_per_sec_2t",
        "capacity_fraction_scaling", "getput_read_only_ops_per_sec",
        "getput_read_write_ops_per_sec"}) {
    ASSERT_TRUE(report.contains(field)) << field;
  }
  EXPECT_EQ(report["threads"], 2);
  EXPECT_GT(report["strata_ops_per_sec"].get<double>(), 0);
  EXPECT_GT(report["overhead_bytes_per_entry"].get<double>(), 0);
  EXPECT_EQ(report["mixes"].size(), 3u);
  const double ratio = report["ratio_vs_raw_map"].get<double>();
  EXPECT_NEAR(
      ratio,
      report["strata_ops_per_sec"].get<double>() / report["raw_map_ops_per_sec"].get<double>(),
      1e-9);
}

// --getput or --capacity-fraction alone runs only that section.
TEST(BenchL1Cli, ASectionFlagRunsOnlyThatSection) {
  auto result = testing::run_command(testing::strata_cli() +
                                     " bench l1 --keys 20000 --seconds 0.02 --rounds 1 "
                                     "--memory-entries 2000 --getput --json");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  auto report = nlohmann::json::parse(result.output);
  EXPECT_GT(report["getput_read_only_ops_per_sec"].get<double>(), 0);
  EXPECT_FALSE(report.contains("capacity_fraction_scaling"));
  EXPECT_FALSE(report.contains("mixes"));
  result = testing::run_command(testing::strata_cli() +
                                " bench l1 --keys 20000 --seconds 0.02 --rounds 1 "
                                "--memory-entries 2000 --capacity-fraction 0.25 --json");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  report = nlohmann::json::parse(result.output);
  EXPECT_EQ(report["capacity_fraction"].get<double>(), 0.25);
  EXPECT_NEAR(report["capacity_fraction_scaling"].get<double>(),
              report["capacity_fraction_ops_per_sec_2t"].get<double>() /
                  report["capacity_fraction_ops_per_sec_1t"].get<double>(),
              1e-9);
  EXPECT_FALSE(report.contains("getput_read_only_ops_per_sec"));
  result = testing::run_command(testing::strata_cli() + " bench l1 --capacity-fraction 0 2>&1");
  EXPECT_NE(result.exit_code, 0);
  EXPECT_NE(result.output.find("--capacity-fraction"), std::string::npos) << result.output;
}

TEST(BenchL1Cli, RejectsBadOptions) {
  const auto result = testing::run_command(testing::strata_cli() + " bench l1 --threads 0 2>&1");
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.output.find("--threads"), std::string::npos) << result.output;
}

}  // namespace
}  // namespace strata
