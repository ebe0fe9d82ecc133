// `strata bench coherence` run as a process: writer and reader processes on the shared
// standalone server and cluster. Whatever the timing, no mode may leave a stale value once the
// writers stopped, and tracking must have invalidated the readers' L1s. The negative control:
// mode `none` (L1 with only a TTL) did read stale values while the writers ran, so the run was
// able to show staleness.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "support/run_command.h"
#include "support/test_servers.h"

namespace strata {
namespace {

using testing::run_command;
using testing::strata_cli;

TEST(CoherenceBenchCli, EveryModeEndsWithNoStaleValueInAnyProcess) {
  STRATA_SERVER_URL(url, "STRATA_TEST_REDIS_URL");
  STRATA_SERVER_URL(cluster, "STRATA_TEST_REDIS_CLUSTER_URL");
  const auto result =
      run_command(strata_cli() + " bench coherence --redis '" + url + "' --redis-cluster '" +
                  cluster + "' --duration-ms 1500 --readers 2 --local-ttl-ms 500 --json");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const auto report = nlohmann::json::parse(result.output);
  for (const char* target : {"standalone", "cluster"}) {
    ASSERT_TRUE(report["results"].contains(target)) << target;
    for (const char* mode : {"none", "tracking", "bus"}) {
      SCOPED_TRACE(std::string(target) + " " + mode);
      const auto& m = report["results"][target][mode];
      for (const char* field :
           {"staleness_ms_p50", "staleness_ms_p99", "staleness_ms_max", "stale_reads",
            "stale_after_quiesce", "l1_hit_ratio", "writes", "reads"}) {
        ASSERT_TRUE(m.contains(field)) << field;
      }
      EXPECT_GT(m["writes"].get<int>(), 0);
      EXPECT_GT(m["reads"].get<int>(), 0);
      EXPECT_EQ(m["stale_after_quiesce"].get<int>(), 0);
      EXPECT_GT(m["l1_hit_ratio"].get<double>(), 0);
      EXPECT_LE(m["staleness_ms_p99"].get<double>(), m["staleness_ms_max"].get<double>());
    }
    EXPECT_GT(report["results"][target]["none"]["stale_reads"].get<int>(), 0);
    EXPECT_GT(report["results"][target]["tracking"]["invalidations"].get<int>(), 0);
    EXPECT_GT(report["results"][target]["bus"]["invalidations"].get<int>(), 0);
  }
}

TEST(CoherenceBenchCli, RejectsBadOptions) {
  const auto result =
      run_command(strata_cli() + " bench coherence --redis redis://127.0.0.1:1 --writers 0 2>&1");
  EXPECT_EQ(result.exit_code, 2) << result.output;
  EXPECT_NE(result.output.find("--writers"), std::string::npos) << result.output;
  const auto modes = run_command(
      strata_cli() + " bench coherence --redis redis://127.0.0.1:1 --modes none,psychic 2>&1");
  EXPECT_EQ(modes.exit_code, 2) << modes.output;
  EXPECT_NE(modes.output.find("psychic"), std::string::npos) << modes.output;
}

}  // namespace
}  // namespace strata
