// user_service.h: `strata bench`, the main job: a user service's workload replayed through
// each caching pattern over the same SQLite table, reported side by side.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <iosfwd>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "strata/metrics/latency_histogram.h"
#include "strata/metrics/metrics.h"

namespace strata::bench {

struct UserServiceOptions {
  std::uint64_t users = 10'000;  // rows in the users table
  // Requests replayed through each pattern. Write-behind acknowledges a write once its journal
  // record is fsynced (every 10 ms), so its row costs about 10 ms per write: 20'000 requests at
  // 5% writes keep `make run` well under a minute.
  std::uint64_t operations = 20'000;
  double zipf_s = 0.99;          // key popularity skew (YCSB's default)
  double write_fraction = 0.05;  // share of requests that update a user
  double cache_fraction = 0.1;   // L1 capacity, as a share of the users
  std::uint64_t seed = 42;       // the same seed replays the same requests
  // Added to every source call (one load, one batch): mimics a remote database's round trip.
  std::chrono::microseconds source_latency{0};
  std::string redis_url;          // non-empty: adds the "two-tier" row (L1 + this L2)
  std::string redis_cluster_url;  // non-empty: adds the "two-tier cluster" row
  std::string postgres_url;       // non-empty: the users table lives in PostgreSQL, not SQLite

  // Not part of a scenario: where the run reports.
  // Called every few hundred requests and at each pattern's end (done == total).
  std::function<void(std::string_view pattern, std::uint64_t done, std::uint64_t total)> progress{};
  // When set, each pattern's cache (and write-behind writer) is registered under the pattern's
  // name while it runs (`--metrics-port`).
  MetricsRegistry* metrics = nullptr;

  void validate() const;  // throws InvalidArgumentError naming the option
};

// Scenarios are JSON files (bench/scenarios/*.json): an object whose keys are the workload
// fields of UserServiceOptions (users, operations, zipf_s, write_fraction, cache_fraction, seed,
// source_latency_us) plus "name" and "description"; a missing key keeps its current value.
// Throws InvalidArgumentError for an unknown key, a wrong type or an unreadable file.
void apply_scenario(const nlohmann::json& scenario, UserServiceOptions& options);
void load_scenario(const std::filesystem::path& file, UserServiceOptions& options);
// The workload fields of `options` as a scenario (what apply_scenario reads).
[[nodiscard]] nlohmann::ordered_json scenario_json(const UserServiceOptions& options);

// One pattern's measurements. `stale_reads` counts reads that returned an older version of a
// user than the last acknowledged write (the bench keeps the truth beside the database).
// `hits` are reads that did not reach the source; source reads and writes are counted by a
// wrapper around the SQLite source (rows, so a batch of n writes counts n).
struct PatternResult {
  std::string pattern;
  std::uint64_t operations = 0;
  std::uint64_t reads = 0;
  std::uint64_t writes = 0;
  std::uint64_t hits = 0;
  std::uint64_t source_reads = 0;
  std::uint64_t source_writes = 0;
  std::uint64_t stale_reads = 0;
  std::uint64_t lost_writes = 0;  // writes not found in the source when read back at the end
  std::uint64_t errors = 0;
  double seconds = 0;
  LatencyHistogram latency;

  [[nodiscard]] double ops_per_sec() const { return seconds > 0 ? operations / seconds : 0; }
  [[nodiscard]] double hit_ratio() const { return reads > 0 ? double(hits) / double(reads) : 0; }
};

// The bulk read against single reads, measured in the same run on the same table: `keys`
// distinct users (up to 1'000) of which half are already cached (L1, and L2 with --redis), read
// once as `keys` get_or_load calls and once as one get_or_load_many call (fresh caches each
// round, rounds alternated single / bulk, medians reported).
struct BulkComparison {
  std::uint64_t keys = 0;
  std::uint64_t misses = 0;
  int rounds = 0;
  std::uint64_t single_source_calls = 0;  // per round
  std::uint64_t bulk_source_calls = 0;
  double single_ms = 0;  // median
  double bulk_ms = 0;
  [[nodiscard]] double speedup() const { return bulk_ms > 0 ? single_ms / bulk_ms : 0; }
};

struct UserServiceReport {
  UserServiceOptions options;
  std::vector<PatternResult> patterns;
  std::string postgres_fsync;  // the server's `SHOW fsync` with --postgres; empty on SQLite
  BulkComparison bulk;
};

// Creates the users table in a fresh SQLite database (in a temporary directory, removed after)
// for each pattern, replays the same requests through it, and checks the table at the end.
// Patterns: "no cache", "cache-aside", "read-through", "write-through", "write-behind" (all
// Cache<User> with an L1 sized by cache_fraction), then "two-tier" / "two-tier cluster" (L1 +
// Redis L2, read-through, writes through put() in write-around mode) when a URL is given.
[[nodiscard]] UserServiceReport run_user_service(const UserServiceOptions& options);

void print_table(std::ostream& out, const UserServiceReport& report);
// An SVG chart (written by hand, no dependency): hit ratio and p50/p99 latency per pattern.
void write_svg(std::ostream& out, const UserServiceReport& report);
[[nodiscard]] nlohmann::ordered_json to_json(const UserServiceReport& report);

}  // namespace strata::bench
