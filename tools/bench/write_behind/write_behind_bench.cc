#include "bench/write_behind/write_behind_bench.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <msgpack.hpp>
#include <ostream>
#include <random>
#include <thread>

#include "common/temp_dir.h"
#include "source/pg_connection.h"
#include "source/schema.h"
#include "source/sqlite_db.h"
#include "strata/codec/json.h"
#include "strata/codec/msgpack.h"
#include "strata/error.h"
#include "strata/source/postgres_source.h"
#include "strata/source/sqlite_source.h"
#include "strata/write_behind/write_behind.h"

namespace strata::bench {
namespace {

using SteadyClock = std::chrono::steady_clock;

struct Account {
  std::string name;
  std::string email;
  std::int64_t version = 0;
  friend bool operator==(const Account&, const Account&) = default;
  MSGPACK_DEFINE(name, email, version)
};

TableMapping<Account> mapping(const std::string& table) {
  return TableMapping<Account>::columns(
             table, "id",
             {column("name", &Account::name), column("email", &Account::email),
              column("version", &Account::version)})
      .create_table_if_missing();
}

// Row i of round r: versions differ per round, so a row left over from another round is caught.
std::vector<KeyValue<Account>> make_rows(std::uint64_t n, std::uint64_t round) {
  std::vector<KeyValue<Account>> rows;
  rows.reserve(n);
  for (std::uint64_t i = 0; i < n; ++i) {
    rows.emplace_back(
        "acct:" + std::to_string(i),
        Account{"account " + std::to_string(i), "a" + std::to_string(i) + "@example.com",
                static_cast<std::int64_t>(round * 1'000'000 + i)});
  }
  return rows;
}

double seconds_since(SteadyClock::time_point start) {
  return std::chrono::duration<double>(SteadyClock::now() - start).count();
}

double per_sec(std::uint64_t n, double seconds) {
  return seconds > 0 ? static_cast<double>(n) / seconds : 0;
}

struct WriteBehindRound {
  double acks_per_sec = 0;
  double rows_per_sec = 0;
  std::uint64_t fsyncs = 0;
};

// Writers call put_many in groups; acknowledged/s stops when the last writer returns, persisted/s
// when flush() returns (every row in the source, checkpoint persisted).
template <typename S>
WriteBehindRound write_behind_round(const WriteBehindBenchOptions& o, std::shared_ptr<S> source,
                                    const std::filesystem::path& journal,
                                    const std::vector<KeyValue<Account>>& rows) {
  std::filesystem::remove_all(journal);
  WriteBehindOptions options;
  options.directory = journal;
  options.fsync = FsyncPolicy::kInterval(o.fsync_interval);
  options.batch_size = o.batch;
  options.flush_threads = o.flushers;
  options.flush_interval = std::chrono::milliseconds(5);
  options.max_queue_entries = std::max<std::size_t>(100'000, rows.size());
  options.put_timeout = std::chrono::seconds(60);
  WriteBehind<Account, MsgpackCodec<Account>> wb(options, source);
  const std::span<const KeyValue<Account>> all(rows);
  const auto start = SteadyClock::now();
  std::vector<std::thread> writers;
  for (std::uint64_t w = 0; w < o.writers; ++w) {
    writers.emplace_back([&, w] {
      // Writer w takes groups w, w + writers, ... so all writers run for the whole round.
      for (std::size_t g = w * o.group; g < all.size(); g += o.writers * o.group) {
        wb.put_many(all.subspan(g, std::min<std::size_t>(o.group, all.size() - g)));
      }
    });
  }
  for (auto& t : writers) t.join();
  const double ack_seconds = seconds_since(start);
  wb.flush(std::chrono::minutes(5));
  const double persist_seconds = seconds_since(start);
  WriteBehindRound round{per_sec(rows.size(), ack_seconds), per_sec(rows.size(), persist_seconds),
                         wb.stats().fsyncs};
  wb.close(std::chrono::seconds(30));
  return round;
}

template <typename S>
double write_through_round(S& source, const std::vector<KeyValue<Account>>& rows, std::uint64_t n) {
  const auto start = SteadyClock::now();
  for (std::uint64_t i = 0; i < n; ++i) {
    auto txn = source.begin();
    txn.write(rows[i].first, rows[i].second);
    txn.commit();
  }
  return per_sec(n, seconds_since(start));
}

// Reads every row back one by one; returns how many are missing or differ.
template <typename S>
std::uint64_t count_lost(S& source, const std::vector<KeyValue<Account>>& rows) {
  std::uint64_t lost = 0;
  for (const auto& [key, value] : rows) {
    const auto got = source.load(key);
    if (!got || !(*got == value)) ++lost;
  }
  return lost;
}
// The bulk baseline: COPY ... FROM STDIN (pg::CopyIn).
void copy_rows(pg::Connection& conn, const std::string& table,
               const std::vector<KeyValue<Account>>& rows) {
  pg::CopyIn copy(conn, "COPY " + source::quote(table) + " (id, name, email, version) FROM STDIN");
  for (const auto& [key, a] : rows) {
    copy.row({key, a.name, a.email, std::to_string(a.version)});
  }
  copy.finish();
}

std::string round_line(std::uint64_t round, std::uint64_t rounds,
                       const std::vector<WriteBehindMethod>& methods) {
  std::string line = "round " + std::to_string(round + 1) + "/" + std::to_string(rounds) + ":";
  for (const auto& m : methods) {
    char buf[128];
    std::snprintf(buf, sizeof buf, " %s %.0f rows/s", m.method.c_str(), m.rows_per_sec.back());
    line += buf;
    if (!m.acks_per_sec.empty()) {
      std::snprintf(buf, sizeof buf, " (%.0f acks/s)", m.acks_per_sec.back());
      line += buf;
    }
  }
  return line;
}

// The shared driver: `clear` empties the table, `bulk` runs the bulk baseline.
template <typename S>
void run_rounds(const WriteBehindBenchOptions& o, WriteBehindBenchReport& report,
                std::shared_ptr<S> source, const std::filesystem::path& journal,
                const std::function<void()>& clear,
                const std::function<void(const std::vector<KeyValue<Account>>&)>& bulk,
                const std::string& bulk_name,
                const std::function<void(const std::string&)>& progress) {
  const std::uint64_t wt_rows = std::min(o.write_through_rows, o.rows);
  report.methods = {{"write_behind", o.rows, {}, {}},
                    {"write_through", wt_rows, {}, {}},
                    {bulk_name, o.rows, {}, {}}};
  for (std::uint64_t round = 0; round < o.rounds; ++round) {
    const auto rows = make_rows(o.rows, round);
    for (std::size_t k = 0; k < 3; ++k) {
      const std::size_t m = (k + round) % 3;
      clear();
      if (m == 0) {
        const auto r = write_behind_round(o, source, journal, rows);
        report.methods[0].rows_per_sec.push_back(r.rows_per_sec);
        report.methods[0].acks_per_sec.push_back(r.acks_per_sec);
        report.fsyncs += r.fsyncs;
        report.lost_writes += count_lost(*source, rows);
        report.rows_checked += rows.size();
      } else if (m == 1) {
        report.methods[1].rows_per_sec.push_back(write_through_round(*source, rows, wt_rows));
      } else {
        const auto start = SteadyClock::now();
        bulk(rows);
        report.methods[2].rows_per_sec.push_back(per_sec(rows.size(), seconds_since(start)));
      }
    }
    if (progress) progress(round_line(round, o.rounds, report.methods));
  }
}

std::string unique_table() {
  return "strata_wb_bench_" + std::to_string(::getpid()) + "_" +
         std::to_string(std::random_device{}() % 1000000);
}

nlohmann::ordered_json number_or_null(std::optional<double> v) {
  return v ? nlohmann::ordered_json(*v) : nlohmann::ordered_json(nullptr);
}

std::optional<double> ratio(const WriteBehindMethod* a, const WriteBehindMethod* b) {
  if (a == nullptr || b == nullptr) return std::nullopt;
  const double den = WriteBehindMethod::median(b->rows_per_sec);
  if (den <= 0) return std::nullopt;
  return WriteBehindMethod::median(a->rows_per_sec) / den;
}

const WriteBehindMethod* bulk_method(const WriteBehindBenchReport& report) {
  const auto* copy = report.find("copy");
  return copy != nullptr ? copy : report.find("bulk_transaction");
}

}  // namespace

void WriteBehindBenchOptions::validate() const {
  if (rows == 0) throw InvalidArgumentError("--rows must be at least 1");
  if (write_through_rows == 0)
    throw InvalidArgumentError("--write-through-rows must be at least 1");
  if (rounds == 0) throw InvalidArgumentError("--rounds must be at least 1");
  if (writers == 0 || writers > 256) throw InvalidArgumentError("--writers must be 1..256");
  if (group == 0) throw InvalidArgumentError("--group must be at least 1");
  if (batch == 0) throw InvalidArgumentError("--batch must be at least 1");
  if (flushers == 0 || flushers > 64) throw InvalidArgumentError("--flushers must be 1..64");
  if (fsync_interval.count() <= 0) throw InvalidArgumentError("--fsync-ms must be at least 1");
}

double WriteBehindMethod::median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
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
  if (o.postgres_url.empty()) {
    WriteBehindBenchReport report{o, "sqlite", {}, 0, 0, 0};
    const std::string path = (dir.path() / "bench.db").string();
    auto source =
        std::make_shared<SqliteSource<Account>>(SqliteOptions{.path = path}, mapping("accounts"));
    sqlite::Database admin(path);
    run_rounds(
        o, report, source, journal, [&] { admin.exec("DELETE FROM accounts"); },
        [&](const std::vector<KeyValue<Account>>& rows) { source->write_batch(rows); },
        "bulk_transaction", progress);
    return report;
  }
  WriteBehindBenchReport report{o, "postgres", {}, 0, 0, 0};
  const std::string table = unique_table();
  auto source = std::make_shared<PostgresSource<Account>>(
      PostgresOptions{.url = o.postgres_url, .pool_size = o.flushers + 1}, mapping(table));
  pg::Connection admin(o.postgres_url, std::chrono::seconds(5));
  struct Dropper {
    pg::Connection& conn;
    std::string sql;
    ~Dropper() { pg::Result r(PQexec(conn.handle(), sql.c_str())); }
  } dropper{admin, "DROP TABLE IF EXISTS " + source::quote(table)};
  run_rounds(
      o, report, source, journal, [&] { (void)admin.exec("TRUNCATE " + source::quote(table)); },
      [&](const std::vector<KeyValue<Account>>& rows) { copy_rows(admin, table, rows); }, "copy",
      progress);
  return report;
}

void print_configuration(std::ostream& out, const WriteBehindBenchOptions& o) {
  out << "strata bench write-behind: "
      << (o.postgres_url.empty() ? std::string("SQLite (embedded default, temporary file)")
                                 : "PostgreSQL " + o.postgres_url)
      << "\n  write-behind: " << o.rows << " rows per round, " << o.writers
      << " writer threads, put_many groups of " << o.group << ", journal fsync every "
      << o.fsync_interval.count() << " ms (acknowledged after the covering fsync), " << o.flushers
      << " flusher thread(s), batches of " << o.batch
      << "\n  write-through: " << std::min(o.write_through_rows, o.rows)
      << " rows per round, one transaction per write\n  bulk baseline: "
      << (o.postgres_url.empty() ? "one transaction holding all " : "COPY of all ") << o.rows
      << " rows\n  " << o.rounds
      << " rounds alternating the methods; medians reported; the table is read back row by row "
         "after each write-behind round\n\n";
}

void print_report(std::ostream& out, const WriteBehindBenchReport& report) {
  char line[200];
  std::snprintf(line, sizeof line, "%-17s %10s %16s %16s   %s\n", "method", "rows/round",
                "median rows/s", "median acks/s", "rounds (rows/s)");
  out << line;
  for (const auto& m : report.methods) {
    std::string rounds;
    for (const double r : m.rows_per_sec) rounds += std::to_string(static_cast<long long>(r)) + " ";
    const std::string acks =
        m.acks_per_sec.empty()
            ? std::string("-")
            : std::to_string(static_cast<long long>(WriteBehindMethod::median(m.acks_per_sec)));
    std::snprintf(line, sizeof line, "%-17s %10llu %16.0f %16s   %s\n", m.method.c_str(),
                  static_cast<unsigned long long>(m.rows_per_round),
                  WriteBehindMethod::median(m.rows_per_sec), acks.c_str(), rounds.c_str());
    out << line;
  }
  const auto* wb = report.find("write_behind");
  if (const auto r = ratio(wb, report.find("write_through"))) {
    std::snprintf(line, sizeof line, "\nwrite_behind / write_through = %.1fx (target >= 20x)\n",
                  *r);
    out << line;
  }
  if (const auto r = ratio(wb, bulk_method(report))) {
    std::snprintf(line, sizeof line, "write_behind / %s = %.2fx (target >= 0.5x)\n",
                  bulk_method(report)->method.c_str(), *r);
    out << line;
  }
  out << "lost writes: " << report.lost_writes << " of " << report.rows_checked
      << " rows read back; journal fsyncs: " << report.fsyncs << '\n';
}

nlohmann::ordered_json to_json(const WriteBehindBenchReport& report) {
  const auto& o = report.options;
  const auto* wb = report.find("write_behind");
  const auto* wt = report.find("write_through");
  const auto* bulk = bulk_method(report);
  const auto med = [](const WriteBehindMethod* m, bool acks = false) -> std::optional<double> {
    if (m == nullptr) return std::nullopt;
    return WriteBehindMethod::median(acks ? m->acks_per_sec : m->rows_per_sec);
  };
  nlohmann::ordered_json j;
  j["backend"] = report.backend;
  j["rows"] = o.rows;
  j["write_through_rows"] = std::min(o.write_through_rows, o.rows);
  j["rounds"] = o.rounds;
  j["writers"] = o.writers;
  j["group"] = o.group;
  j["batch"] = o.batch;
  j["flushers"] = o.flushers;
  j["fsync_interval_ms"] = o.fsync_interval.count();
  j["write_behind_rows_per_sec"] = number_or_null(med(wb));
  j["write_behind_acks_per_sec"] = number_or_null(med(wb, true));
  j["write_through_rows_per_sec"] = number_or_null(med(wt));
  j["bulk_baseline"] = bulk != nullptr ? bulk->method : "";
  j["copy_rows_per_sec"] = number_or_null(med(bulk));
  j["write_behind_vs_write_through"] = number_or_null(ratio(wb, wt));
  j["write_behind_vs_copy"] = number_or_null(ratio(wb, bulk));
  j["lost_writes"] = report.lost_writes;
  j["rows_checked"] = report.rows_checked;
  j["fsyncs"] = report.fsyncs;
  nlohmann::ordered_json rounds;
  for (const auto& m : report.methods) rounds[m.method] = m.rows_per_sec;
  if (wb != nullptr) rounds["write_behind_acks"] = wb->acks_per_sec;
  j["rounds_rows_per_sec"] = rounds;
  return j;
}

}  // namespace strata::bench
