#include "bench/write_behind/write_behind_bench.h"

#include <algorithm>
#include <cstdio>
#include <ostream>
#include <span>
#include <thread>

#include "common/bench_row.h"
#include "common/raw_db.h"
#include "common/rounds.h"
#include "common/stats.h"
#include "common/temp_dir.h"
#include "common/text_table.h"
#include "strata/codec/json.h"
#include "strata/codec/msgpack.h"
#include "strata/error.h"
#include "strata/source/postgres_source.h"
#include "strata/source/sqlite_source.h"
#include "strata/write_behind/write_behind.h"

namespace strata::bench {
namespace {

using SteadyClock = std::chrono::steady_clock;
using tools::BenchRow;
using Rows = std::vector<KeyValue<BenchRow>>;

double seconds_since(SteadyClock::time_point start) {
  return std::chrono::duration<double>(SteadyClock::now() - start).count();
}

double per_sec(std::uint64_t n, double seconds) {
  return seconds > 0 ? static_cast<double>(n) / seconds : 0;
}

// Runs write(thread, first, count) on `threads` threads over `rows` in calls of `per_call` rows:
// thread t takes calls t, t + threads, ... so every thread runs for the whole round.
template <typename Write>
void on_threads(std::uint64_t threads, std::uint64_t per_call, std::size_t rows, Write&& write) {
  std::vector<std::thread> workers;
  for (std::uint64_t t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (std::size_t first = t * per_call; first < rows; first += threads * per_call) {
        write(first, std::min<std::size_t>(per_call, rows - first));
      }
    });
  }
  for (auto& w : workers) w.join();
}

struct WriteBehindRound {
  double acks_per_sec = 0;
  double rows_per_sec = 0;
  std::uint64_t fsyncs = 0;
};

// Writers call put (per_call == 1) or put_many; acknowledged/s stops when the last writer
// returns, persisted/s when flush() returns (every row in the source, checkpoint persisted).
template <typename S>
WriteBehindRound write_behind_round(const WriteBehindBenchOptions& o, std::shared_ptr<S> source,
                                    const std::filesystem::path& journal, const Rows& rows,
                                    std::uint64_t threads, std::uint64_t per_call) {
  std::filesystem::remove_all(journal);
  WriteBehindOptions options;
  options.directory = journal;
  options.fsync = o.fsync_policy();
  options.batch_size = o.batch;
  options.flush_threads = o.flushers;
  options.flush_interval = std::chrono::milliseconds(5);
  options.max_queue_entries = std::max<std::size_t>(100'000, rows.size());
  options.put_timeout = std::chrono::seconds(60);
  WriteBehind<BenchRow, MsgpackCodec<BenchRow>> wb(options, source);
  const std::span<const KeyValue<BenchRow>> all(rows);
  const auto start = SteadyClock::now();
  on_threads(threads, per_call, rows.size(), [&](std::size_t first, std::size_t count) {
    if (count == 1) {
      wb.put(all[first].first, all[first].second);
    } else {
      wb.put_many(all.subspan(first, count));
    }
  });
  const double ack_seconds = seconds_since(start);
  wb.flush(std::chrono::minutes(5));
  const double persist_seconds = seconds_since(start);
  WriteBehindRound round{per_sec(rows.size(), ack_seconds), per_sec(rows.size(), persist_seconds),
                         wb.stats().fsyncs};
  wb.close(std::chrono::seconds(30));
  return round;
}

// Write-through: the same threads, one transaction per call (write, or write_batch of per_call).
template <typename S>
double write_through_round(S& source, const Rows& rows, std::uint64_t threads,
                           std::uint64_t per_call) {
  const std::span<const KeyValue<BenchRow>> all(rows);
  const auto start = SteadyClock::now();
  on_threads(threads, per_call, rows.size(), [&](std::size_t first, std::size_t count) {
    if (count == 1) {
      source.write(all[first].first, all[first].second);
    } else {
      source.write_batch(all.subspan(first, count));
    }
  });
  return per_sec(rows.size(), seconds_since(start));
}

// Reads every row back one by one; returns how many are missing or differ.
template <typename S>
std::uint64_t count_lost(S& source, const Rows& rows) {
  std::uint64_t lost = 0;
  for (const auto& [key, value] : rows) {
    const auto got = source.load(key);
    if (!got || !(*got == value)) ++lost;
  }
  return lost;
}

std::string method_label(const WriteBehindMethod& m) {
  return m.method + (m.comparison == "bulk" ? "" : " x" + std::to_string(m.threads));
}

std::string round_line(std::uint64_t round, std::uint64_t rounds,
                       const std::vector<WriteBehindMethod>& methods) {
  std::string line = "round " + std::to_string(round + 1) + "/" + std::to_string(rounds) + ":";
  for (const auto& m : methods) {
    line += " " + method_label(m) + " " + tools::fixed(m.rows_per_sec.back(), 0) + " rows/s";
    if (!m.acks_per_sec.empty()) line += " (" + tools::fixed(m.acks_per_sec.back(), 0) + " acks/s)";
    line += ";";
  }
  line.pop_back();
  return line;
}

// The thread counts of the per-write comparison, in the order given, without repeats.
std::vector<std::uint64_t> thread_counts(const WriteBehindBenchOptions& o) {
  std::vector<std::uint64_t> counts;
  for (const auto t : o.thread_counts) {
    if (std::find(counts.begin(), counts.end(), t) == counts.end()) counts.push_back(t);
  }
  return counts;
}

// The methods, in the order of the report: per write (both sides) for each thread count, then
// batched (both sides), then the bulk reference.
std::vector<WriteBehindMethod> methods_of(const WriteBehindBenchOptions& o,
                                          const std::string& bulk_name) {
  const std::uint64_t per_write_rows = std::min(o.write_through_rows, o.rows);
  std::vector<WriteBehindMethod> methods;
  for (const auto t : thread_counts(o)) {
    methods.push_back({"write_behind_per_write", "per_write", t, 1, per_write_rows, {}, {}});
    methods.push_back({"write_through_per_write", "per_write", t, 1, per_write_rows, {}, {}});
  }
  methods.push_back({"write_behind_batched", "batched", o.writers, o.group, o.rows, {}, {}});
  methods.push_back({"write_through_batched", "batched", o.writers, o.group, o.rows, {}, {}});
  methods.push_back({bulk_name, "bulk", 1, o.rows, o.rows, {}, {}});
  return methods;
}

// The shared driver: `clear` empties the table, `bulk` runs the bulk reference. The write-behind
// side and the write-through side have their own source (the write-through side gets a
// connection per thread; write-behind writes through its flushers).
template <typename S>
void run_rounds(const WriteBehindBenchOptions& o, WriteBehindBenchReport& report,
                std::shared_ptr<S> wb_source, S& wt_source, const std::filesystem::path& journal,
                const std::function<void()>& clear, const std::function<void(const Rows&)>& bulk,
                const std::string& bulk_name,
                const std::function<void(const std::string&)>& progress) {
  report.methods = methods_of(o, bulk_name);
  tools::alternate_rounds(
      o.rounds, report.methods.size(),
      [&](std::size_t round, std::size_t index) {
        auto& m = report.methods[index];
        const auto rows = tools::make_bench_rows(m.rows_per_round, round);
        clear();
        if (m.method == "write_behind_per_write" || m.method == "write_behind_batched") {
          const auto r =
              write_behind_round(o, wb_source, journal, rows, m.threads, m.rows_per_call);
          m.rows_per_sec.push_back(r.rows_per_sec);
          m.acks_per_sec.push_back(r.acks_per_sec);
          report.fsyncs += r.fsyncs;
          report.lost_writes += count_lost(*wb_source, rows);
          report.rows_checked += rows.size();
        } else if (m.comparison == "bulk") {
          const auto start = SteadyClock::now();
          bulk(rows);
          m.rows_per_sec.push_back(per_sec(rows.size(), seconds_since(start)));
        } else {
          m.rows_per_sec.push_back(
              write_through_round(wt_source, rows, m.threads, m.rows_per_call));
        }
      },
      [&](std::size_t round) {
        if (progress) progress(round_line(round, o.rounds, report.methods));
      });
}

std::optional<double> median_rows(const WriteBehindMethod* m) {
  if (m == nullptr) return std::nullopt;
  return tools::median(m->rows_per_sec);
}

std::optional<double> median_acks(const WriteBehindMethod* m) {
  if (m == nullptr || m->acks_per_sec.empty()) return std::nullopt;
  return tools::median(m->acks_per_sec);
}

nlohmann::ordered_json number_or_null(std::optional<double> v) {
  return v ? nlohmann::ordered_json(*v) : nlohmann::ordered_json(nullptr);
}

const WriteBehindMethod* bulk_method(const WriteBehindBenchReport& report) {
  const auto* copy = report.find("copy");
  return copy != nullptr ? copy : report.find("bulk_transaction");
}

std::string fsync_note(const std::string& fsync) {
  return fsync == "on" ? "server fsync=on"
                       : "server fsync=" + fsync +
                             ": commits skip the disk flush, so write-through and COPY are "
                             "faster than on a durable server";
}

}  // namespace

void WriteBehindBenchOptions::validate() const {
  if (rows == 0) throw InvalidArgumentError("--rows must be at least 1");
  if (write_through_rows == 0)
    throw InvalidArgumentError("--write-through-rows must be at least 1");
  if (thread_counts.empty()) throw InvalidArgumentError("--threads needs at least one count");
  for (const auto t : thread_counts) {
    if (t == 0 || t > 256) throw InvalidArgumentError("--threads must be 1..256 each");
  }
  if (rounds == 0) throw InvalidArgumentError("--rounds must be at least 1");
  if (writers == 0 || writers > 256) throw InvalidArgumentError("--writers must be 1..256");
  if (group == 0) throw InvalidArgumentError("--group must be at least 1");
  if (batch == 0) throw InvalidArgumentError("--batch must be at least 1");
  if (flushers == 0 || flushers > 64) throw InvalidArgumentError("--flushers must be 1..64");
  if (fsync_interval.count() < 0) {
    throw InvalidArgumentError("--fsync-ms must be >= 0 (0: group commit)");
  }
}

FsyncPolicy WriteBehindBenchOptions::fsync_policy() const {
  return fsync_interval.count() == 0 ? FsyncPolicy::kEveryWrite
                                     : FsyncPolicy::kInterval(fsync_interval);
}

std::string WriteBehindBenchOptions::durability() const {
  return fsync_interval.count() == 0
             ? "every acknowledged write fsynced by group commit (one fsync covers every "
               "concurrent writer's record)"
             : "every acknowledged write fsynced by the journal's syncer, every " +
                   std::to_string(fsync_interval.count()) + " ms";
}

const WriteBehindMethod* WriteBehindBenchReport::find(const std::string& method,
                                                      std::uint64_t threads) const {
  for (const auto& m : methods) {
    if (m.method == method && m.threads == threads) return &m;
  }
  return nullptr;
}

const WriteBehindMethod* WriteBehindBenchReport::find(const std::string& method) const {
  for (const auto& m : methods) {
    if (m.method == method) return &m;
  }
  return nullptr;
}

WriteBehindBenchReport run_write_behind_bench(
    const WriteBehindBenchOptions& o, const std::function<void(const std::string&)>& progress) {
  o.validate();
  tools::TempDir dir("strata-bench-wb");
  const auto journal = dir.path() / "journal";
  const std::uint64_t max_threads =
      std::max(o.writers, *std::max_element(o.thread_counts.begin(), o.thread_counts.end()));
  if (o.postgres_url.empty()) {
    WriteBehindBenchReport report{o, "sqlite", "", {}, 0, 0, 0};
    const std::string path = (dir.path() / "bench.db").string();
    auto source = std::make_shared<SqliteSource<BenchRow>>(SqliteOptions{.path = path},
                                                           tools::bench_row_mapping("bench_rows"));
    tools::RawSqlite admin(path);
    run_rounds(
        o, report, source, *source, journal, [&] { admin.exec("DELETE FROM bench_rows"); },
        [&](const Rows& rows) { source->write_batch(rows); }, "bulk_transaction", progress);
    return report;
  }
  tools::RawPostgres admin(o.postgres_url);
  WriteBehindBenchReport report{o, "postgres", admin.show("fsync"), {}, 0, 0, 0};
  const std::string table = tools::unique_name("strata_wb_bench");
  auto wb_source = std::make_shared<PostgresSource<BenchRow>>(
      PostgresOptions{.url = o.postgres_url, .pool_size = o.flushers + 1},
      tools::bench_row_mapping(table));
  PostgresSource<BenchRow> wt_source(
      PostgresOptions{.url = o.postgres_url, .pool_size = max_threads},
      tools::bench_row_mapping(table));
  tools::DropTableOnExit dropper(admin, table);
  run_rounds(
      o, report, wb_source, wt_source, journal,
      [&] { admin.exec("TRUNCATE " + tools::quote_identifier(table)); },
      [&](const Rows& rows) {
        admin.copy_rows(table, tools::bench_row_columns(), tools::bench_row_fields(rows));
      },
      "copy", progress);
  return report;
}

void print_configuration(std::ostream& out, const WriteBehindBenchOptions& o) {
  std::string counts;
  for (const auto t : thread_counts(o)) counts += (counts.empty() ? "" : ", ") + std::to_string(t);
  out << "strata bench write-behind: ";
  if (o.postgres_url.empty()) {
    out << "SQLite (embedded default, temporary file)";
  } else {
    tools::RawPostgres pg(o.postgres_url);
    out << "PostgreSQL " << o.postgres_url << " (" << fsync_note(pg.show("fsync")) << ")";
  }
  out << "\n  write-behind: " << o.durability() << ", " << o.flushers
      << " flusher thread(s), batches of " << o.batch
      << "\n  per write: " << std::min(o.write_through_rows, o.rows) << " rows per round on "
      << counts
      << " thread(s), one row per call on both sides (put; write-through: one transaction per "
         "row)\n  batched: "
      << o.rows << " rows per round on " << o.writers << " threads, " << o.group
      << " rows per call on both sides (put_many; write-through: write_batch, one transaction "
         "per call)\n  bulk reference: "
      << (o.postgres_url.empty() ? "one transaction holding all " : "COPY of all ") << o.rows
      << " rows on one thread\n  " << o.rounds
      << " rounds rotating the order of the methods; medians reported; the table is read back "
         "row by row after each write-behind round\n\n";
}

void print_report(std::ostream& out, const WriteBehindBenchReport& report) {
  tools::TextTable table({"comparison", "method", "threads", "rows/call", "rows/round",
                          "median rows/s", "median acks/s", "rounds (rows/s)"},
                         {true, true, false, false, false, false, false, true});
  for (const auto& m : report.methods) {
    std::string rounds;
    for (const double r : m.rows_per_sec)
      rounds += (rounds.empty() ? "" : " ") + tools::fixed(r, 0);
    table.add({m.comparison, m.method, std::to_string(m.threads), std::to_string(m.rows_per_call),
               std::to_string(m.rows_per_round), tools::fixed(tools::median(m.rows_per_sec), 0),
               tools::fixed(median_acks(&m), 0), rounds});
  }
  table.print(out);
  out << "\nwrite-behind / write-through, persisted rows/s, same threads and rows per call:\n";
  for (const auto t : thread_counts(report.options)) {
    out << "  per write, " << t << " thread(s): "
        << tools::times(tools::ratio(median_rows(report.find("write_behind_per_write", t)),
                                     median_rows(report.find("write_through_per_write", t))))
        << '\n';
  }
  const auto* wb = report.find("write_behind_batched");
  out << "  batched, " << report.options.writers << " threads x " << report.options.group
      << " rows per call: "
      << tools::times(
             tools::ratio(median_rows(wb), median_rows(report.find("write_through_batched"))))
      << '\n';
  if (const auto* bulk = bulk_method(report)) {
    out << "write-behind batched / " << bulk->method << " (bulk reference, one thread): "
        << tools::times(tools::ratio(median_rows(wb), median_rows(bulk))) << '\n';
  }
  if (!report.postgres_fsync.empty()) {
    out << "PostgreSQL " << fsync_note(report.postgres_fsync) << '\n';
  }
  out << "lost writes: " << report.lost_writes << " of " << report.rows_checked
      << " rows read back; journal fsyncs: " << report.fsyncs << '\n';
}

nlohmann::ordered_json to_json(const WriteBehindBenchReport& report) {
  const auto& o = report.options;
  const auto* wb = report.find("write_behind_batched");
  const auto* wt = report.find("write_through_batched");
  const auto* bulk = bulk_method(report);
  nlohmann::ordered_json j;
  j["backend"] = report.backend;
  j["postgres_fsync"] = report.postgres_fsync.empty()
                            ? nlohmann::ordered_json(nullptr)
                            : nlohmann::ordered_json(report.postgres_fsync);
  j["rows"] = o.rows;
  j["write_through_rows"] = std::min(o.write_through_rows, o.rows);
  j["thread_counts"] = thread_counts(o);
  j["rounds"] = o.rounds;
  j["writers"] = o.writers;
  j["group"] = o.group;
  j["batch"] = o.batch;
  j["flushers"] = o.flushers;
  j["fsync_interval_ms"] = o.fsync_interval.count();  // 0: group commit
  j["fsync_policy"] = to_string(o.fsync_policy());
  j["durability"] = o.durability();
  // The batched comparison (same threads, same rows, same rows per call on both sides).
  j["write_behind_rows_per_sec"] = number_or_null(median_rows(wb));
  j["write_behind_acks_per_sec"] = number_or_null(median_acks(wb));
  j["write_through_rows_per_sec"] = number_or_null(median_rows(wt));
  j["bulk_baseline"] = bulk != nullptr ? bulk->method : "";
  j["copy_rows_per_sec"] = number_or_null(median_rows(bulk));
  j["write_behind_vs_write_through"] =
      number_or_null(tools::ratio(median_rows(wb), median_rows(wt)));
  j["write_behind_vs_copy"] = number_or_null(tools::ratio(median_rows(wb), median_rows(bulk)));
  // The per-write comparison, one entry per thread count.
  nlohmann::ordered_json per_write = nlohmann::ordered_json::array();
  for (const auto t : thread_counts(o)) {
    const auto* pb = report.find("write_behind_per_write", t);
    const auto* pt = report.find("write_through_per_write", t);
    per_write.push_back({{"threads", t},
                         {"rows", std::min(o.write_through_rows, o.rows)},
                         {"write_behind_rows_per_sec", number_or_null(median_rows(pb))},
                         {"write_behind_acks_per_sec", number_or_null(median_acks(pb))},
                         {"write_through_rows_per_sec", number_or_null(median_rows(pt))},
                         {"write_behind_vs_write_through",
                          number_or_null(tools::ratio(median_rows(pb), median_rows(pt)))}});
  }
  j["per_write"] = per_write;
  j["lost_writes"] = report.lost_writes;
  j["rows_checked"] = report.rows_checked;
  j["fsyncs"] = report.fsyncs;
  nlohmann::ordered_json rounds;
  for (const auto& m : report.methods) {
    const std::string name =
        m.comparison == "per_write" ? m.method + "_" + std::to_string(m.threads) : m.method;
    rounds[name] = m.rows_per_sec;
    if (!m.acks_per_sec.empty()) rounds[name + "_acks"] = m.acks_per_sec;
  }
  j["rounds_rows_per_sec"] = rounds;
  return j;
}

}  // namespace strata::bench
