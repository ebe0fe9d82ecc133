#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "bench/user_service.h"
#include "strata/error.h"
#include "support/test_servers.h"

namespace strata::bench {
namespace {

const std::vector<std::string> kEmbeddedPatterns = {"no cache", "cache-aside", "read-through",
                                                    "write-through", "write-behind"};

UserServiceOptions small_options() {
  UserServiceOptions options;
  options.users = 500;
  options.operations = 3000;  // ~150 writes: write-behind waits for a 10 ms fsync per write
  options.write_fraction = 0.05;
  return options;
}

// What every pattern must show: the same requests, nothing stale, nothing lost, no errors, and
// for the caching ones hits that spared the source.
void check_patterns(const UserServiceOptions& options, const UserServiceReport& report) {
  const auto& none = report.patterns.at(0);
  EXPECT_EQ(none.pattern, "no cache");
  EXPECT_EQ(none.hits, 0u);
  EXPECT_EQ(none.source_reads, none.reads);
  EXPECT_EQ(none.source_writes, none.writes);
  EXPECT_GT(none.writes, 0u);
  for (const auto& p : report.patterns) {
    SCOPED_TRACE(p.pattern);
    EXPECT_EQ(p.operations, options.operations);
    EXPECT_EQ(p.reads, none.reads);  // same requests through every pattern
    EXPECT_EQ(p.writes, none.writes);
    // Known gap (docs/patterns.md, write-behind): once L1 evicts a key whose write is still in
    // the journal, a read loads the old row from the source. The bench counts those reads; the
    // test below shows they vanish when L1 holds every user.
    if (p.pattern != "write-behind") {
      EXPECT_EQ(p.stale_reads, 0u);
    }
    EXPECT_EQ(p.lost_writes, 0u);
    EXPECT_EQ(p.errors, 0u);
    EXPECT_EQ(p.latency.count(), options.operations);
    EXPECT_GT(p.ops_per_sec(), 0);
    if (p.pattern == "no cache") continue;
    EXPECT_GT(p.hits, 0u);
    EXPECT_GT(p.hit_ratio(), 0.5);                // Zipf 0.99 over 500 keys is very cacheable
    EXPECT_EQ(p.hits + p.source_reads, p.reads);  // every miss is one measured source read
    EXPECT_LT(p.source_reads, none.source_reads);
    if (p.pattern == "write-behind") {
      // Coalesced: a key written twice before a flush reaches the source once.
      EXPECT_GT(p.source_writes, 0u);
      EXPECT_LE(p.source_writes, p.writes);
    } else {
      EXPECT_EQ(p.source_writes, p.writes);
    }
  }
}

TEST(UserServiceBench, EveryPatternServesTheSameRequestsWithoutLostWrites) {
  const auto options = small_options();
  const auto report = run_user_service(options);
  ASSERT_EQ(report.patterns.size(), kEmbeddedPatterns.size());
  for (std::size_t i = 0; i < kEmbeddedPatterns.size(); ++i) {
    EXPECT_EQ(report.patterns[i].pattern, kEmbeddedPatterns[i]);
  }
  check_patterns(options, report);

  const auto json = to_json(report);
  ASSERT_EQ(json["patterns"].size(), kEmbeddedPatterns.size());
  for (const auto& entry : json["patterns"]) {
    for (const char* field :
         {"pattern", "ops_per_sec", "hit_ratio", "source_reads", "source_writes", "p50_us",
          "p99_us", "stale_reads", "lost_writes", "errors"}) {
      EXPECT_TRUE(entry.contains(field)) << entry["pattern"] << ": " << field;
    }
  }
}

TEST(UserServiceBench, NoPatternReadsStaleWhenL1HoldsEveryUser) {
  auto options = small_options();
  options.cache_fraction = 1.0;
  const auto report = run_user_service(options);
  ASSERT_EQ(report.patterns.size(), kEmbeddedPatterns.size());
  check_patterns(options, report);
  for (const auto& p : report.patterns) EXPECT_EQ(p.stale_reads, 0u) << p.pattern;
}

TEST(UserServiceBench, TwoTierOverRealRedis) {
  STRATA_SERVER_URL(url, "STRATA_TEST_REDIS_URL");
  auto options = small_options();
  options.redis_url = url;
  const auto report = run_user_service(options);
  ASSERT_EQ(report.patterns.size(), kEmbeddedPatterns.size() + 1);
  EXPECT_EQ(report.patterns.back().pattern, "two-tier");
  check_patterns(options, report);
}

TEST(UserServiceBench, RejectsBadOptions) {
  UserServiceOptions options;
  options.write_fraction = 1.5;
  EXPECT_THROW((void)run_user_service(options), InvalidArgumentError);
  options = {};
  options.users = 0;
  EXPECT_THROW((void)run_user_service(options), InvalidArgumentError);
  options = {};
  options.redis_url = "redis+cluster://127.0.0.1:7000";
  EXPECT_THROW((void)run_user_service(options), InvalidArgumentError);
  options = {};
  options.redis_cluster_url = "redis://127.0.0.1:6379";
  EXPECT_THROW((void)run_user_service(options), InvalidArgumentError);
}

}  // namespace
}  // namespace strata::bench
