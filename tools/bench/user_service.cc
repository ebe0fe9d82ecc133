#include "bench/user_service.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <random>
#include <span>
#include <string>
#include <utility>

#include "bench/temp_dir.h"
#include "strata/cache.h"
#include "strata/error.h"
#include "strata/function_source.h"
#include "strata/redis_client.h"
#include "strata/redis_url.h"
#include "strata/sqlite_source.h"
#include "strata/table_mapping.h"
#include "strata/write_behind.h"
#include "workload/zipf.h"

namespace strata::bench {
namespace {

using Clock = std::chrono::steady_clock;

struct User {
  std::string name;
  std::string email;
  std::int64_t version = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(User, name, email, version)

struct Request {
  bool write;
  std::int64_t id;
};

User user_at(std::int64_t id, std::int64_t version) {
  const std::string n = std::to_string(id);
  return User{"user " + n, "user" + n + ".v" + std::to_string(version) + "@example.com", version};
}

// Rows read from and written to the source, counted by the wrapper (the write-behind flusher
// writes from its own thread, hence atomics).
struct SourceCounters {
  std::atomic<std::uint64_t> reads{0};
  std::atomic<std::uint64_t> writes{0};
};

// The source of record: a users table in a fresh SQLite database in a temporary directory, and
// the counting FunctionSource every pattern reads and writes it through.
class UserDb {
 public:
  explicit UserDb(std::int64_t users)
      : sqlite_(std::make_shared<SqliteSource<User>>(
            SqliteOptions{.path = (dir_.path() / "users.db").string()},
            TableMapping<User>::columns("users", "id",
                                        {column("name", &User::name), column("email", &User::email),
                                         column("version", &User::version)})
                .create_table_if_missing())) {
    std::vector<KeyValue<User>> rows;
    rows.reserve(static_cast<std::size_t>(users));
    for (std::int64_t id = 1; id <= users; ++id) rows.emplace_back(key(id), user_at(id, 0));
    sqlite_->write_batch(std::span<const KeyValue<User>>(rows));

    auto sqlite = sqlite_;
    auto counters = counters_;
    source_ = std::make_shared<FunctionSource<User>>(
        SourceFunctions<User>{.load =
                                  [sqlite, counters](std::string_view k) {
                                    ++counters->reads;
                                    return sqlite->load(k);
                                  },
                              .load_many =
                                  [sqlite, counters](std::span<const std::string> keys) {
                                    counters->reads += keys.size();
                                    return sqlite->load_many(keys);
                                  },
                              .write_batch =
                                  [sqlite, counters](std::span<const KeyValue<User>> entries) {
                                    counters->writes += entries.size();
                                    sqlite->write_batch(entries);
                                  },
                              .erase_batch =
                                  [sqlite, counters](std::span<const std::string> keys) {
                                    counters->writes += keys.size();
                                    sqlite->erase_batch(keys);
                                  }});
  }

  static std::string key(std::int64_t id) { return std::to_string(id); }

  // The counted source the patterns use.
  [[nodiscard]] const std::shared_ptr<FunctionSource<User>>& source() const { return source_; }
  [[nodiscard]] const SourceCounters& counters() const { return *counters_; }
  // The table itself, uncounted: for the read-back at the end.
  [[nodiscard]] std::optional<User> read_back(std::int64_t id) { return sqlite_->load(key(id)); }
  [[nodiscard]] const std::filesystem::path& dir() const { return dir_.path(); }

 private:
  tools::TempDir dir_{"strata-bench"};  // first: outlives the database and the journal
  std::shared_ptr<SqliteSource<User>> sqlite_;
  std::shared_ptr<SourceCounters> counters_ = std::make_shared<SourceCounters>();
  std::shared_ptr<FunctionSource<User>> source_;
};

// How a pattern serves requests. It owns its cache (and write-behind), destroyed before the
// database. `drain` runs after the requests, before the read-back (write-behind flushes).
struct PatternRun {
  std::function<std::optional<User>(const std::string& key)> read;
  std::function<void(const std::string& key, const User& user)> write;
  std::function<void()> drain = [] {};
};

struct Pattern {
  std::string name;
  std::function<PatternRun(UserDb&)> start;
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
  UserDb db(static_cast<std::int64_t>(options.users));
  PatternRun run = pattern.start(db);
  std::vector<std::int64_t> truth(options.users + 1, 0);  // last acknowledged version, per id

  PatternResult result;
  result.pattern = pattern.name;
  const auto& counters = db.counters();
  const auto start = Clock::now();
  for (const Request& request : requests) {
    const std::string key = UserDb::key(request.id);
    auto& last = truth[static_cast<std::size_t>(request.id)];
    const auto t0 = Clock::now();
    try {
      if (request.write) {
        ++result.writes;
        run.write(key, user_at(request.id, last + 1));
        ++last;  // acknowledged
      } else {
        ++result.reads;
        const std::uint64_t reads_before = counters.reads.load();
        const auto user = run.read(key);
        if (counters.reads.load() == reads_before) ++result.hits;
        if (!user || user->version != last) ++result.stale_reads;
      }
    } catch (const Error&) {
      ++result.errors;
    }
    result.latency.record(Clock::now() - t0);
    ++result.operations;
  }
  result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  try {
    run.drain();
  } catch (const Error&) {
    ++result.errors;
  }
  result.source_reads = counters.reads.load();
  result.source_writes = counters.writes.load();

  // Read every row back: an acknowledged write the source does not hold is a lost write.
  for (std::int64_t id = 1; id <= static_cast<std::int64_t>(options.users); ++id) {
    const auto user = db.read_back(id);
    if (!user || user->version != truth[static_cast<std::size_t>(id)]) ++result.lost_writes;
  }
  return result;
}

// A Cache<User> as one pattern's PatternRun keeps it (shared: std::function needs copies).
using SharedCache = std::shared_ptr<Cache<User>>;

SharedCache share(Cache<User> cache) {
  return std::make_shared<Cache<User>>(std::move(cache));
}

// Reads with get(), writes the table then invalidates.
PatternRun read_through_run(SharedCache cache, std::shared_ptr<FunctionSource<User>> source) {
  return {[cache](const std::string& key) { return cache->get(key); },
          [cache, source](const std::string& key, const User& user) {
            source->write(key, user);
            cache->invalidate(key);
          }};
}

// A key prefix no earlier run used: each run starts from a fresh database, so it must not read
// an earlier run's values out of Redis.
std::string unique_prefix() {
  return "strata-bench:" + std::to_string(::getpid()) + "-" +
         std::to_string(std::chrono::system_clock::now().time_since_epoch().count()) + ":user:";
}

std::vector<Pattern> patterns(const UserServiceOptions& options) {
  const LocalTierOptions l1{.maximum_size = std::max<std::uint64_t>(
                                1, static_cast<std::uint64_t>(static_cast<double>(options.users) *
                                                              options.cache_fraction))};
  std::vector<Pattern> out;
  out.push_back({"no cache", [](UserDb& db) {
                   auto source = db.source();
                   return PatternRun{[source](const std::string& key) { return source->load(key); },
                                     [source](const std::string& key, const User& user) {
                                       source->write(key, user);
                                     }};
                 }});
  out.push_back({"cache-aside", [l1](UserDb& db) {
                   auto source = db.source();
                   auto cache = share(CacheBuilder<User>().local(l1).build());
                   return PatternRun{[cache, source](const std::string& key) {
                                       return cache->get_or_load(key, [&](std::string_view k) {
                                         return source->load(k);
                                       });
                                     },
                                     [cache, source](const std::string& key, const User& user) {
                                       source->write(key, user);
                                       cache->invalidate(key);
                                     }};
                 }});
  out.push_back({"read-through", [l1](UserDb& db) {
                   return read_through_run(
                       share(CacheBuilder<User>().local(l1).source(db.source()).build()),
                       db.source());
                 }});
  out.push_back({"write-through", [l1](UserDb& db) {
                   auto cache = share(CacheBuilder<User>()
                                          .local(l1)
                                          .source(db.source())
                                          .write_mode(WriteMode::kWriteThrough)
                                          .build());
                   return PatternRun{[cache](const std::string& key) { return cache->get(key); },
                                     [cache](const std::string& key, const User& user) {
                                       cache->put(key, user);
                                     }};
                 }});
  out.push_back({"write-behind", [l1](UserDb& db) {
                   using namespace std::chrono_literals;
                   auto journal = std::make_shared<WriteBehind<User>>(
                       WriteBehindOptions{.directory = db.dir() / "write-behind",
                                          .fsync = FsyncPolicy::kInterval(10ms)},
                       db.source());
                   auto cache = share(CacheBuilder<User>()
                                          .local(l1)
                                          .source(db.source())
                                          .write_mode(WriteMode::kWriteBehind)
                                          .write_behind_sink(journal)
                                          .build());
                   return PatternRun{
                       [cache](const std::string& key) { return cache->get(key); },
                       [cache](const std::string& key, const User& user) { cache->put(key, user); },
                       [journal] { journal->flush(); }};
                 }});
  auto two_tier = [&](std::string name, std::string url) {
    out.push_back({std::move(name), [l1, url = std::move(url)](UserDb& db) {
                     using namespace std::chrono_literals;
                     auto cache = share(CacheBuilder<User>()
                                            .local(l1)
                                            .remote(RedisClient(url), {.ttl = 5min})
                                            .key_prefix(unique_prefix())
                                            .source(db.source())
                                            .build());
                     return PatternRun{
                         [cache](const std::string& key) { return cache->get(key); },
                         [cache](const std::string& key, const User& user) {
                           cache->put(key, user);  // write-around: the table, then invalidate
                         }};
                   }});
  };
  if (!options.redis_url.empty()) two_tier("two-tier", options.redis_url);
  if (!options.redis_cluster_url.empty()) two_tier("two-tier cluster", options.redis_cluster_url);
  return out;
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
  if (!redis_url.empty() && parse_redis_url(redis_url).cluster) {
    throw InvalidArgumentError("--redis takes a redis:// URL (use --redis-cluster for a cluster)");
  }
  if (!redis_cluster_url.empty() && !parse_redis_url(redis_cluster_url).cluster) {
    throw InvalidArgumentError("--redis-cluster takes a redis+cluster:// URL");
  }
}

UserServiceReport run_user_service(const UserServiceOptions& options) {
  options.validate();
  const auto requests = make_requests(options);
  UserServiceReport report{options, {}};
  for (const Pattern& pattern : patterns(options)) {
    report.patterns.push_back(replay(options, requests, pattern));
  }
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
  std::snprintf(line, sizeof line, "%-16s %12s %9s %12s %13s %9s %9s %7s %6s %6s\n", "pattern",
                "ops/s", "hit ratio", "source reads", "source writes", "p50 us", "p99 us", "stale",
                "lost", "errors");
  out << line;
  for (const auto& p : report.patterns) {
    std::snprintf(
        line, sizeof line, "%-16s %12.0f %8.1f%% %12llu %13llu %9.1f %9.1f %7llu %6llu %6llu\n",
        p.pattern.c_str(), p.ops_per_sec(), p.hit_ratio() * 100,
        static_cast<unsigned long long>(p.source_reads),
        static_cast<unsigned long long>(p.source_writes), p.latency.percentile(50).count() / 1000.0,
        p.latency.percentile(99).count() / 1000.0, static_cast<unsigned long long>(p.stale_reads),
        static_cast<unsigned long long>(p.lost_writes), static_cast<unsigned long long>(p.errors));
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
