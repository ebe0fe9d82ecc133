#include "bench/source/source_bench.h"

#include <algorithm>
#include <chrono>
#include <ostream>
#include <span>

#include "common/bench_row.h"
#include "common/raw_db.h"
#include "common/rounds.h"
#include "common/stats.h"
#include "common/temp_dir.h"
#include "common/text_table.h"
#include "strata/codec/json.h"
#include "strata/error.h"
#include "strata/source/postgres_source.h"
#include "strata/source/sqlite_source.h"

namespace strata::bench {
namespace {

using Clock = std::chrono::steady_clock;

using tools::BenchRow;
using Rows = std::vector<KeyValue<BenchRow>>;

template <typename F>
double rows_per_sec(std::uint64_t rows, F&& fn) {
  const auto start = Clock::now();
  fn();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return seconds > 0 ? static_cast<double>(rows) / seconds : 0;
}

template <typename S>
void write_batches(S& source, const Rows& rows, std::uint64_t batch) {
  const std::span<const KeyValue<BenchRow>> all(rows);
  for (std::size_t offset = 0; offset < all.size(); offset += batch) {
    source.write_batch(all.subspan(offset, std::min<std::size_t>(batch, all.size() - offset)));
  }
}

template <typename S>
void write_rows(S& source, const Rows& rows, std::uint64_t n) {
  for (std::uint64_t i = 0; i < n; ++i) source.write(rows[i].first, rows[i].second);
}
std::string round_line(std::uint64_t round, std::uint64_t rounds,
                       const std::vector<MethodResult>& methods) {
  std::string line = "round " + std::to_string(round + 1) + "/" + std::to_string(rounds) + ":";
  for (const auto& m : methods) {
    line += " " + m.method + " " + tools::fixed(m.rows_per_sec.back(), 0) + " rows/s";
  }
  return line;
}

// Runs each method once per round; the order rotates so no method always runs first or last.
void run_rounds(const SourceBenchOptions& options, std::vector<MethodResult>& methods,
                const std::vector<std::function<double()>>& runs,
                const std::function<void(const std::string&)>& progress) {
  tools::alternate_rounds(
      options.rounds, runs.size(),
      [&](std::size_t, std::size_t m) { methods[m].rows_per_sec.push_back(runs[m]()); },
      [&](std::size_t round) {
        if (progress) progress(round_line(round, options.rounds, methods));
      });
}

SourceBenchReport run_postgres(const SourceBenchOptions& options,
                               const std::function<void(const std::string&)>& progress) {
  tools::RawPostgres admin(options.postgres_url);
  SourceBenchReport report{options, "postgres", admin.show("fsync"), {}};
  const std::string table = tools::unique_name("strata_bench");
  PostgresSource<BenchRow> source({.url = options.postgres_url, .pool_size = 1},
                                  tools::bench_row_mapping(table));
  tools::DropTableOnExit dropper(admin, table);
  const auto rows = tools::make_bench_rows(options.rows);
  const std::uint64_t single = std::min(options.row_per_txn_rows, options.rows);
  const auto truncate = [&] { admin.exec("TRUNCATE " + tools::quote_identifier(table)); };

  report.methods = {
      {"batch", options.rows, {}}, {"row_per_txn", single, {}}, {"copy", options.rows, {}}};
  run_rounds(options, report.methods,
             {[&] {
                truncate();
                return rows_per_sec(options.rows,
                                    [&] { write_batches(source, rows, options.batch); });
              },
              [&] {
                truncate();
                return rows_per_sec(single, [&] { write_rows(source, rows, single); });
              },
              [&] {
                truncate();
                return rows_per_sec(options.rows, [&] {
                  admin.copy_rows(table, tools::bench_row_columns(), tools::bench_row_fields(rows));
                });
              }},
             progress);
  return report;
}

SourceBenchReport run_sqlite(const SourceBenchOptions& options,
                             const std::function<void(const std::string&)>& progress) {
  SourceBenchReport report{options, "sqlite", "", {}};
  tools::TempDir dir("strata-bench-source");
  const std::string path = (dir.path() / "bench.db").string();
  SqliteSource<BenchRow> source({.path = path}, tools::bench_row_mapping("bench_rows"));
  tools::RawSqlite admin(path);
  const auto rows = tools::make_bench_rows(options.rows);
  const std::uint64_t single = std::min(options.row_per_txn_rows, options.rows);
  const auto clear = [&] { admin.exec("DELETE FROM bench_rows"); };
  report.methods = {{"batch", options.rows, {}}, {"row_per_txn", single, {}}};
  run_rounds(options, report.methods,
             {[&] {
                clear();
                return rows_per_sec(options.rows,
                                    [&] { write_batches(source, rows, options.batch); });
              },
              [&] {
                clear();
                return rows_per_sec(single, [&] { write_rows(source, rows, single); });
              }},
             progress);
  return report;
}

std::string fsync_note(const std::string& fsync) {
  return fsync == "on" ? "server fsync=on"
                       : "server fsync=" + fsync +
                             ": commits skip the disk flush, so one transaction per row is "
                             "faster than on a durable server";
}

nlohmann::ordered_json number_or_null(std::optional<double> v) {
  return v ? nlohmann::ordered_json(*v) : nlohmann::ordered_json(nullptr);
}

}  // namespace

void SourceBenchOptions::validate() const {
  if (rows == 0) throw InvalidArgumentError("--rows must be at least 1");
  if (batch == 0) throw InvalidArgumentError("--batch must be at least 1");
  if (rounds == 0) throw InvalidArgumentError("--rounds must be at least 1");
  if (row_per_txn_rows == 0) throw InvalidArgumentError("--row-per-txn-rows must be at least 1");
}

double MethodResult::median() const {
  return tools::median(rows_per_sec);
}

std::optional<double> SourceBenchReport::median(const std::string& method) const {
  for (const auto& m : methods) {
    if (m.method == method) return m.median();
  }
  return std::nullopt;
}

SourceBenchReport run_source_bench(const SourceBenchOptions& options,
                                   const std::function<void(const std::string&)>& progress) {
  options.validate();
  return options.postgres_url.empty() ? run_sqlite(options, progress)
                                      : run_postgres(options, progress);
}

void print_configuration(std::ostream& out, const SourceBenchOptions& o) {
  out << "strata bench source: ";
  if (o.postgres_url.empty()) {
    out << "SQLite (embedded default, temporary file)";
  } else {
    tools::RawPostgres pg(o.postgres_url);
    out << "PostgreSQL " << o.postgres_url << " (" << fsync_note(pg.show("fsync")) << ")";
  }
  out << "\n  " << o.rows << " rows per round for batch upserts"
      << (o.postgres_url.empty() ? "" : " and COPY") << " (" << o.batch << " rows per batch), "
      << std::min(o.row_per_txn_rows, o.rows) << " rows per round one transaction per row, "
      << o.rounds << " rounds alternating the methods; medians reported\n\n";
}

void print_report(std::ostream& out, const SourceBenchReport& report) {
  tools::TextTable table({"method", "rows/round", "median rows/s", "rounds"},
                         {true, false, false, true});
  for (const auto& m : report.methods) {
    std::string rounds;
    for (const double r : m.rows_per_sec)
      rounds += (rounds.empty() ? "" : " ") + tools::fixed(r, 0);
    table.add({m.method, std::to_string(m.rows_per_round), tools::fixed(m.median(), 0), rounds});
  }
  table.print(out);
  const auto batch = report.median("batch");
  if (const auto r = tools::ratio(batch, report.median("row_per_txn"))) {
    out << "\nbatch / row_per_txn = " << tools::fixed(*r, 1) << "x (target >= 20x)\n";
  }
  if (const auto r = tools::ratio(batch, report.median("copy"))) {
    out << "batch / copy        = " << tools::times(*r) << " (target >= 0.5x)\n";
  }
  if (!report.postgres_fsync.empty())
    out << "PostgreSQL " << fsync_note(report.postgres_fsync) << '\n';
}

nlohmann::ordered_json to_json(const SourceBenchReport& report) {
  const auto& o = report.options;
  const auto batch = report.median("batch");
  const auto single = report.median("row_per_txn");
  const auto copy = report.median("copy");
  nlohmann::ordered_json j;
  j["backend"] = report.backend;
  j["postgres_fsync"] = report.postgres_fsync.empty()
                            ? nlohmann::ordered_json(nullptr)
                            : nlohmann::ordered_json(report.postgres_fsync);
  j["rows"] = o.rows;
  j["batch"] = o.batch;
  j["rounds"] = o.rounds;
  j["row_per_txn_rows"] = std::min(o.row_per_txn_rows, o.rows);
  j["batch_rows_per_sec"] = number_or_null(batch);
  j["row_per_txn_rows_per_sec"] = number_or_null(single);
  j["copy_rows_per_sec"] = number_or_null(copy);
  j["batch_vs_copy"] = number_or_null(tools::ratio(batch, copy));
  j["batch_vs_row_per_txn"] = number_or_null(tools::ratio(batch, single));
  nlohmann::ordered_json rounds;
  for (const auto& m : report.methods) rounds[m.method] = m.rows_per_sec;
  j["rounds_rows_per_sec"] = rounds;
  return j;
}

}  // namespace strata::bench
