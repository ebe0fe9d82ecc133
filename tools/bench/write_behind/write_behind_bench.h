// write_behind_bench.h: `strata bench write-behind`: how many writes per second WriteBehind
// acknowledges (journal on, fsync every 10 ms) and how many rows per second it persists into the
// source, against write-through (one transaction per write) and against the bulk baseline (COPY
// on PostgreSQL; one transaction holding every row on SQLite), alternated in rounds in one run
// (medians). The table is read back row by row after every write-behind round: lost_writes must
// be 0.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace strata::bench {

struct WriteBehindBenchOptions {
  std::string postgres_url;      // empty: SQLite in a temporary directory
  std::uint64_t rows = 100'000;  // rows per round for write-behind and the bulk baseline
  std::uint64_t write_through_rows = 2'000;  // rows per round written one transaction each
  std::uint64_t rounds = 3;                  // each method once per round, in rotating order
  std::uint64_t writers = 32;                // threads calling put_many for write-behind
  std::uint64_t group = 250;                 // writes per put_many (acknowledged together)
  std::uint64_t batch = 5'000;               // the flusher's batch size
  std::uint64_t flushers = 2;                // flusher threads (WriteBehindOptions::flush_threads)
  std::chrono::milliseconds fsync_interval{10};  // FsyncPolicy::kInterval

  void validate() const;  // throws InvalidArgumentError naming the option
};

struct WriteBehindMethod {
  std::string method;  // "write_behind", "write_through", "copy" / "bulk_transaction"
  std::uint64_t rows_per_round = 0;
  std::vector<double> rows_per_sec;  // persisted rows per second, per round
  std::vector<double> acks_per_sec;  // write_behind only: acknowledged writes per second
  [[nodiscard]] static double median(std::vector<double> values);
};

struct WriteBehindBenchReport {
  WriteBehindBenchOptions options;
  std::string backend;  // "postgres" or "sqlite"
  std::vector<WriteBehindMethod> methods;
  std::uint64_t lost_writes = 0;  // rows missing or wrong after write-behind rounds
  std::uint64_t rows_checked = 0;
  std::uint64_t fsyncs = 0;  // journal fsyncs over all write-behind rounds

  [[nodiscard]] const WriteBehindMethod* find(const std::string& method) const;
};

// Runs the benchmark on a fresh table (dropped at the end). `progress` gets one line per round.
[[nodiscard]] WriteBehindBenchReport run_write_behind_bench(
    const WriteBehindBenchOptions& options,
    const std::function<void(const std::string&)>& progress = {});

void print_configuration(std::ostream& out, const WriteBehindBenchOptions& options);
void print_report(std::ostream& out, const WriteBehindBenchReport& report);
// write_behind_rows_per_sec, write_behind_acks_per_sec, write_through_rows_per_sec,
// copy_rows_per_sec (the bulk baseline: COPY, or SQLite's single transaction), ratios,
// lost_writes, the configuration and every round.
[[nodiscard]] nlohmann::ordered_json to_json(const WriteBehindBenchReport& report);

}  // namespace strata::bench
