// source_bench.h: `strata bench source`: how fast a source of record takes writes, batched
// upserts (PostgresSource::write_batch, one INSERT ... unnest ... ON CONFLICT per batch) against
// one transaction per row and against COPY, alternated in rounds in the same run (medians).
// Without a PostgreSQL URL it measures the embedded default, SQLite (batch vs row per txn).
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace strata::bench {

struct SourceBenchOptions {
  std::string postgres_url;                // empty: SQLite in a temporary directory
  std::uint64_t rows = 20'000;             // rows per round for batch upserts and COPY
  std::uint64_t batch = 1'000;             // rows per write_batch call
  std::uint64_t rounds = 5;                // each method runs once per round, in rotating order
  std::uint64_t row_per_txn_rows = 2'000;  // rows per round for one transaction per row

  void validate() const;  // throws InvalidArgumentError naming the option
};

// One method's rows/s in each round, and their median.
struct MethodResult {
  std::string method;  // "batch", "row_per_txn", "copy"
  std::uint64_t rows_per_round = 0;
  std::vector<double> rows_per_sec;
  [[nodiscard]] double median() const;
};

struct SourceBenchReport {
  SourceBenchOptions options;
  std::string backend;         // "postgres" or "sqlite"
  std::string postgres_fsync;  // the server's `SHOW fsync` ("on"/"off"); empty on SQLite
  std::vector<MethodResult> methods;

  [[nodiscard]] std::optional<double> median(const std::string& method) const;
};

// Runs the benchmark on a fresh table (dropped at the end). `progress`, when set, is called
// after each round with a one-line summary.
[[nodiscard]] SourceBenchReport run_source_bench(
    const SourceBenchOptions& options,
    const std::function<void(const std::string&)>& progress = {});

// The configuration; on PostgreSQL it connects once to print the server's fsync setting (the
// test server runs with fsync=off, which flatters one transaction per row).
void print_configuration(std::ostream& out, const SourceBenchOptions& options);
void print_report(std::ostream& out, const SourceBenchReport& report);
// backend, postgres_fsync (null for SQLite), batch_rows_per_sec, row_per_txn_rows_per_sec,
// copy_rows_per_sec (null for SQLite),
// batch_vs_copy, batch_vs_row_per_txn, plus the configuration and every round.
[[nodiscard]] nlohmann::ordered_json to_json(const SourceBenchReport& report);

}  // namespace strata::bench
