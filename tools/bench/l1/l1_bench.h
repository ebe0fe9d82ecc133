// l1_bench.h: `strata bench l1`, LocalCache throughput and memory against baselines measured
// in the same run: a raw sharded hash map with no policy (the ceiling: node-based like the
// cache, and flat for reference) and an LRU behind one mutex (the floor). Three sections:
// - hits: every key resident, Zipf reads (read-only, 90/10, 50/50);
// - capacity fraction: capacity a fraction of the keys, get_or_load with a trivial loader on
//   a miss (the mutex LRU: get, then put on a miss), at 1 and 2 threads: the 2t/1t scaling;
// - GetPut: Caffeine's GetPutBenchmark shape (32,768 keys from a scrambled Zipf, capacity
//   twice that, pre-filled, so 100% hits; read-only, 75/25 read/write and write-only groups).
// By default all three run; `getput_only` / `capacity_only` (the CLI's --getput and
// --capacity-fraction given alone) select sections.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <nlohmann/json.hpp>
#include <optional>
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
  double capacity_fraction = 0.1;  // the capacity section: capacity = keys * fraction
  bool run_hits = true;
  bool run_capacity = true;
  bool run_getput = true;

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

// The capacity-fraction section: ops/s at 1 and 2 threads for strata and the mutex LRU.
struct L1CapacityResult {
  double fraction = 0;
  double strata_ops_per_sec_1t = 0;
  double strata_ops_per_sec_2t = 0;
  double mutex_lru_ops_per_sec_1t = 0;
  double mutex_lru_ops_per_sec_2t = 0;
  double strata_hit_ratio = 0;  // of the 2-thread runs, from the cache's stats
  [[nodiscard]] double scaling() const {
    return strata_ops_per_sec_1t > 0 ? strata_ops_per_sec_2t / strata_ops_per_sec_1t : 0;
  }
  [[nodiscard]] double ratio_vs_mutex_lru_2t() const {
    return mutex_lru_ops_per_sec_2t > 0 ? strata_ops_per_sec_2t / mutex_lru_ops_per_sec_2t : 0;
  }
};

// One GetPut group ("read-only", "read-write" (75/25), "write-only") at --threads.
struct L1GetPutResult {
  std::string group;
  double read_share = 1.0;
  double strata_ops_per_sec = 0;
  double raw_map_ops_per_sec = 0;
  double mutex_lru_ops_per_sec = 0;
};

struct L1BenchReport {
  L1BenchOptions options;
  std::vector<L1MixResult> mixes;  // empty when the hits section did not run
  std::optional<L1CapacityResult> capacity;
  std::vector<L1GetPutResult> getput;           // empty when the GetPut section did not run
  double overhead_bytes_per_entry = 0;          // strata: bytes beyond key and value
  double raw_map_overhead_bytes_per_entry = 0;  // the raw (node) map, for comparison
  double key_bytes = 0;
  double value_bytes = 0;
};

[[nodiscard]] L1BenchReport run_l1_bench(const L1BenchOptions& options, std::ostream* progress);
void print_l1_report(std::ostream& out, const L1BenchReport& report);
[[nodiscard]] nlohmann::ordered_json to_json(const L1BenchReport& report);

}  // namespace strata::bench
