// user_service.h: `strata bench`, the main job: a user service's workload replayed through
// each caching pattern over the same SQLite table, reported side by side.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "strata/latency_histogram.h"

namespace strata::bench {

struct UserServiceOptions {
  std::uint64_t users = 10'000;        // rows in the users table
  std::uint64_t operations = 200'000;  // requests replayed through each pattern
  double zipf_s = 0.99;                // key popularity skew (YCSB's default)
  double write_fraction = 0.05;        // share of requests that update a user
  double cache_fraction = 0.1;         // L1 capacity, as a share of the users
  std::uint64_t seed = 42;             // the same seed replays the same requests

  void validate() const;  // throws InvalidArgumentError naming the option
};

// One pattern's measurements. `stale_reads` counts reads that returned an older version of a
// user than the last one written (the bench keeps the truth beside the database).
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
[[nodiscard]] UserServiceReport run_user_service(const UserServiceOptions& options);

void print_table(std::ostream& out, const UserServiceReport& report);
[[nodiscard]] nlohmann::ordered_json to_json(const UserServiceReport& report);

}  // namespace strata::bench
