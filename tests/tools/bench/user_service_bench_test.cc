#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench/user_service/user_service.h"
#include "bench/user_service/version_oracle.h"
#include "strata/codec/json.h"
#include "strata/error.h"
#include "support/test_servers.h"

namespace strata::bench {
namespace {

const std::vector<std::string> kEmbeddedPatterns = {"no cache", "cache-aside", "read-through",
                                                    "write-through", "write-behind"};

// One client: every request in turn (the concurrent tests set their own number of clients).
UserServiceOptions small_options() {
  UserServiceOptions options;
  options.users = 500;
  options.operations = 3000;  // ~150 writes
  options.write_fraction = 0.05;
  options.clients = 1;
  return options;
}

// What every pattern must show: the same requests, nothing stale, nothing lost, no errors, and
// for the caching ones hits that spared the source. With concurrent clients too: a load that
// started before a write is neither joined nor cached after it (LocalCache detaches it; the
// stale reads this test saw before that were real).
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
    // Write-behind included: once L1 evicts a key whose write is still pending, the read is
    // answered by the sink, not the old row (docs/patterns.md, read-your-writes).
    EXPECT_EQ(p.stale_reads, 0u);
    EXPECT_EQ(p.lost_writes, 0u);
    EXPECT_EQ(p.errors, 0u);
    EXPECT_EQ(p.latency.count(), options.operations);
    EXPECT_GT(p.ops_per_sec(), 0);
    if (p.pattern == "no cache") continue;
    EXPECT_GT(p.hits, 0u);
    // Zipf 0.99 over 500 keys is very cacheable; each write's invalidation costs a miss.
    EXPECT_GT(p.hit_ratio(), options.write_fraction <= 0.05 ? 0.5 : 0.3);
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
         {"pattern", "ops_per_sec", "vs_no_cache", "hit_ratio", "source_reads", "source_writes",
          "p50_us", "p99_us", "p999_us", "stale_reads", "lost_writes", "errors"}) {
      EXPECT_TRUE(entry.contains(field)) << entry["pattern"] << ": " << field;
    }
  }
  EXPECT_EQ(json["patterns"][0]["vs_no_cache"], 1.0);
  EXPECT_EQ(json["clients"], 1);
  EXPECT_EQ(json["source_latency_us"], 500);  // the default round trip
  ASSERT_TRUE(json["cache_aside_vs_bound"].is_number());
  EXPECT_GT(json["cache_aside_vs_bound"].get<double>(), 0);
}

// Issue 22 item 2: the default is a service, concurrent clients against a source a round trip
// away; every acknowledged write reaches the source and the counts add up under concurrency.
TEST(UserServiceBench, ConcurrentClientsLoseNoWrite) {
  const UserServiceOptions defaults;
  EXPECT_EQ(defaults.clients, 32u);
  EXPECT_EQ(defaults.source_latency, std::chrono::microseconds(500));
  EXPECT_EQ(defaults.source_connections, 8u);
  auto options = small_options();
  options.clients = 32;
  options.write_fraction = 0.2;  // concurrent writes of the hot keys
  const auto report = run_user_service(options);
  ASSERT_EQ(report.patterns.size(), kEmbeddedPatterns.size());
  check_patterns(options, report);
  std::ostringstream table;
  print_table(table, report);
  const std::string text = table.str();
  EXPECT_NE(text.find("strata bench: 32 concurrent clients"), std::string::npos) << text;
  EXPECT_NE(text.find("a round trip of 0.5 ms added to every source call"), std::string::npos)
      << text;
  EXPECT_NE(text.find("vs no cache"), std::string::npos) << text;
  EXPECT_NE(text.find("p99.9 us"), std::string::npos) << text;
  EXPECT_NE(text.find("of that bound (target >= 0.8)"), std::string::npos) << text;
}

// Issue 22 item 3: write-behind acknowledges a write once a group commit fsynced its journal
// record (not after a fixed fsync timer), and every row says what an acknowledged write is.
TEST(UserServiceBench, WriteBehindAcknowledgesAfterAGroupCommit) {
  auto options = small_options();
  options.clients = 16;
  options.operations = 1000;
  load_scenario(std::filesystem::path(STRATA_SOURCE_DIR) / "bench/scenarios/write_only.json",
                options);
  EXPECT_EQ(options.write_fraction, 1.0);
  options.operations = 600;  // the scenario's workload, fewer requests
  options.source_latency = std::chrono::microseconds(100);
  const auto report = run_user_service(options);
  ASSERT_EQ(report.patterns.size(), kEmbeddedPatterns.size());
  for (const auto& p : report.patterns) {
    SCOPED_TRACE(p.pattern);
    EXPECT_EQ(p.writes, 600u);
    EXPECT_EQ(p.lost_writes, 0u);
    EXPECT_EQ(p.errors, 0u);
    if (p.pattern == "write-behind") {
      EXPECT_EQ(p.durability.rfind("fsynced to the journal by group commit (", 0), 0u)
          << p.durability;
      EXPECT_LE(p.source_writes, p.writes);  // coalesced
    } else {
      EXPECT_EQ(p.durability, "committed by SQLite (WAL, synchronous=NORMAL: no fsync per commit)");
      EXPECT_EQ(p.source_writes, p.writes);
    }
  }
  const auto json = to_json(report);
  ASSERT_TRUE(json["write_behind_vs_write_through"].is_number());
  EXPECT_TRUE(json["cache_aside_vs_bound"].is_null()) << "no reads, no bound";
  EXPECT_EQ(json["source_connections"], 4);
  EXPECT_EQ(json["patterns"][4]["durability"], report.patterns[4].durability);
  std::ostringstream table;
  print_table(table, report);
  const std::string text = table.str();
  EXPECT_NE(text.find("\nan acknowledged write is\n  no cache, cache-aside, read-through, "
                      "write-through: committed by SQLite"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("  write-behind: fsynced to the journal by group commit ("),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("x write-through's throughput (target >= 5x"), std::string::npos) << text;
  EXPECT_NE(text.find("4 connections to it"), std::string::npos) << text;
}

TEST(VersionOracle, AReadOlderThanTheLastAcknowledgedWriteIsStale) {
  VersionOracle oracle(10);
  EXPECT_EQ(oracle.acknowledged(3), 0);
  {
    const std::lock_guard lock(oracle.lock(3));
    oracle.acknowledge(3, 1);
    oracle.acknowledge(3, 2);
  }
  const std::int64_t floor = oracle.acknowledged(3);
  EXPECT_EQ(floor, 2);
  EXPECT_TRUE(VersionOracle::stale(floor, 1));
  EXPECT_TRUE(VersionOracle::stale(floor, std::nullopt));  // every user exists
  EXPECT_FALSE(VersionOracle::stale(floor, 2));
  EXPECT_FALSE(VersionOracle::stale(floor, 3));  // a write in flight when the read started
  EXPECT_EQ(oracle.acknowledged(4), 0);          // other users untouched
}

TEST(VersionOracle, ASourceOlderThanTheLastAcknowledgedWriteLostIt) {
  VersionOracle oracle(10);
  {
    const std::lock_guard lock(oracle.lock(7));
    oracle.acknowledge(7, 1);
  }
  EXPECT_TRUE(oracle.lost(7, 0));
  EXPECT_TRUE(oracle.lost(7, std::nullopt));
  EXPECT_FALSE(oracle.lost(7, 1));
  EXPECT_FALSE(oracle.lost(7, 2));  // a write that failed after it reached the source
  EXPECT_FALSE(oracle.lost(8, 0));
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

TEST(UserServiceBench, PostgresSourceWithAddedLatency) {
  STRATA_SERVER_URL(url, "STRATA_TEST_POSTGRES_URL");
  auto options = small_options();
  options.users = 200;
  options.operations = 1000;
  options.postgres_url = url;
  options.source_latency = std::chrono::microseconds(200);
  const auto report = run_user_service(options);
  ASSERT_EQ(report.patterns.size(), kEmbeddedPatterns.size());
  check_patterns(options, report);
  EXPECT_EQ(to_json(report)["source"], "postgres");
  // Issue 23 item 13: a PostgreSQL run says the server's fsync setting (JSON and header).
  EXPECT_TRUE(report.postgres_fsync == "on" || report.postgres_fsync == "off")
      << report.postgres_fsync;
  EXPECT_EQ(to_json(report)["postgres_fsync"], report.postgres_fsync);
  std::ostringstream table;
  print_table(table, report);
  EXPECT_NE(table.str().find("PostgreSQL (server fsync=" + report.postgres_fsync + ")"),
            std::string::npos)
      << table.str();
  // Every no-cache request pays the added latency at least once.
  EXPECT_GE(report.patterns[0].latency.percentile(50), std::chrono::microseconds(200));
}

// The checked-in default scenario and the built-in defaults (what `strata bench` runs without
// --scenario) are the same workload.
TEST(UserServiceScenario, DefaultFileMatchesTheBuiltInDefaults) {
  const UserServiceOptions defaults;
  UserServiceOptions loaded;
  loaded.users = 1;  // overwritten by the file
  loaded.seed = 7;
  load_scenario(std::filesystem::path(STRATA_SOURCE_DIR) / "bench/scenarios/user_service.json",
                loaded);
  EXPECT_EQ(scenario_json(loaded), scenario_json(defaults));
  std::ifstream in(std::filesystem::path(STRATA_SOURCE_DIR) / "bench/scenarios/user_service.json");
  auto file = nlohmann::json::parse(in);
  file.erase("name");
  file.erase("description");
  EXPECT_EQ(file, nlohmann::json(scenario_json(defaults)))
      << "the file must set every workload field";
}

TEST(UserServiceScenario, EveryCheckedInScenarioIsValid) {
  int seen = 0;
  for (const auto& entry : std::filesystem::directory_iterator(
           std::filesystem::path(STRATA_SOURCE_DIR) / "bench/scenarios")) {
    SCOPED_TRACE(entry.path().string());
    UserServiceOptions options;
    load_scenario(entry.path(), options);
    EXPECT_NO_THROW(options.validate());
    ++seen;
  }
  EXPECT_GE(seen, 1);
}

TEST(UserServiceScenario, RejectsUnknownKeysAndWrongTypes) {
  UserServiceOptions options;
  EXPECT_THROW(apply_scenario(nlohmann::json{{"userz", 5}}, options), InvalidArgumentError);
  EXPECT_THROW(apply_scenario(nlohmann::json{{"users", "many"}}, options), InvalidArgumentError);
  EXPECT_THROW(apply_scenario(nlohmann::json::array(), options), InvalidArgumentError);
  apply_scenario(nlohmann::json{{"users", 5}, {"source_latency_us", 1500}}, options);
  EXPECT_EQ(options.users, 5u);
  EXPECT_EQ(options.source_latency, std::chrono::microseconds(1500));
  EXPECT_THROW(load_scenario("/nonexistent/scenario.json", options), InvalidArgumentError);
}

// Progress is reported per pattern up to done == total; with a registry, each pattern's cache
// is registered under the pattern's name while it runs.
TEST(UserServiceBench, ReportsProgressAndRegistersEachPatternsCache) {
  auto options = small_options();
  options.operations = 1000;
  MetricsRegistry registry;
  options.metrics = &registry;
  std::set<std::string> finished;
  std::set<std::string> seen_in_registry;
  options.progress = [&](std::string_view pattern, std::uint64_t done, std::uint64_t total) {
    EXPECT_EQ(total, 1000u);
    EXPECT_LE(done, total);
    if (done == total) finished.insert(std::string(pattern));
    const MetricsSnapshot snapshot = registry.snapshot();
    if (const CacheMetrics* m = snapshot.cache(pattern); m && m->requests() > 0) {
      seen_in_registry.insert(std::string(pattern));
    }
  };
  const auto report = run_user_service(options);
  EXPECT_EQ(finished.size(), kEmbeddedPatterns.size());
  // Every cached pattern showed up with traffic; "no cache" has no cache to register.
  const std::set<std::string> cached(kEmbeddedPatterns.begin() + 1, kEmbeddedPatterns.end());
  EXPECT_EQ(seen_in_registry, cached);
  EXPECT_TRUE(registry.snapshot().caches.empty()) << "the caches are gone after the run";
}

// A progress callback that throws in a client thread stops the run and reaches the caller
// (never std::terminate from a thread).
TEST(UserServiceBench, AThrowingProgressCallbackReachesTheCaller) {
  auto options = small_options();
  options.clients = 8;
  options.operations = 1000;
  options.progress = [](std::string_view, std::uint64_t done, std::uint64_t total) {
    if (done < total) throw std::runtime_error("stop");
  };
  EXPECT_THROW((void)run_user_service(options), std::runtime_error);
}

TEST(UserServiceBench, PlotIsAnSvgWithEveryPattern) {
  auto options = small_options();
  options.operations = 500;
  const auto report = run_user_service(options);
  std::ostringstream svg;
  write_svg(svg, report);
  const std::string text = svg.str();
  EXPECT_EQ(text.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0), 0u) << text;
  EXPECT_NE(text.find("</svg>\n"), std::string::npos);
  for (const auto& name : kEmbeddedPatterns) {
    EXPECT_NE(text.find(">" + name + "</text>"), std::string::npos) << name;
  }
  EXPECT_NE(text.find("hit ratio (%)"), std::string::npos);
  EXPECT_EQ(text.find("nan"), std::string::npos);
}

TEST(UserServiceBench, RejectsBadOptions) {
  UserServiceOptions options;
  options.write_fraction = 1.5;
  EXPECT_THROW((void)run_user_service(options), InvalidArgumentError);
  options = {};
  options.users = 0;
  EXPECT_THROW((void)run_user_service(options), InvalidArgumentError);
  options = {};
  options.clients = 0;
  EXPECT_THROW((void)run_user_service(options), InvalidArgumentError);
  options = {};
  options.source_connections = 2000;
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
