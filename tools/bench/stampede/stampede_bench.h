// stampede_bench.h: `strata bench stampede`, cache stampedes measured across processes.
//
// P worker processes (the parent re-runs its own binary, /proc/self/exe, with --worker) of T
// threads each read one hot key through a Cache<std::string> whose L2 is Redis (no L1, so every
// read reaches Redis and every expiry is seen by every process); the source is a loader that
// counts itself (INCR in Redis) and sleeps `load_latency`. Processes start together (a barrier
// in Redis), after one warm-up read per thread that is not measured. Modes, all in one run:
//
//   unprotected    the textbook's naive cache-aside (GET; on a miss load and SET), no Cache
//   single-flight  Cache<V>: one load per key per process, no lease
//   lease          + the lease on a miss: one load per key across processes
//   xfetch         lease + XFetch (beta 1) with the TTL = interval: recomputed before expiry
//   swr            lease + stale-while-revalidate: soft TTL = interval, hard TTL 60 s
//
// For the first three the parent makes the key expire `expiries` times, every `interval`
// (PEXPIRE key 1: the way a TTL ends); for xfetch and swr the key expires on its own TTL and
// the run lasts expiries x interval, so "per expiry" means per TTL period. Reported per mode:
// source loads per expiry, p50/p99 latency of a read, and the share of reads that waited for a
// recompute (took at least load_latency).
#pragma once

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <vector>

namespace strata::bench {

inline const std::vector<std::string> kStampedeModes{"unprotected", "single-flight", "lease",
                                                     "xfetch", "swr"};

struct StampedeBenchOptions {
  std::string redis_url;    // redis://... ; exactly one of the two
  std::string cluster_url;  // redis+cluster://...
  int processes = 4;
  int threads = 50;
  int expiries = 10;
  std::chrono::milliseconds interval{500};     // between two expiries (the TTL period)
  std::chrono::milliseconds load_latency{20};  // how long the source takes
  std::chrono::milliseconds think{1};          // pause between two reads of a thread
  std::vector<std::string> modes = kStampedeModes;

  // Throws InvalidArgumentError naming the option that is out of range.
  void validate() const;
  [[nodiscard]] const std::string& url() const {
    return redis_url.empty() ? cluster_url : redis_url;
  }
};

struct StampedeModeResult {
  std::string mode;
  int expiries = 0;            // expiries made (forced modes) or TTL periods (xfetch, swr)
  std::uint64_t loads = 0;     // source loads during the measured run
  std::uint64_t requests = 0;  // reads measured
  std::uint64_t waited = 0;    // reads that took at least load_latency
  double loads_per_expiry = 0;
  double waiting_fraction = 0;
  double p50_us = 0;
  double p99_us = 0;
};

struct StampedeBenchReport {
  StampedeBenchOptions options;
  std::vector<StampedeModeResult> modes;
  [[nodiscard]] const StampedeModeResult* find(const std::string& mode) const;
};

// Runs every mode (spawns options.processes workers per mode; keys under
// "strata-bench:stampede:<pid>:", deleted at the end).
[[nodiscard]] StampedeBenchReport run_stampede_bench(const StampedeBenchOptions& options);
void print_stampede_bench(std::ostream& out, const StampedeBenchReport& report);
// processes, threads, expiries, loads_per_expiry (lease mode), loads_per_expiry_unprotected,
// xfetch_waiting_fraction, p99_us_<mode> for each mode, and "modes" with every figure.
[[nodiscard]] nlohmann::json to_json(const StampedeBenchReport& report);

// What the parent passes to a worker process (`strata bench stampede --worker ...`).
struct StampedeWorkerOptions {
  std::string url;
  std::string mode;
  std::string prefix;  // the run's Redis keys
  int index = 0;
  int threads = 1;
  std::chrono::milliseconds interval{500};
  std::chrono::milliseconds load_latency{20};
  std::chrono::milliseconds think{1};
};
// The worker: warm-up, barrier, measured reads until the parent's stop time; its result goes to
// Redis (prefix + "result:" + index). Returns the process exit code.
int run_stampede_worker(const StampedeWorkerOptions& options);

}  // namespace strata::bench
