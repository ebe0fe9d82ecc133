// `strata bench write-behind` as a library call (small runs) and as a process with --json.
#include "bench/write_behind/write_behind_bench.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "strata/error.h"
#include "support/run_command.h"
#include "support/test_servers.h"

namespace strata {
namespace {

bench::WriteBehindBenchOptions small() {
  bench::WriteBehindBenchOptions o;
  o.rows = 3000;
  o.write_through_rows = 200;
  o.rounds = 2;
  o.writers = 4;
  o.group = 50;
  o.batch = 500;
  return o;
}

void expect_sane(const bench::WriteBehindBenchReport& report, const std::string& bulk) {
  EXPECT_EQ(report.lost_writes, 0u);
  EXPECT_EQ(report.rows_checked, 6000u);
  ASSERT_EQ(report.methods.size(), 3u);
  EXPECT_EQ(report.methods[2].method, bulk);
  for (const auto& m : report.methods) {
    EXPECT_EQ(m.rows_per_sec.size(), 2u) << m.method;
    EXPECT_GT(bench::WriteBehindMethod::median(m.rows_per_sec), 0) << m.method;
  }
  const auto j = bench::to_json(report);
  for (const char* key : {"write_behind_rows_per_sec", "write_behind_acks_per_sec",
                          "write_through_rows_per_sec", "copy_rows_per_sec", "lost_writes"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  EXPECT_EQ(j["lost_writes"], 0);
}

TEST(WriteBehindBench, SqliteRunLosesNothing) {
  expect_sane(bench::run_write_behind_bench(small()), "bulk_transaction");
}

TEST(WriteBehindBench, PostgresRunLosesNothing) {
  STRATA_SERVER_URL(url, "STRATA_TEST_POSTGRES_URL");
  auto o = small();
  o.postgres_url = url;
  expect_sane(bench::run_write_behind_bench(o), "copy");
}

TEST(WriteBehindBench, RejectsBadOptions) {
  auto o = small();
  o.writers = 0;
  EXPECT_THROW(o.validate(), InvalidArgumentError);
}

TEST(WriteBehindBench, CliPrintsJson) {
  const auto r = testing::run_command(testing::strata_cli() +
                                      " bench write-behind --rows 1000 --write-through-rows 50 "
                                      "--rounds 1 --writers 2 --group 20 --json 2>&1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output);
  EXPECT_EQ(j["backend"], "sqlite");
  EXPECT_EQ(j["lost_writes"], 0);
  EXPECT_EQ(j["bulk_baseline"], "bulk_transaction");
  const auto bad =
      testing::run_command(testing::strata_cli() + " bench write-behind --writers 0 2>&1");
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  EXPECT_NE(bad.output.find("--writers"), std::string::npos) << bad.output;
}

}  // namespace
}  // namespace strata
