// `strata bench stampede` run as a process: worker processes of itself, every mode, the JSON
// fields; with the lease, exactly one source load per expiry, and the negative control: without
// protection the same load stampeded (more than one load per expiry).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "support/run_command.h"
#include "support/test_servers.h"

namespace strata {
namespace {

using testing::run_command;
using testing::strata_cli;

void check_stampede_report(const std::string& url_option) {
  const auto result = run_command(strata_cli() + " bench stampede " + url_option +
                                  " --processes 2 --threads 6 --expiries 3 --interval-ms 150"
                                  " --load-latency-ms 20 --json");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const auto report = nlohmann::json::parse(result.output);
  for (const char* field :
       {"processes", "threads", "expiries", "loads_per_expiry", "loads_per_expiry_unprotected",
        "xfetch_waiting_fraction", "p99_us_unprotected", "p99_us_single-flight", "p99_us_lease",
        "p99_us_xfetch", "p99_us_swr"}) {
    EXPECT_TRUE(report.contains(field)) << field;
  }
  EXPECT_EQ(report["processes"], 2);
  EXPECT_EQ(report["threads"], 6);
  ASSERT_EQ(report["modes"].size(), 5u);
  for (const auto& m : report["modes"]) {
    SCOPED_TRACE(m["mode"].get<std::string>());
    EXPECT_GT(m["requests"].get<long>(), 0);
    EXPECT_GT(m["p99_us"].get<double>(), 0);
    EXPECT_GE(m["loads"].get<long>(), 1);
  }
  const auto& lease = report["modes"][2];
  ASSERT_EQ(lease["mode"], "lease");
  EXPECT_GE(lease["expiries"].get<int>(), 1);
  EXPECT_EQ(lease["loads"], lease["expiries"]);  // exactly one load per expiry
  EXPECT_EQ(report["loads_per_expiry"].get<double>(), 1.0);
  // 12 readers of a key whose load takes 20 ms: unprotected, several of them load each expiry.
  const auto& unprotected = report["modes"][0];
  ASSERT_EQ(unprotected["mode"], "unprotected");
  EXPECT_GT(unprotected["loads"].get<long>(), unprotected["expiries"].get<long>());
  EXPECT_GT(report["loads_per_expiry_unprotected"].get<double>(), 1.0);
}

TEST(StampedeBenchCli, StandaloneJsonReport) {
  STRATA_SERVER_URL(url, "STRATA_TEST_REDIS_URL");
  check_stampede_report("--redis " + url);
}

TEST(StampedeBenchCli, ClusterJsonReport) {
  STRATA_SERVER_URL(url, "STRATA_TEST_REDIS_CLUSTER_URL");
  check_stampede_report("--redis-cluster " + url);
}

TEST(StampedeBenchCli, RejectsBadOptions) {
  const auto none = run_command(strata_cli() + " bench stampede 2>&1");
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_NE(none.output.find("--redis"), std::string::npos) << none.output;
  const auto mode =
      run_command(strata_cli() + " bench stampede --redis redis://127.0.0.1:1 --modes nope 2>&1");
  EXPECT_EQ(mode.exit_code, 2);
  EXPECT_NE(mode.output.find("unknown mode"), std::string::npos) << mode.output;
}

}  // namespace
}  // namespace strata
