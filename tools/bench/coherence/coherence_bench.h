// coherence_bench.h: `strata bench coherence`, how stale the L1s of separate processes get.
//
// For each target (standalone server, cluster) and each coherence mode (none, tracking, bus), the
// parent creates a SQLite source of record and spawns worker processes (the same executable,
// `bench coherence --worker ...`): writers update their share of the keys at a set rate through
// a write-through Cache (source, then L2, then their L1), readers read random keys through
// their own two-tier Cache at a set rate. All of them log what they did with CLOCK_MONOTONIC
// times (one clock for every process of the machine). After the run each reader waits the
// quiesce period and compares every key read through its cache with the source itself.
//
// The parent then replays the logs: a read of key k that returned version v is stale when a
// write of k with a newer version had been acknowledged before the read began. The staleness
// window of a write w for a reader r is how long after w's acknowledgement r's last read that
// still missed w ended (0 when none did); the report gives its p50/p99/max over every (write,
// reader) pair, the stale reads, the values still stale after quiescence, and the readers' L1
// hit ratio. Mode none has no coherence: its L1 entries live `local_ttl` (that is its staleness
// bound), and its quiesce period is local_ttl longer. Tracking and bus keep L1 without a TTL
// (bus: one InvalidationBus per worker process).
#pragma once

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <vector>

namespace strata::bench {

struct CoherenceBenchOptions {
  std::string redis_url;    // redis://...; empty: skipped
  std::string cluster_url;  // redis+cluster://...; empty: skipped
  std::vector<std::string> modes{"none", "tracking", "bus"};
  int writers = 1;       // writer processes (each owns keys i, i+writers, ...)
  int readers = 3;       // reader processes
  int keys = 100;        // the shared keyspace
  int write_rate = 200;  // writes per second, all writers together
  int read_rate = 2000;  // reads per second per reader
  std::chrono::milliseconds duration{3000};
  std::chrono::milliseconds quiesce{200};  // wait after the writers stop (plus local_ttl for none)
  std::chrono::milliseconds local_ttl{1000};  // L1 TTL in mode none
  std::string executable;  // the program to spawn as workers (the CLI passes /proc/self/exe)

  // Throws InvalidArgumentError naming the option that is out of range.
  void validate() const;
};

struct CoherenceModeResult {
  std::string mode;
  std::uint64_t writes = 0;
  std::uint64_t reads = 0;
  std::uint64_t stale_reads = 0;
  double staleness_ms_p50 = 0;
  double staleness_ms_p99 = 0;
  double staleness_ms_max = 0;
  std::uint64_t stale_after_quiesce = 0;
  double l1_hit_ratio = 0;
  std::uint64_t invalidations = 0;  // keys dropped from the readers' L1 (tracking, bus)
  std::uint64_t flushes = 0;        // L1 flushes in the readers (tracking, bus)
};

struct CoherenceTarget {
  std::string name;  // "standalone" or "cluster"
  std::string url;   // redacted
  std::vector<CoherenceModeResult> modes;
};

struct CoherenceBenchReport {
  CoherenceBenchOptions options;
  std::vector<CoherenceTarget> targets;
};

// Runs every target and mode (keys under "strata-bench:coherence:<pid>:<mode>:").
[[nodiscard]] CoherenceBenchReport run_coherence_bench(const CoherenceBenchOptions& options);
void print_coherence_bench(std::ostream& out, const CoherenceBenchReport& report);
// {"config": ..., "results": {"standalone": {"none": {...}, "tracking": {...}}, "cluster": ...}}
// with staleness_ms_p50/p99/max, stale_reads, stale_after_quiesce, l1_hit_ratio per mode.
[[nodiscard]] nlohmann::json to_json(const CoherenceBenchReport& report);

// A worker process's job (the hidden `--worker` options of the command).
struct CoherenceWorkerOptions {
  std::string role;  // "writer" or "reader"
  int index = 0;
  std::string dir;  // where the database is and the logs go
  std::string mode;
  std::string url;
  std::string prefix;
  std::int64_t start_ns = 0;  // CLOCK_MONOTONIC time to begin at
};
// Runs one worker; throws on failure (the CLI turns it into a non-zero exit).
void run_coherence_worker(const CoherenceBenchOptions& options,
                          const CoherenceWorkerOptions& worker);

}  // namespace strata::bench
