#include "bench/user_service.h"

#include <chrono>
#include <cstdio>
#include <functional>
#include <optional>
#include <ostream>
#include <random>
#include <string>

#include "bench/temp_dir.h"
#include "source/sqlite_db.h"
#include "strata/local_cache.h"
#include "strata/error.h"
#include "workload/zipf.h"

namespace strata::bench {
namespace {

using Clock = std::chrono::steady_clock;

struct User {
  std::int64_t id = 0;
  std::string name;
  std::string email;
  std::int64_t version = 0;
};

struct Request {
  bool write;
  std::int64_t id;
};

// The source of record: a users table in SQLite.
class UserTable {
 public:
  explicit UserTable(const std::string& path)
      : db_(path),
        create_(db_, "CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY, name TEXT NOT "
                     "NULL, email TEXT NOT NULL, version INTEGER NOT NULL)"),
        select_(db_.prepare("SELECT name, email, version FROM users WHERE id = ?")),
        update_(db_.prepare("UPDATE users SET email = ?, version = ? WHERE id = ?")) {}

  void populate(std::int64_t users) {
    sqlite::Transaction txn(db_);
    auto insert = db_.prepare("INSERT INTO users (id, name, email, version) VALUES (?, ?, ?, 0)");
    for (std::int64_t id = 1; id <= users; ++id) {
      insert.bind(1, id).bind_text(2, "user " + std::to_string(id));
      insert.bind_text(3, email_of(id, 0));
      insert.run();
      insert.reset();
    }
    txn.commit();
  }

  std::optional<User> load(std::int64_t id) {
    select_.reset();
    select_.bind(1, id);
    if (!select_.step()) return std::nullopt;
    return User{id, std::string(select_.column_text(0)), std::string(select_.column_text(1)),
                select_.column_int64(2)};
  }

  void update(std::int64_t id, std::int64_t version) {
    update_.reset();
    update_.bind_text(1, email_of(id, version)).bind(2, version).bind(3, id);
    update_.run();
  }

  static std::string email_of(std::int64_t id, std::int64_t version) {
    return "user" + std::to_string(id) + ".v" + std::to_string(version) + "@example.com";
  }

 private:
  // Runs a DDL statement as part of the member initialisation order (before prepare()).
  struct Ddl {
    Ddl(sqlite::Database& db, std::string_view sql) { db.exec(sql); }
  };
  sqlite::Database db_;
  Ddl create_;
  sqlite::Statement select_;
  sqlite::Statement update_;
};

// How a pattern serves one request; returns true for a cache hit.
struct Pattern {
  std::string name;
  std::function<std::optional<User>(UserTable&, PatternResult&, std::int64_t)> read;
  std::function<void(UserTable&, PatternResult&, std::int64_t id, std::int64_t version)> write;
};

// Cache-aside over strata's L1 (LocalCache): read the cache, on a miss load from the source
// (one load per key at a time) and fill; on a write update the source, then delete (never
// update) the cache entry.
class LocalCacheAside {
 public:
  explicit LocalCacheAside(std::uint64_t capacity)
      : cache_(LocalCacheBuilder<User>().maximum_size(capacity).build()) {}

  std::optional<User> read(UserTable& table, PatternResult& result, std::int64_t id) {
    const std::string key = "user:" + std::to_string(id);
    if (auto hit = cache_.get(key)) {
      ++result.hits;
      return hit;
    }
    return cache_.get_or_load(key, [&](std::string_view) {
      ++result.source_reads;
      return table.load(id);
    });
  }

  void write(UserTable& table, PatternResult& result, std::int64_t id, std::int64_t version) {
    ++result.source_writes;
    table.update(id, version);
    cache_.erase("user:" + std::to_string(id));
  }

 private:
  LocalCache<User> cache_;
};

std::vector<Request> make_requests(const UserServiceOptions& options) {
  std::mt19937_64 rng(options.seed);
  workload::ZipfGenerator zipf(options.users, options.zipf_s);
  std::bernoulli_distribution is_write(options.write_fraction);
  std::vector<Request> requests;
  requests.reserve(options.operations);
  for (std::uint64_t i = 0; i < options.operations; ++i) {
    const bool write = is_write(rng);
    requests.push_back({write, static_cast<std::int64_t>(zipf(rng))});
  }
  return requests;
}

PatternResult replay(const UserServiceOptions& options, const std::vector<Request>& requests,
                     const Pattern& pattern) {
  tools::TempDir dir("strata-bench");
  UserTable table((dir.path() / "users.db").string());
  table.populate(static_cast<std::int64_t>(options.users));
  std::vector<std::int64_t> truth(options.users + 1, 0);  // last version written, per id

  PatternResult result;
  result.pattern = pattern.name;
  const auto start = Clock::now();
  for (const Request& request : requests) {
    const auto t0 = Clock::now();
    try {
      if (request.write) {
        const std::int64_t version = truth[static_cast<std::size_t>(request.id)] + 1;
        pattern.write(table, result, request.id, version);
        truth[static_cast<std::size_t>(request.id)] = version;
        ++result.writes;
      } else {
        const auto user = pattern.read(table, result, request.id);
        ++result.reads;
        if (!user || user->version != truth[static_cast<std::size_t>(request.id)]) {
          ++result.stale_reads;
        }
      }
    } catch (const Error&) {
      ++result.errors;
    }
    result.latency.record(Clock::now() - t0);
    ++result.operations;
  }
  result.seconds = std::chrono::duration<double>(Clock::now() - start).count();

  // Read every row back: a write the source does not hold is a lost write.
  for (std::int64_t id = 1; id <= static_cast<std::int64_t>(options.users); ++id) {
    const auto user = table.load(id);
    if (!user || user->version != truth[static_cast<std::size_t>(id)]) ++result.lost_writes;
  }
  return result;
}

}  // namespace

void UserServiceOptions::validate() const {
  if (users < 1) throw InvalidArgumentError("--users must be at least 1");
  if (operations < 1) throw InvalidArgumentError("--operations must be at least 1");
  if (!(zipf_s > 0.0)) throw InvalidArgumentError("--zipf must be > 0");
  if (!(write_fraction >= 0.0 && write_fraction <= 1.0)) {
    throw InvalidArgumentError("--write-fraction must be within [0, 1]");
  }
  if (!(cache_fraction > 0.0 && cache_fraction <= 1.0)) {
    throw InvalidArgumentError("--cache-fraction must be within (0, 1]");
  }
}

UserServiceReport run_user_service(const UserServiceOptions& options) {
  options.validate();
  const auto requests = make_requests(options);
  UserServiceReport report{options, {}};

  const Pattern no_cache{
      "no cache",
      [](UserTable& table, PatternResult& result, std::int64_t id) {
        ++result.source_reads;
        return table.load(id);
      },
      [](UserTable& table, PatternResult& result, std::int64_t id, std::int64_t version) {
        ++result.source_writes;
        table.update(id, version);
      }};
  report.patterns.push_back(replay(options, requests, no_cache));

  LocalCacheAside l1(std::max<std::uint64_t>(
      1, static_cast<std::uint64_t>(static_cast<double>(options.users) * options.cache_fraction)));
  const Pattern cache_aside{
      "cache-aside",
      [&](UserTable& table, PatternResult& result, std::int64_t id) {
        return l1.read(table, result, id);
      },
      [&](UserTable& table, PatternResult& result, std::int64_t id, std::int64_t version) {
        l1.write(table, result, id, version);
      }};
  report.patterns.push_back(replay(options, requests, cache_aside));
  return report;
}

void print_table(std::ostream& out, const UserServiceReport& report) {
  const auto& o = report.options;
  char line[256];
  std::snprintf(line, sizeof line,
                "strata bench: %llu users in SQLite, %llu requests (Zipf s=%.2f, %.0f%% writes, "
                "seed %llu), L1 sized for %.0f%% of the users\n\n",
                static_cast<unsigned long long>(o.users),
                static_cast<unsigned long long>(o.operations), o.zipf_s, o.write_fraction * 100,
                static_cast<unsigned long long>(o.seed), o.cache_fraction * 100);
  out << line;
  std::snprintf(line, sizeof line, "%-14s %12s %9s %12s %13s %9s %9s %7s %6s %6s\n", "pattern",
                "ops/s", "hit ratio", "source reads", "source writes", "p50 us", "p99 us",
                "stale", "lost", "errors");
  out << line;
  for (const auto& p : report.patterns) {
    std::snprintf(line, sizeof line, "%-14s %12.0f %8.1f%% %12llu %13llu %9.1f %9.1f %7llu %6llu %6llu\n",
                  p.pattern.c_str(), p.ops_per_sec(), p.hit_ratio() * 100,
                  static_cast<unsigned long long>(p.source_reads),
                  static_cast<unsigned long long>(p.source_writes),
                  p.latency.percentile(50).count() / 1000.0,
                  p.latency.percentile(99).count() / 1000.0,
                  static_cast<unsigned long long>(p.stale_reads),
                  static_cast<unsigned long long>(p.lost_writes),
                  static_cast<unsigned long long>(p.errors));
    out << line;
  }
}

nlohmann::ordered_json to_json(const UserServiceReport& report) {
  const auto& o = report.options;
  nlohmann::ordered_json patterns = nlohmann::ordered_json::array();
  for (const auto& p : report.patterns) {
    patterns.push_back({{"pattern", p.pattern},
                        {"operations", p.operations},
                        {"ops_per_sec", p.ops_per_sec()},
                        {"hit_ratio", p.hit_ratio()},
                        {"source_reads", p.source_reads},
                        {"source_writes", p.source_writes},
                        {"p50_us", p.latency.percentile(50).count() / 1000.0},
                        {"p99_us", p.latency.percentile(99).count() / 1000.0},
                        {"stale_reads", p.stale_reads},
                        {"lost_writes", p.lost_writes},
                        {"errors", p.errors}});
  }
  return {{"source", "sqlite"},
          {"users", o.users},
          {"operations", o.operations},
          {"zipf_s", o.zipf_s},
          {"write_fraction", o.write_fraction},
          {"cache_fraction", o.cache_fraction},
          {"seed", o.seed},
          {"patterns", std::move(patterns)}};
}

}  // namespace strata::bench
