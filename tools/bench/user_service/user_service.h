// user_service.h: `strata bench`, the main job: a user service simulated through each caching
// pattern over the same table, reported side by side against no cache. `clients` concurrent
// clients (threads, a closed loop each) replay the Zipf workload against a source that costs a
// network round trip (SQLite plus an added sleep per call, or the real PostgreSQL), so group
// commit, single-flight and what a hit saves all show.
//
//   strata::bench::UserServiceOptions options;  options.clients = 8;
//   strata::bench::print_table(std::cout, strata::bench::run_user_service(options));
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <iosfwd>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "strata/metrics/latency_histogram.h"
#include "strata/metrics/metrics.h"

namespace strata::bench {

struct UserServiceOptions {
  std::uint64_t users = 10'000;  // rows in the users table
  // Requests replayed through each pattern (shared by the clients): with the defaults each
  // pattern's run takes about a second or less on 2 cores (no cache is the slowest).
  std::uint64_t operations = 40'000;
  // Concurrent clients, each sending its next request when the previous one is answered: enough
  // for concurrent misses of one key (single-flight) and concurrent writes (group commit).
  std::uint64_t clients = 32;
  double zipf_s = 0.99;          // key popularity skew (YCSB's default)
  double write_fraction = 0.05;  // share of requests that update a user
  double cache_fraction = 0.1;   // L1 capacity, as a share of the users
  std::uint64_t seed = 42;       // the same seed replays the same requests
  // Added to every source call (one load, one batch) as a sleep (`--source-rtt`): a database
  // across a network. 0 leaves the source as it is (in-process SQLite, or PostgreSQL's own).
  std::chrono::microseconds source_latency{500};
  // The service's connections to the source (`--source-connections`): a source call waits for
  // a free one, so the database takes at most this many calls at once, as through a connection
  // pool. 0: unlimited.
  std::uint64_t source_connections = 8;
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
// fields of UserServiceOptions (users, operations, clients, source_connections, zipf_s,
// write_fraction, cache_fraction, seed, source_latency_us) plus "name" and "description"; a missing
// key keeps its current value. Throws InvalidArgumentError for an unknown key, a wrong type or an
// unreadable file.
void apply_scenario(const nlohmann::json& scenario, UserServiceOptions& options);
void load_scenario(const std::filesystem::path& file, UserServiceOptions& options);
// The workload fields of `options` as a scenario (what apply_scenario reads).
[[nodiscard]] nlohmann::ordered_json scenario_json(const UserServiceOptions& options);

// One pattern's measurements. The bench keeps a version oracle beside the database: each
// user's last acknowledged version (a client writes one user under that user's lock, so the
// versions of a user are acknowledged in order). `stale_reads` counts reads that returned no
// user or a version older than the last write acknowledged before the read started;
// `lost_writes` counts users whose row, read back after the pattern drained, is older than
// their last acknowledged write. `hits` are reads that made no source call of their own (a
// single-flight follower is one); source reads and writes are counted by a wrapper around the
// source (rows, so a batch of n writes counts n). `seconds` runs from the clients' start to the
// last answer (write-behind's drain is not in it).
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
  // What an acknowledged write is: "committed by SQLite (...)", or for write-behind "fsynced to
  // the journal by group commit (N fsyncs, M writes each), then flushed in batches".
  std::string durability;
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

  [[nodiscard]] const PatternResult* find(std::string_view pattern) const;  // null if absent
  // p's throughput over no cache's (the first pattern); nullopt without a no-cache row.
  [[nodiscard]] std::optional<double> vs_no_cache(const PatternResult& p) const;
  // Cache-aside's throughput as a share of the bound its hit ratio allows (no-cache throughput
  // x 1 / (1 - hit ratio)): 1.0 means every hit cost nothing. nullopt without both rows.
  [[nodiscard]] std::optional<double> cache_aside_vs_bound() const;
  // Write-behind's throughput over write-through's; nullopt without both rows.
  [[nodiscard]] std::optional<double> write_behind_vs_write_through() const;
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
