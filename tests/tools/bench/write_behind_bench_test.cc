// `strata bench write-behind` as a library call (small runs) and as a process with --json.
#include "bench/write_behind/write_behind_bench.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "common/stats.h"
#include "strata/error.h"
#include "support/run_command.h"
#include "support/test_servers.h"

namespace strata {
namespace {

bench::WriteBehindBenchOptions small() {
  bench::WriteBehindBenchOptions o;
  o.rows = 3000;
  o.write_through_rows = 200;
  o.thread_counts = {1, 4};
  o.rounds = 2;
  o.writers = 4;
  o.group = 50;
  o.batch = 500;
  return o;
}

void expect_sane(const bench::WriteBehindBenchReport& report, const std::string& bulk) {
  EXPECT_EQ(report.lost_writes, 0u);
  // Both write-behind comparisons are read back: 2 rounds x (3000 batched + 2 x 200 per write).
  EXPECT_EQ(report.rows_checked, 6800u);
  ASSERT_EQ(report.methods.size(), 7u);
  EXPECT_EQ(report.methods.back().method, bulk);
  for (const auto& m : report.methods) {
    EXPECT_EQ(m.rows_per_sec.size(), 2u) << m.method;
    EXPECT_GT(tools::median(m.rows_per_sec), 0) << m.method;
  }
  const auto j = bench::to_json(report);
  for (const char* key : {"write_behind_rows_per_sec", "write_behind_acks_per_sec",
                          "write_through_rows_per_sec", "copy_rows_per_sec", "lost_writes"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  EXPECT_EQ(j["lost_writes"], 0);
  ASSERT_EQ(j["per_write"].size(), 2u);
  for (const auto& p : j["per_write"]) {
    EXPECT_GT(p["write_behind_rows_per_sec"].get<double>(), 0) << p.dump();
    EXPECT_GT(p["write_through_rows_per_sec"].get<double>(), 0) << p.dump();
  }
}

// Issue 23 item 10: each write-behind figure is compared with a write-through figure measured
// on the same threads, the same rows and the same rows per call (the old bench compared 4
// batched writer threads with one unbatched thread over a fifteenth of the rows).
TEST(WriteBehindBench, ComparesLikeWithLike) {
  const auto report = bench::run_write_behind_bench(small());
  for (const auto& [behind, through] :
       {std::pair{"write_behind_per_write", "write_through_per_write"},
        std::pair{"write_behind_batched", "write_through_batched"}}) {
    for (const auto& m : report.methods) {
      if (m.method != behind) continue;
      const auto* other = report.find(through, m.threads);
      ASSERT_NE(other, nullptr) << behind << " x" << m.threads;
      EXPECT_EQ(other->rows_per_round, m.rows_per_round) << behind;
      EXPECT_EQ(other->rows_per_call, m.rows_per_call) << behind;
      EXPECT_EQ(other->comparison, m.comparison) << behind;
    }
  }
  const auto* batched = report.find("write_behind_batched");
  ASSERT_NE(batched, nullptr);
  EXPECT_EQ(batched->threads, 4u);
  EXPECT_EQ(batched->rows_per_call, 50u);
  EXPECT_NE(report.find("write_behind_per_write", 1), nullptr);
  EXPECT_NE(report.find("write_through_per_write", 4), nullptr);
  std::ostringstream out;
  bench::print_report(out, report);
  EXPECT_NE(out.str().find("per write, 4 thread(s)"), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("batched, 4 threads x 50 rows per call"), std::string::npos)
      << out.str();
}

TEST(WriteBehindBench, SqliteRunLosesNothing) {
  expect_sane(bench::run_write_behind_bench(small()), "bulk_transaction");
}

TEST(WriteBehindBench, PostgresRunLosesNothing) {
  STRATA_SERVER_URL(url, "STRATA_TEST_POSTGRES_URL");
  auto o = small();
  o.postgres_url = url;
  const auto report = bench::run_write_behind_bench(o);
  expect_sane(report, "copy");
  // Issue 23 item 13: a PostgreSQL run says the server's fsync setting, in the JSON and the text.
  EXPECT_TRUE(report.postgres_fsync == "on" || report.postgres_fsync == "off")
      << report.postgres_fsync;
  EXPECT_EQ(bench::to_json(report)["postgres_fsync"], report.postgres_fsync);
  std::ostringstream header;
  bench::print_configuration(header, o);
  EXPECT_NE(header.str().find("fsync=" + report.postgres_fsync), std::string::npos) << header.str();
  std::ostringstream text;
  bench::print_report(text, report);
  EXPECT_NE(text.str().find("fsync=" + report.postgres_fsync), std::string::npos) << text.str();
}

TEST(WriteBehindBench, RejectsBadOptions) {
  auto o = small();
  o.writers = 0;
  EXPECT_THROW(o.validate(), InvalidArgumentError);
}

// Issue 22 item 3: by default an acknowledgement costs a group commit, not a fixed timer.
TEST(WriteBehindBench, DefaultsToGroupCommit) {
  const bench::WriteBehindBenchOptions defaults;
  EXPECT_EQ(defaults.fsync_policy(), FsyncPolicy::kEveryWrite);
  EXPECT_NE(defaults.durability().find("fsynced by group commit"), std::string::npos);
  auto o = small();
  o.fsync_interval = std::chrono::milliseconds(10);
  EXPECT_EQ(o.fsync_policy(), FsyncPolicy::kInterval(std::chrono::milliseconds(10)));
  EXPECT_NE(o.durability().find("every 10 ms"), std::string::npos) << o.durability();
  o.fsync_interval = std::chrono::milliseconds(-1);
  EXPECT_THROW(o.validate(), InvalidArgumentError);
}

TEST(WriteBehindBench, CliPrintsJson) {
  const auto r =
      testing::run_command(testing::strata_cli() +
                           " bench write-behind --rows 1000 --write-through-rows 50 "
                           "--threads 1,2 --rounds 1 --writers 2 --group 20 --json 2>&1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output);
  EXPECT_EQ(j["backend"], "sqlite");
  EXPECT_EQ(j["lost_writes"], 0);
  EXPECT_EQ(j["bulk_baseline"], "bulk_transaction");
  EXPECT_TRUE(j["postgres_fsync"].is_null());
  EXPECT_EQ(j["fsync_policy"], "every-write");
  EXPECT_EQ(j["fsync_interval_ms"], 0);
  ASSERT_EQ(j["per_write"].size(), 2u);
  EXPECT_EQ(j["per_write"][1]["threads"], 2);
  const auto bad =
      testing::run_command(testing::strata_cli() + " bench write-behind --writers 0 2>&1");
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  EXPECT_NE(bad.output.find("--writers"), std::string::npos) << bad.output;
}

}  // namespace
}  // namespace strata
