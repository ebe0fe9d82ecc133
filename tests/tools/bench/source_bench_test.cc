// `strata bench source` as a library call (small sizes; no timing assertions).
#include "bench/source/source_bench.h"

#include <gtest/gtest.h>

#include <sstream>

#include "strata/codec/json.h"
#include "strata/error.h"
#include "support/test_servers.h"

namespace strata {
namespace {

bench::SourceBenchOptions small() {
  bench::SourceBenchOptions o;
  o.rows = 300;
  o.batch = 100;
  o.rounds = 2;
  o.row_per_txn_rows = 50;
  return o;
}

TEST(SourceBench, SqliteReportsBatchAndRowPerTxn) {
  std::vector<std::string> lines;
  const auto report =
      bench::run_source_bench(small(), [&](const std::string& l) { lines.push_back(l); });
  EXPECT_EQ(report.backend, "sqlite");
  EXPECT_EQ(lines.size(), 2u);
  const auto j = bench::to_json(report);
  EXPECT_GT(j["batch_rows_per_sec"].get<double>(), 0);
  EXPECT_GT(j["row_per_txn_rows_per_sec"].get<double>(), 0);
  EXPECT_TRUE(j["copy_rows_per_sec"].is_null());
  EXPECT_TRUE(j["postgres_fsync"].is_null());
  EXPECT_GT(j["batch_vs_row_per_txn"].get<double>(), 0);
}

TEST(SourceBench, PostgresReportsAllThreeMethodsAndRatios) {
  STRATA_SERVER_URL(url, "STRATA_TEST_POSTGRES_URL");
  auto options = small();
  options.postgres_url = url;
  const auto report = bench::run_source_bench(options);
  EXPECT_EQ(report.backend, "postgres");
  const auto j = bench::to_json(report);
  for (const char* field : {"batch_rows_per_sec", "row_per_txn_rows_per_sec", "copy_rows_per_sec",
                            "batch_vs_copy", "batch_vs_row_per_txn"}) {
    ASSERT_TRUE(j[field].is_number()) << field;
    EXPECT_GT(j[field].get<double>(), 0) << field;
  }
  EXPECT_EQ(j["rounds_rows_per_sec"]["copy"].size(), 2u);
  // Issue 23 item 13: the server's fsync setting is part of every PostgreSQL write figure.
  EXPECT_TRUE(report.postgres_fsync == "on" || report.postgres_fsync == "off")
      << report.postgres_fsync;
  EXPECT_EQ(j["postgres_fsync"], report.postgres_fsync);
  std::ostringstream header;
  bench::print_configuration(header, options);
  EXPECT_NE(header.str().find("fsync=" + report.postgres_fsync), std::string::npos) << header.str();
}

TEST(SourceBench, RejectsZeroOptionsNamingThem) {
  auto options = small();
  options.batch = 0;
  try {
    (void)bench::run_source_bench(options);
    FAIL();
  } catch (const InvalidArgumentError& e) {
    EXPECT_NE(std::string(e.what()).find("--batch"), std::string::npos);
  }
}

}  // namespace
}  // namespace strata
