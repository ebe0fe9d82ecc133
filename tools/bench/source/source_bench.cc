#include "bench/source/source_bench.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ostream>
#include <random>

#include "common/temp_dir.h"
#include "source/pg_connection.h"
#include "source/schema.h"
#include "source/sqlite_db.h"
#include "strata/codec/json.h"
#include "strata/error.h"
#include "strata/source/postgres_source.h"
#include "strata/source/sqlite_source.h"

namespace strata::bench {
namespace {

using Clock = std::chrono::steady_clock;

struct BenchUser {
  std::string name;
  std::string email;
  std::int64_t version = 0;
};

TableMapping<BenchUser> mapping(const std::string& table) {
  return TableMapping<BenchUser>::columns(
             table, "id",
             {column("name", &BenchUser::name), column("email", &BenchUser::email),
              column("version", &BenchUser::version)})
      .create_table_if_missing();
}

std::vector<KeyValue<BenchUser>> make_rows(std::uint64_t n) {
  std::vector<KeyValue<BenchUser>> rows;
  rows.reserve(n);
  for (std::uint64_t i = 0; i < n; ++i) {
    rows.emplace_back(
        "user:" + std::to_string(i),
        BenchUser{"user " + std::to_string(i), "user" + std::to_string(i) + "@example.com",
                  static_cast<std::int64_t>(i)});
  }
  return rows;
}

template <typename F>
double rows_per_sec(std::uint64_t rows, F&& fn) {
  const auto start = Clock::now();
  fn();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return seconds > 0 ? static_cast<double>(rows) / seconds : 0;
}

template <typename S>
void write_batches(S& source, const std::vector<KeyValue<BenchUser>>& rows, std::uint64_t batch) {
  const std::span<const KeyValue<BenchUser>> all(rows);
  for (std::size_t offset = 0; offset < all.size(); offset += batch) {
    source.write_batch(all.subspan(offset, std::min<std::size_t>(batch, all.size() - offset)));
  }
}

template <typename S>
void write_rows(S& source, const std::vector<KeyValue<BenchUser>>& rows, std::uint64_t n) {
  for (std::uint64_t i = 0; i < n; ++i) source.write(rows[i].first, rows[i].second);
}
// The bulk baseline: COPY ... FROM STDIN (pg::CopyIn).
void copy_rows(pg::Connection& conn, const std::string& table,
               const std::vector<KeyValue<BenchUser>>& rows) {
  pg::CopyIn copy(conn, "COPY " + source::quote(table) + " (id, name, email, version) FROM STDIN");
  for (const auto& [key, user] : rows) {
    copy.row({key, user.name, user.email, std::to_string(user.version)});
  }
  copy.finish();
}

std::string unique_table() {
  return "strata_bench_" + std::to_string(::getpid()) + "_" +
         std::to_string(std::random_device{}() % 1000000);
}

std::string round_line(std::uint64_t round, std::uint64_t rounds,
                       const std::vector<MethodResult>& methods) {
  std::string line = "round " + std::to_string(round + 1) + "/" + std::to_string(rounds) + ":";
  for (const auto& m : methods) {
    char buf[96];
    std::snprintf(buf, sizeof buf, " %s %.0f rows/s", m.method.c_str(), m.rows_per_sec.back());
    line += buf;
  }
  return line;
}

// Runs each method once per round; the order rotates so no method always runs first or last.
void run_rounds(const SourceBenchOptions& options, std::vector<MethodResult>& methods,
                const std::vector<std::function<double()>>& runs,
                const std::function<void(const std::string&)>& progress) {
  for (std::uint64_t round = 0; round < options.rounds; ++round) {
    for (std::size_t k = 0; k < runs.size(); ++k) {
      const std::size_t m = (k + round) % runs.size();
      methods[m].rows_per_sec.push_back(runs[m]());
    }
    if (progress) progress(round_line(round, options.rounds, methods));
  }
}

SourceBenchReport run_postgres(const SourceBenchOptions& options,
                               const std::function<void(const std::string&)>& progress) {
  SourceBenchReport report{options, "postgres", {}};
  const std::string table = unique_table();
  PostgresSource<BenchUser> source({.url = options.postgres_url, .pool_size = 1}, mapping(table));
  pg::Connection admin(options.postgres_url, std::chrono::seconds(5));
  struct Dropper {
    pg::Connection& conn;
    std::string sql;
    ~Dropper() { pg::Result r(PQexec(conn.handle(), sql.c_str())); }
  } dropper{admin, "DROP TABLE IF EXISTS " + source::quote(table)};
  const auto rows = make_rows(options.rows);
  const std::uint64_t single = std::min(options.row_per_txn_rows, options.rows);
  const auto truncate = [&] { (void)admin.exec("TRUNCATE " + source::quote(table)); };

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
                return rows_per_sec(options.rows, [&] { copy_rows(admin, table, rows); });
              }},
             progress);
  return report;
}

SourceBenchReport run_sqlite(const SourceBenchOptions& options,
                             const std::function<void(const std::string&)>& progress) {
  SourceBenchReport report{options, "sqlite", {}};
  tools::TempDir dir("strata-bench-source");
  const std::string path = (dir.path() / "bench.db").string();
  SqliteSource<BenchUser> source({.path = path}, mapping("users"));
  sqlite::Database admin(path);
  const auto rows = make_rows(options.rows);
  const std::uint64_t single = std::min(options.row_per_txn_rows, options.rows);
  const auto clear = [&] { admin.exec("DELETE FROM users"); };
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

std::optional<double> ratio(std::optional<double> a, std::optional<double> b) {
  if (!a || !b || *b <= 0) return std::nullopt;
  return *a / *b;
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
  if (rows_per_sec.empty()) return 0;
  std::vector<double> sorted = rows_per_sec;
  std::sort(sorted.begin(), sorted.end());
  const std::size_t n = sorted.size();
  return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
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
  out << "strata bench source: "
      << (o.postgres_url.empty() ? std::string("SQLite (embedded default, temporary file)")
                                 : "PostgreSQL " + o.postgres_url)
      << "\n  " << o.rows << " rows per round for batch upserts"
      << (o.postgres_url.empty() ? "" : " and COPY") << " (" << o.batch << " rows per batch), "
      << std::min(o.row_per_txn_rows, o.rows) << " rows per round one transaction per row, "
      << o.rounds << " rounds alternating the methods; medians reported\n\n";
}

void print_report(std::ostream& out, const SourceBenchReport& report) {
  char line[160];
  std::snprintf(line, sizeof line, "%-12s %10s %14s   %s\n", "method", "rows/round",
                "median rows/s", "rounds");
  out << line;
  for (const auto& m : report.methods) {
    std::string rounds;
    for (const double r : m.rows_per_sec) rounds += std::to_string(static_cast<long long>(r)) + " ";
    std::snprintf(line, sizeof line, "%-12s %10llu %14.0f   %s\n", m.method.c_str(),
                  static_cast<unsigned long long>(m.rows_per_round), m.median(), rounds.c_str());
    out << line;
  }
  const auto batch = report.median("batch");
  if (const auto r = ratio(batch, report.median("row_per_txn"))) {
    std::snprintf(line, sizeof line, "\nbatch / row_per_txn = %.1fx (target >= 20x)\n", *r);
    out << line;
  }
  if (const auto r = ratio(batch, report.median("copy"))) {
    std::snprintf(line, sizeof line, "batch / copy        = %.2fx (target >= 0.5x)\n", *r);
    out << line;
  }
}

nlohmann::ordered_json to_json(const SourceBenchReport& report) {
  const auto& o = report.options;
  const auto batch = report.median("batch");
  const auto single = report.median("row_per_txn");
  const auto copy = report.median("copy");
  nlohmann::ordered_json j;
  j["backend"] = report.backend;
  j["rows"] = o.rows;
  j["batch"] = o.batch;
  j["rounds"] = o.rounds;
  j["row_per_txn_rows"] = std::min(o.row_per_txn_rows, o.rows);
  j["batch_rows_per_sec"] = number_or_null(batch);
  j["row_per_txn_rows_per_sec"] = number_or_null(single);
  j["copy_rows_per_sec"] = number_or_null(copy);
  j["batch_vs_copy"] = number_or_null(ratio(batch, copy));
  j["batch_vs_row_per_txn"] = number_or_null(ratio(batch, single));
  nlohmann::ordered_json rounds;
  for (const auto& m : report.methods) rounds[m.method] = m.rows_per_sec;
  j["rounds_rows_per_sec"] = rounds;
  return j;
}

}  // namespace strata::bench
