// l1_bench.h: `strata bench l1`, LocalCache throughput and memory against baselines measured
// in the same run: a raw sharded hash map with no policy (the ceiling: node-based like the
// cache, and flat for reference) and an LRU behind one mutex (the floor).
#pragma once

#include <cstdint>
#include <iosfwd>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace strata::bench {

struct L1BenchOptions {
  int threads = 2;
  std::uint64_t keys = 1'000'000;  // distinct keys, all resident (hits only for read-only)
  double zipf_s = 0.99;
  double seconds_per_round = 0.5;  // each implementation runs this long per round
  int rounds = 3;                  // A B C D, B C D A, ...: medians are reported
  std::uint64_t memory_entries = 200'000;
  std::uint64_t seed = 7;

  void validate() const;  // throws InvalidArgumentError naming the option
};

struct L1MixResult {
  std::string mix;  // "read-only", "90/10", "50/50"
  double read_share = 1.0;
  double strata_ops_per_sec = 0;
  double raw_map_ops_per_sec = 0;
  double mutex_lru_ops_per_sec = 0;
  double flat_map_ops_per_sec = 0;
  // The order the implementations ran in, per round ("strata", "raw map", "mutex LRU",
  // "flat map"), rotated by one per round.
  std::vector<std::vector<std::string>> round_orders;
  [[nodiscard]] double ratio_vs_flat_map() const {
    return flat_map_ops_per_sec > 0 ? strata_ops_per_sec / flat_map_ops_per_sec : 0;
  }
  [[nodiscard]] double ratio_vs_raw_map() const {
    return raw_map_ops_per_sec > 0 ? strata_ops_per_sec / raw_map_ops_per_sec : 0;
  }
  [[nodiscard]] double ratio_vs_mutex_lru() const {
    return mutex_lru_ops_per_sec > 0 ? strata_ops_per_sec / mutex_lru_ops_per_sec : 0;
  }
};

struct L1BenchReport {
  L1BenchOptions options;
  std::vector<L1MixResult> mixes;
  double overhead_bytes_per_entry = 0;          // strata: bytes beyond key and value
  double raw_map_overhead_bytes_per_entry = 0;  // the raw (node) map, for comparison
  double key_bytes = 0;
  double value_bytes = 0;
};

[[nodiscard]] L1BenchReport run_l1_bench(const L1BenchOptions& options, std::ostream* progress);
void print_l1_report(std::ostream& out, const L1BenchReport& report);
[[nodiscard]] nlohmann::ordered_json to_json(const L1BenchReport& report);

}  // namespace strata::bench
