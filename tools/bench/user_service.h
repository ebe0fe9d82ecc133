// user_service.h: `strata bench`, the main job: a user service's workload replayed through
// each caching pattern over the same SQLite table, reported side by side.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "strata/latency_histogram.h"

namespace strata::bench {

struct UserServiceOptions {
  std::uint64_t users = 10'000;  // rows in the users table
  // Requests replayed through each pattern. Write-behind acknowledges a write once its journal
  // record is fsynced (every 10 ms), so its row costs about 10 ms per write: 20'000 requests at
  // 5% writes keep `make run` well under a minute.
  std::uint64_t operations = 20'000;
  double zipf_s = 0.99;           // key popularity skew (YCSB's default)
  double write_fraction = 0.05;   // share of requests that update a user
  double cache_fraction = 0.1;    // L1 capacity, as a share of the users
  std::uint64_t seed = 42;        // the same seed replays the same requests
  std::string redis_url;          // non-empty: adds the "two-tier" row (L1 + this L2)
  std::string redis_cluster_url;  // non-empty: adds the "two-tier cluster" row

  void validate() const;  // throws InvalidArgumentError naming the option
};

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

struct UserServiceReport {
  UserServiceOptions options;
  std::vector<PatternResult> patterns;
};

// Creates the users table in a fresh SQLite database (in a temporary directory, removed after)
// for each pattern, replays the same requests through it, and checks the table at the end.
// Patterns: "no cache", "cache-aside", "read-through", "write-through", "write-behind" (all
// Cache<User> with an L1 sized by cache_fraction), then "two-tier" / "two-tier cluster" (L1 +
// Redis L2, read-through, writes through put() in write-around mode) when a URL is given.
[[nodiscard]] UserServiceReport run_user_service(const UserServiceOptions& options);

void print_table(std::ostream& out, const UserServiceReport& report);
[[nodiscard]] nlohmann::ordered_json to_json(const UserServiceReport& report);

}  // namespace strata::bench
