#include "bench/user_service.h"

#include <gtest/gtest.h>

#include "strata/error.h"

namespace strata::bench {
namespace {

TEST(UserServiceBench, CacheAsideServesHitsAndNeverReadsStale) {
  UserServiceOptions options;
  options.users = 500;
  options.operations = 5000;
  options.write_fraction = 0.1;
  const auto report = run_user_service(options);
  ASSERT_EQ(report.patterns.size(), 2u);

  const auto& none = report.patterns[0];
  EXPECT_EQ(none.pattern, "no cache");
  EXPECT_EQ(none.hits, 0u);
  EXPECT_EQ(none.source_reads, none.reads);

  const auto& aside = report.patterns[1];
  EXPECT_EQ(aside.pattern, "cache-aside");
  EXPECT_EQ(aside.operations, options.operations);
  EXPECT_EQ(aside.reads + aside.writes, options.operations);
  EXPECT_EQ(aside.hits + aside.source_reads, aside.reads);
  EXPECT_GT(aside.hit_ratio(), 0.5);  // Zipf 0.99 over 500 keys is very cacheable
  EXPECT_EQ(aside.source_writes, aside.writes);
  // Same requests through both patterns.
  EXPECT_EQ(aside.reads, none.reads);
  EXPECT_EQ(aside.writes, none.writes);
  for (const auto& p : report.patterns) {
    EXPECT_EQ(p.stale_reads, 0u) << p.pattern;
    EXPECT_EQ(p.lost_writes, 0u) << p.pattern;
    EXPECT_EQ(p.errors, 0u) << p.pattern;
    EXPECT_EQ(p.latency.count(), options.operations);
  }

  const auto json = to_json(report);
  ASSERT_EQ(json["patterns"].size(), 2u);
  for (const char* field : {"pattern", "ops_per_sec", "hit_ratio", "source_reads", "source_writes",
                            "p50_us", "p99_us", "stale_reads", "lost_writes", "errors"}) {
    EXPECT_TRUE(json["patterns"][1].contains(field)) << field;
  }
}

TEST(UserServiceBench, RejectsBadOptions) {
  UserServiceOptions options;
  options.write_fraction = 1.5;
  EXPECT_THROW((void)run_user_service(options), InvalidArgumentError);
  options = {};
  options.users = 0;
  EXPECT_THROW((void)run_user_service(options), InvalidArgumentError);
}

}  // namespace
}  // namespace strata::bench
