// write_behind_bench.h: `strata bench write-behind`: WriteBehind (journal on, group commit by
// default) against write-through, like with like, alternated in rounds in one run (medians):
//   - per write, per thread count: T threads each writing one row per call (WriteBehind::put
//     against one transaction per row), the same rows, for each T of `thread_counts`;
//   - batched: `writers` threads each writing groups of `group` rows per call
//     (WriteBehind::put_many against write_batch, one transaction per group), the same rows;
//   - the bulk-load reference: COPY on PostgreSQL, one transaction holding every row on SQLite
//     (one thread, one call: what a loader that owns the table could reach).
// Every write-behind round reads the table back row by row: lost_writes must be 0. On
// PostgreSQL the header says the server's fsync setting (the test server runs with fsync=off,
// which flatters every figure that waits for a commit).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "strata/write_behind/write_behind_options.h"

namespace strata::bench {

struct WriteBehindBenchOptions {
  std::string postgres_url;      // empty: SQLite in a temporary directory
  std::uint64_t rows = 100'000;  // rows per round for the batched comparison and the bulk load
  std::uint64_t write_through_rows = 2'000;  // rows per round for the per-write comparison
  std::vector<std::uint64_t> thread_counts = {1, 32};  // per-write comparison, each count
  std::uint64_t rounds = 3;                            // every method once per round, rotated
  std::uint64_t writers = 32;   // threads of the batched comparison (both sides)
  std::uint64_t group = 250;    // rows per put_many / write_batch call in the batched comparison
  std::uint64_t batch = 5'000;  // the flusher's batch size
  std::uint64_t flushers = 2;   // flusher threads (WriteBehindOptions::flush_threads)
  // 0 (the default): FsyncPolicy::kEveryWrite, each acknowledgement waits for the group commit
  // that covers it (concurrent writers share one fsync); otherwise FsyncPolicy::kInterval,
  // where a lone writer waits up to the whole interval.
  std::chrono::milliseconds fsync_interval{0};

  void validate() const;  // throws InvalidArgumentError naming the option
  [[nodiscard]] FsyncPolicy fsync_policy() const;
  // What an acknowledged write is, e.g. "every acknowledged write fsynced by group commit ...".
  [[nodiscard]] std::string durability() const;
};

struct WriteBehindMethod {
  // "write_behind_per_write" / "write_through_per_write" (one per thread count),
  // "write_behind_batched" / "write_through_batched", "copy" / "bulk_transaction"
  std::string method;
  std::string comparison;  // "per_write", "batched" or "bulk"
  std::uint64_t threads = 1;
  std::uint64_t rows_per_call = 1;
  std::uint64_t rows_per_round = 0;
  std::vector<double> rows_per_sec;  // persisted rows per second, per round
  std::vector<double> acks_per_sec;  // write-behind only: acknowledged writes per second
};

struct WriteBehindBenchReport {
  WriteBehindBenchOptions options;
  std::string backend;         // "postgres" or "sqlite"
  std::string postgres_fsync;  // the server's `SHOW fsync` ("on"/"off"); empty on SQLite
  std::vector<WriteBehindMethod> methods;
  std::uint64_t lost_writes = 0;  // rows missing or wrong after write-behind rounds
  std::uint64_t rows_checked = 0;
  std::uint64_t fsyncs = 0;  // journal fsyncs over all write-behind rounds

  [[nodiscard]] const WriteBehindMethod* find(const std::string& method,
                                              std::uint64_t threads) const;
  [[nodiscard]] const WriteBehindMethod* find(const std::string& method) const;  // any threads
};

// Runs the benchmark on a fresh table (dropped at the end). `progress` gets one line per round.
[[nodiscard]] WriteBehindBenchReport run_write_behind_bench(
    const WriteBehindBenchOptions& options,
    const std::function<void(const std::string&)>& progress = {});

// The configuration; on PostgreSQL it connects once to print the server's fsync setting.
void print_configuration(std::ostream& out, const WriteBehindBenchOptions& options);
void print_report(std::ostream& out, const WriteBehindBenchReport& report);
// The batched comparison: write_behind_rows_per_sec, write_behind_acks_per_sec,
// write_through_rows_per_sec (the same threads and groups), write_behind_vs_write_through;
// copy_rows_per_sec (the bulk reference: COPY, or SQLite's single transaction),
// write_behind_vs_copy; "per_write": one object per thread count; postgres_fsync; lost_writes,
// the configuration and every round.
[[nodiscard]] nlohmann::ordered_json to_json(const WriteBehindBenchReport& report);

}  // namespace strata::bench
