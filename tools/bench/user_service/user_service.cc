#include "bench/user_service/user_service.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <exception>
#include <fstream>
#include <functional>
#include <latch>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <random>
#include <span>
#include <string>
#include <thread>
#include <utility>

#include "bench/user_service/version_oracle.h"
#include "common/raw_db.h"
#include "common/stats.h"
#include "common/temp_dir.h"
#include "common/text_table.h"
#include "common/zipf.h"
#include "strata/cache/cache.h"
#include "strata/codec/json.h"
#include "strata/error.h"
#include "strata/redis/redis_client.h"
#include "strata/redis/redis_url.h"
#include "strata/source/function_source.h"
#include "strata/source/postgres_source.h"
#include "strata/source/sqlite_source.h"
#include "strata/source/table_mapping.h"
#include "strata/write_behind/write_behind.h"

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

// Source reads made by the calling thread: a client read that made none is a hit (it cost the
// source nothing; a single-flight follower that waited for another client's load is one too).
thread_local std::uint64_t t_source_reads = 0;

// Rows read from and written to the source, counted by the wrapper (the write-behind flusher
// writes from its own thread, hence atomics).
struct SourceCounters {
  std::atomic<std::uint64_t> calls{0};  // load and load_many calls
  std::atomic<std::uint64_t> reads{0};
  std::atomic<std::uint64_t> writes{0};
};

TableMapping<User> users_mapping(const std::string& table) {
  return TableMapping<User>::columns(table, "id",
                                     {column("name", &User::name), column("email", &User::email),
                                      column("version", &User::version)})
      .create_table_if_missing();
}

// Drops a PostgreSQL table on destruction (best effort).
class TableDropper {
 public:
  TableDropper(std::string url, std::string table)
      : url_(std::move(url)), table_(std::move(table)) {}
  TableDropper(const TableDropper&) = delete;
  TableDropper& operator=(const TableDropper&) = delete;
  ~TableDropper() {
    try {
      tools::RawPostgres admin(url_);
      (void)admin.try_exec("DROP TABLE IF EXISTS " + tools::quote_identifier(table_));
    } catch (...) {
      // Left behind: the table name says which run made it.
    }
  }

 private:
  std::string url_;
  std::string table_;
};

// The service's connections to its database: a source call waits for a free one, as with a
// connection pool (a database takes so many concurrent calls). 0: unlimited.
class ConnectionPool {
 public:
  explicit ConnectionPool(std::uint64_t size) : free_(size), limited_(size > 0) {}

  // Holds one connection for its lifetime.
  class Held {
   public:
    explicit Held(ConnectionPool& pool) : pool_(pool) {
      if (!pool_.limited_) return;
      std::unique_lock lock(pool_.mutex_);
      pool_.freed_.wait(lock, [&] { return pool_.free_ > 0; });
      --pool_.free_;
    }
    Held(const Held&) = delete;
    Held& operator=(const Held&) = delete;
    ~Held() {
      if (!pool_.limited_) return;
      {
        const std::lock_guard lock(pool_.mutex_);
        ++pool_.free_;
      }
      pool_.freed_.notify_one();
    }

   private:
    ConnectionPool& pool_;
  };

 private:
  std::mutex mutex_;
  std::condition_variable freed_;
  std::uint64_t free_;
  bool limited_;
};

// The source of record: a users table in a fresh SQLite database in a temporary directory (or
// a fresh table in PostgreSQL), and the counting FunctionSource every pattern reads and writes
// it through; the counting wrapper also adds the configured source latency to every call.
class UserDb {
 public:
  explicit UserDb(const UserServiceOptions& options) {
    if (options.postgres_url.empty()) {
      auto sqlite = std::make_shared<SqliteSource<User>>(
          SqliteOptions{.path = (dir_.path() / "users.db").string(),
                        .max_idle_readers = std::max<std::size_t>(4, options.clients)},
          users_mapping("users"));
      raw_ = make_raw(sqlite);
    } else {
      // A table name no other run uses (PostgreSQL is shared; SQLite gets a fresh file anyway).
      const std::string table = tools::unique_name("strata_bench_users");
      // A connection per client, as a service's pool would give them (at most 32).
      auto pg = std::make_shared<PostgresSource<User>>(
          PostgresOptions{.url = options.postgres_url,
                          .pool_size = std::clamp<std::size_t>(options.clients, 1, 32)},
          users_mapping(table));
      dropper_ = std::make_unique<TableDropper>(options.postgres_url, table);
      postgres_fsync_ = tools::RawPostgres(options.postgres_url).show("fsync");
      raw_ = make_raw(pg);
    }
    std::vector<KeyValue<User>> rows;
    const auto users = static_cast<std::int64_t>(options.users);
    rows.reserve(static_cast<std::size_t>(users));
    for (std::int64_t id = 1; id <= users; ++id) rows.emplace_back(key(id), user_at(id, 0));
    raw_->write_batch(std::span<const KeyValue<User>>(rows));

    auto raw = raw_;
    auto counters = counters_;
    // Every source call holds one of the service's connections for the round trip and the
    // call (the write-behind flusher's batches and loads included).
    const auto call =
        [latency = options.source_latency,
         pool = std::make_shared<ConnectionPool>(options.source_connections)](auto&& fn) {
          const ConnectionPool::Held held(*pool);
          if (latency.count() > 0) std::this_thread::sleep_for(latency);
          return fn();
        };
    source_ = std::make_shared<FunctionSource<User>>(
        SourceFunctions<User>{.load =
                                  [raw, counters, call](std::string_view k) {
                                    return call([&] {
                                      ++counters->calls;
                                      ++counters->reads;
                                      ++t_source_reads;
                                      return raw->load(k);
                                    });
                                  },
                              .load_many =
                                  [raw, counters, call](std::span<const std::string> keys) {
                                    return call([&] {
                                      ++counters->calls;
                                      counters->reads += keys.size();
                                      t_source_reads += keys.size();
                                      return raw->load_many(keys);
                                    });
                                  },
                              .write_batch =
                                  [raw, counters, call](std::span<const KeyValue<User>> entries) {
                                    call([&] {
                                      counters->writes += entries.size();
                                      raw->write_batch(entries);
                                    });
                                  },
                              .erase_batch =
                                  [raw, counters, call](std::span<const std::string> keys) {
                                    call([&] {
                                      counters->writes += keys.size();
                                      raw->erase_batch(keys);
                                    });
                                  }});
  }
  UserDb(const UserDb&) = delete;
  UserDb& operator=(const UserDb&) = delete;
  ~UserDb() {
    source_.reset();
    raw_.reset();  // close the connections before dropping the table
    dropper_.reset();
  }

  static std::string key(std::int64_t id) { return std::to_string(id); }

  // What a write the source acknowledged is.
  [[nodiscard]] std::string commit_durability() const {
    return postgres_fsync_.empty()
               ? "committed by SQLite (WAL, synchronous=NORMAL: no fsync per commit)"
               : "committed by PostgreSQL (server fsync=" + postgres_fsync_ + ")";
  }

  // The counted source the patterns use.
  [[nodiscard]] const std::shared_ptr<FunctionSource<User>>& source() const { return source_; }
  [[nodiscard]] const SourceCounters& counters() const { return *counters_; }
  // The table itself, uncounted: for the read-back at the end.
  [[nodiscard]] std::optional<User> read_back(std::int64_t id) { return raw_->load(key(id)); }
  [[nodiscard]] const std::filesystem::path& dir() const { return dir_.path(); }

 private:
  // The table as a FunctionSource (SQLite or PostgreSQL behind the same type).
  template <typename S>
  static std::shared_ptr<FunctionSource<User>> make_raw(std::shared_ptr<S> table) {
    return std::make_shared<FunctionSource<User>>(SourceFunctions<User>{
        .load = [table](std::string_view k) { return table->load(k); },
        .load_many = [table](std::span<const std::string> keys) { return table->load_many(keys); },
        .write_batch = [table](std::span<const KeyValue<User>> e) { table->write_batch(e); },
        .erase_batch = [table](std::span<const std::string> keys) { table->erase_batch(keys); }});
  }

  tools::TempDir dir_{"strata-bench"};  // first: outlives the database and the journal
  std::unique_ptr<TableDropper> dropper_;
  std::shared_ptr<FunctionSource<User>> raw_;
  std::shared_ptr<SourceCounters> counters_ = std::make_shared<SourceCounters>();
  std::shared_ptr<FunctionSource<User>> source_;
  std::string postgres_fsync_;  // empty on SQLite
};

// How a pattern serves requests. It owns its cache (and write-behind), destroyed before the
// database. `drain` runs after the requests, before the read-back (write-behind flushes).
struct PatternRun {
  std::function<std::optional<User>(const std::string& key)> read;
  std::function<void(const std::string& key, const User& user)> write;
  std::function<void()> drain = [] {};
  // What an acknowledged write is, after the run; empty: committed by the source (said by the
  // caller, which knows the source).
  std::function<std::string()> durability = [] { return std::string(); };
  // Registers the pattern's cache and writer with a metrics registry, under `name`.
  std::function<void(MetricsRegistry&, const std::string& name)> register_metrics =
      [](MetricsRegistry&, const std::string&) {};
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

// What one client thread measured.
struct ClientResult {
  std::uint64_t reads = 0, writes = 0, hits = 0, stale_reads = 0, errors = 0;
  LatencyHistogram latency;
};

// Serves `request` through `run`, as one client of the service.
void serve(const Request& request, PatternRun& run, VersionOracle& oracle, ClientResult& out) {
  const std::string key = UserDb::key(request.id);
  const auto t0 = Clock::now();
  try {
    if (request.write) {
      ++out.writes;
      const std::lock_guard lock(oracle.lock(request.id));
      const std::int64_t version = oracle.acknowledged(request.id) + 1;
      run.write(key, user_at(request.id, version));
      oracle.acknowledge(request.id, version);
    } else {
      ++out.reads;
      const std::int64_t floor = oracle.acknowledged(request.id);
      const std::uint64_t calls_before = t_source_reads;
      const auto user = run.read(key);
      if (t_source_reads == calls_before) ++out.hits;
      if (VersionOracle::stale(floor, user ? std::optional(user->version) : std::nullopt)) {
        ++out.stale_reads;
      }
    }
  } catch (const std::exception&) {
    ++out.errors;  // strata's typed errors, and anything else: never out of a client thread
  }
  out.latency.record(Clock::now() - t0);
}

// Replays `requests` through the pattern with options.clients concurrent clients, each taking
// the next request in turn (a closed loop: a client sends its next request when the previous
// one is answered), then drains the pattern and reads every row back.
PatternResult replay(const UserServiceOptions& options, const std::vector<Request>& requests,
                     const Pattern& pattern) {
  UserDb db(options);
  PatternRun run = pattern.start(db);
  if (options.metrics) run.register_metrics(*options.metrics, pattern.name);
  const std::uint64_t total = requests.size();
  const std::uint64_t progress_every = std::max<std::uint64_t>(1, total / 200);
  VersionOracle oracle(options.users);
  std::vector<ClientResult> clients(options.clients);
  std::atomic<std::uint64_t> next{0};
  std::atomic<std::uint64_t> done{0};
  std::mutex progress_mutex;
  std::latch ready(static_cast<std::ptrdiff_t>(options.clients) + 1);

  // A progress callback that throws stops every client; the exception is rethrown here, never
  // out of a client thread (a request's own errors are counted, in serve()).
  std::exception_ptr failure;
  const auto client = [&](ClientResult& out) {
    ready.arrive_and_wait();
    try {
      for (std::uint64_t i = next.fetch_add(1); i < total; i = next.fetch_add(1)) {
        serve(requests[i], run, oracle, out);
        const std::uint64_t finished = done.fetch_add(1) + 1;
        if (options.progress && finished % progress_every == 0 && finished < total) {
          const std::lock_guard lock(progress_mutex);
          options.progress(pattern.name, finished, total);
        }
      }
    } catch (...) {
      const std::lock_guard lock(progress_mutex);
      if (!failure) failure = std::current_exception();
      next.store(total);
    }
  };
  Clock::time_point start;
  {
    std::vector<std::jthread> threads;
    threads.reserve(clients.size());
    try {
      for (auto& out : clients) threads.emplace_back(client, std::ref(out));
    } catch (...) {
      // No thread to start: release the started ones (with no requests left), then fail.
      next.store(total);
      ready.count_down(static_cast<std::ptrdiff_t>(clients.size() - threads.size()) + 1);
      throw;
    }
    start = Clock::now();
    ready.arrive_and_wait();
  }  // joined: every request answered
  if (failure) std::rethrow_exception(failure);
  PatternResult result;
  result.pattern = pattern.name;
  result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  for (const auto& c : clients) {
    result.reads += c.reads;
    result.writes += c.writes;
    result.hits += c.hits;
    result.stale_reads += c.stale_reads;
    result.errors += c.errors;
    result.latency.merge(c.latency);
  }
  result.operations = result.reads + result.writes;
  try {
    run.drain();
  } catch (const Error&) {
    ++result.errors;
  }
  if (options.progress) options.progress(pattern.name, total, total);
  result.durability = run.durability();
  if (result.durability.empty()) result.durability = db.commit_durability();
  const auto& counters = db.counters();
  result.source_reads = counters.reads.load();
  result.source_writes = counters.writes.load();

  // Read every row back: an acknowledged write the source does not hold is a lost write.
  for (std::int64_t id = 1; id <= static_cast<std::int64_t>(options.users); ++id) {
    const auto user = db.read_back(id);
    if (oracle.lost(id, user ? std::optional(user->version) : std::nullopt)) ++result.lost_writes;
  }
  return result;
}

// A Cache<User> as one pattern's PatternRun keeps it (shared: std::function needs copies).
using SharedCache = std::shared_ptr<Cache<User>>;

SharedCache share(Cache<User> cache) {
  return std::make_shared<Cache<User>>(std::move(cache));
}

// Registers `cache` under the pattern's name.
void with_metrics(PatternRun& run, const SharedCache& cache) {
  run.register_metrics = [cache](MetricsRegistry& registry, const std::string& name) {
    registry.add_cache(name, *cache);
  };
}

// Reads with get(), writes the table then invalidates.
PatternRun read_through_run(SharedCache cache, std::shared_ptr<FunctionSource<User>> source) {
  PatternRun run{[cache](const std::string& key) { return cache->get(key); },
                 [cache, source](const std::string& key, const User& user) {
                   source->write(key, user);
                   cache->invalidate(key);
                 }};
  with_metrics(run, cache);
  return run;
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
                   PatternRun run{[cache, source](const std::string& key) {
                                    return cache->get_or_load(
                                        key, [&](std::string_view k) { return source->load(k); });
                                  },
                                  [cache, source](const std::string& key, const User& user) {
                                    source->write(key, user);
                                    cache->invalidate(key);
                                  }};
                   with_metrics(run, cache);
                   return run;
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
                   PatternRun run{[cache](const std::string& key) { return cache->get(key); },
                                  [cache](const std::string& key, const User& user) {
                                    cache->put(key, user);
                                  }};
                   with_metrics(run, cache);
                   return run;
                 }});
  out.push_back({"write-behind", [l1](UserDb& db) {
                   auto journal = std::make_shared<WriteBehind<User>>(
                       WriteBehindOptions{.directory = db.dir() / "write-behind",
                                          .fsync = FsyncPolicy::kEveryWrite},
                       db.source());
                   auto cache = share(CacheBuilder<User>()
                                          .local(l1)
                                          .source(db.source())
                                          .write_mode(WriteMode::kWriteBehind)
                                          .write_behind_sink(journal)
                                          .build());
                   PatternRun run{
                       [cache](const std::string& key) { return cache->get(key); },
                       [cache](const std::string& key, const User& user) { cache->put(key, user); },
                       [journal] { journal->flush(); }};
                   run.durability = [journal] {
                     const auto stats = journal->stats();
                     const double per_fsync = stats.fsyncs > 0
                                                  ? static_cast<double>(stats.acknowledged) /
                                                        static_cast<double>(stats.fsyncs)
                                                  : 0.0;
                     return "fsynced to the journal by group commit (" +
                            std::to_string(stats.fsyncs) + " fsyncs, " +
                            tools::fixed(per_fsync, 1) + " writes each), then flushed in batches";
                   };
                   run.register_metrics = [cache, journal](MetricsRegistry& registry,
                                                           const std::string& name) {
                     registry.add_cache(name, *cache);
                     registry.add_write_behind(name, journal);
                   };
                   return run;
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
                     PatternRun run{[cache](const std::string& key) { return cache->get(key); },
                                    [cache](const std::string& key, const User& user) {
                                      // write-around: the table, then invalidate
                                      cache->put(key, user);
                                    }};
                     with_metrics(run, cache);
                     return run;
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
  if (source_connections > 1024) {
    throw InvalidArgumentError("--source-connections must be within [0, 1024]");
  }
  if (clients < 1 || clients > 1024)
    throw InvalidArgumentError("--clients must be within [1, 1024]");
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
  if (source_latency.count() < 0) throw InvalidArgumentError("--source-rtt must be >= 0");
}

void apply_scenario(const nlohmann::json& scenario, UserServiceOptions& options) {
  if (!scenario.is_object()) throw InvalidArgumentError("scenario: must be a JSON object");
  for (const auto& [key, value] : scenario.items()) {
    try {
      if (key == "name" || key == "description") {
        (void)value.get<std::string>();
      } else if (key == "users") {
        options.users = value.get<std::uint64_t>();
      } else if (key == "operations") {
        options.operations = value.get<std::uint64_t>();
      } else if (key == "clients") {
        options.clients = value.get<std::uint64_t>();
      } else if (key == "source_connections") {
        options.source_connections = value.get<std::uint64_t>();
      } else if (key == "zipf_s") {
        options.zipf_s = value.get<double>();
      } else if (key == "write_fraction") {
        options.write_fraction = value.get<double>();
      } else if (key == "cache_fraction") {
        options.cache_fraction = value.get<double>();
      } else if (key == "seed") {
        options.seed = value.get<std::uint64_t>();
      } else if (key == "source_latency_us") {
        options.source_latency = std::chrono::microseconds(value.get<std::int64_t>());
      } else {
        throw InvalidArgumentError("scenario: unknown key \"" + key + "\"");
      }
    } catch (const nlohmann::json::exception& e) {
      throw InvalidArgumentError("scenario: \"" + key + "\" has the wrong type (" + e.what() + ")");
    }
  }
}

void load_scenario(const std::filesystem::path& file, UserServiceOptions& options) {
  std::ifstream in(file);
  if (!in) throw InvalidArgumentError("--scenario: cannot read " + file.string());
  nlohmann::json scenario;
  try {
    scenario = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw InvalidArgumentError("--scenario: " + file.string() + " is not JSON: " + e.what());
  }
  apply_scenario(scenario, options);
}

nlohmann::ordered_json scenario_json(const UserServiceOptions& o) {
  return {{"users", o.users},
          {"operations", o.operations},
          {"clients", o.clients},
          {"zipf_s", o.zipf_s},
          {"write_fraction", o.write_fraction},
          {"cache_fraction", o.cache_fraction},
          {"seed", o.seed},
          {"source_latency_us", o.source_latency.count()},
          {"source_connections", o.source_connections}};
}

// BulkComparison: per round, two fresh caches over the same table, each warmed with the same
// half of the keys, then timed: `keys` get_or_load calls on one, one get_or_load_many on the other.
BulkComparison compare_bulk(const UserServiceOptions& options) {
  UserDb db(options);
  BulkComparison out;
  out.keys = std::min<std::uint64_t>(1000, options.users);
  out.rounds = 5;
  std::vector<std::string> keys;
  std::vector<std::string> warm;
  for (std::uint64_t i = 1; i <= out.keys; ++i) {
    keys.push_back(UserDb::key(static_cast<std::int64_t>(i)));
    if (i % 2 == 0) warm.push_back(keys.back());
  }
  out.misses = keys.size() - warm.size();
  auto source = db.source();
  auto make_cache = [&] {
    CacheBuilder<User> builder;
    builder.local({.maximum_size = 2 * out.keys});
    if (!options.redis_url.empty()) {
      builder.remote(RedisClient(options.redis_url), {.ttl = std::chrono::minutes(10)})
          .key_prefix(unique_prefix());
    }
    auto cache = builder.build();
    (void)cache.get_or_load_many(
        warm, [&](std::span<const std::string> ks) { return source->load_many(ks); });
    return cache;
  };
  std::vector<double> single_ms;
  std::vector<double> bulk_ms;
  for (int round = 0; round < out.rounds; ++round) {
    {
      auto cache = make_cache();
      const std::uint64_t before = db.counters().calls;
      const auto start = std::chrono::steady_clock::now();
      for (const auto& key : keys) {
        (void)cache.get_or_load(key, [&](std::string_view k) { return source->load(k); });
      }
      single_ms.push_back(
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
              .count());
      out.single_source_calls = db.counters().calls - before;
    }
    {
      auto cache = make_cache();
      const std::uint64_t before = db.counters().calls;
      const auto start = std::chrono::steady_clock::now();
      (void)cache.get_or_load_many(
          keys, [&](std::span<const std::string> ks) { return source->load_many(ks); });
      bulk_ms.push_back(
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
              .count());
      out.bulk_source_calls = db.counters().calls - before;
    }
  }
  out.single_ms = tools::median(single_ms);
  out.bulk_ms = tools::median(bulk_ms);
  return out;
}

UserServiceReport run_user_service(const UserServiceOptions& options) {
  options.validate();
  const auto requests = make_requests(options);
  UserServiceReport report{options, {}, {}, {}};
  if (!options.postgres_url.empty())
    report.postgres_fsync = tools::RawPostgres(options.postgres_url).show("fsync");
  for (const Pattern& pattern : patterns(options)) {
    report.patterns.push_back(replay(options, requests, pattern));
  }
  report.bulk = compare_bulk(options);
  return report;
}

std::optional<double> UserServiceReport::vs_no_cache(const PatternResult& p) const {
  if (patterns.empty() || patterns.front().pattern != "no cache") return std::nullopt;
  return tools::ratio(p.ops_per_sec(), patterns.front().ops_per_sec());
}

std::optional<double> UserServiceReport::cache_aside_vs_bound() const {
  const PatternResult* aside = find("cache-aside");
  if (aside == nullptr || aside->reads == 0 || aside->hit_ratio() >= 1.0) return std::nullopt;
  const auto ratio = vs_no_cache(*aside);
  if (!ratio) return std::nullopt;
  return *ratio * (1.0 - aside->hit_ratio());  // ratio / (1 / (1 - hit ratio))
}

std::optional<double> UserServiceReport::write_behind_vs_write_through() const {
  const PatternResult* behind = find("write-behind");
  const PatternResult* through = find("write-through");
  if (behind == nullptr || through == nullptr) return std::nullopt;
  return tools::ratio(behind->ops_per_sec(), through->ops_per_sec());
}

const PatternResult* UserServiceReport::find(std::string_view name) const {
  for (const auto& p : patterns) {
    if (p.pattern == name) return &p;
  }
  return nullptr;
}

void print_table(std::ostream& out, const UserServiceReport& report) {
  const auto& o = report.options;
  // On PostgreSQL the server's fsync setting: fsync=off (the test server) flatters writes.
  const std::string backend =
      o.postgres_url.empty() ? "SQLite" : "PostgreSQL (server fsync=" + report.postgres_fsync + ")";
  const std::string connections = o.source_connections == 0
                                      ? std::string("unlimited connections")
                                      : std::to_string(o.source_connections) + " connections to it";
  char line[480];
  std::snprintf(line, sizeof line,
                "strata bench: %llu concurrent clients, %llu requests (Zipf s=%.2f, %.0f%% writes, "
                "seed %llu) over %llu users in %s,\n  a round trip of %.3g ms added to every "
                "source call, %s, L1 sized for %.0f%% of the users\n\n",
                static_cast<unsigned long long>(o.clients),
                static_cast<unsigned long long>(o.operations), o.zipf_s, o.write_fraction * 100,
                static_cast<unsigned long long>(o.seed), static_cast<unsigned long long>(o.users),
                backend.c_str(), static_cast<double>(o.source_latency.count()) / 1000.0,
                connections.c_str(), o.cache_fraction * 100);
  out << line;
  tools::TextTable table(
      {"pattern", "vs no cache", "ops/s", "hit ratio", "p50 us", "p99 us", "p99.9 us",
       "source reads", "source writes", "stale", "lost", "errors"},
      {true, false, false, false, false, false, false, false, false, false, false, false});
  for (const auto& p : report.patterns) {
    table.add({p.pattern, tools::times(report.vs_no_cache(p)), tools::fixed(p.ops_per_sec(), 0),
               tools::fixed(p.hit_ratio() * 100, 1) + "%",
               tools::fixed(tools::percentile_us(p.latency, 50), 1),
               tools::fixed(tools::percentile_us(p.latency, 99), 1),
               tools::fixed(tools::percentile_us(p.latency, 99.9), 1),
               std::to_string(p.source_reads), std::to_string(p.source_writes),
               std::to_string(p.stale_reads), std::to_string(p.lost_writes),
               std::to_string(p.errors)});
  }
  table.print(out);
  if (const PatternResult* aside = report.find("cache-aside")) {
    if (const auto share = report.cache_aside_vs_bound()) {
      out << "\ncache-aside: " << tools::times(report.vs_no_cache(*aside)) << " no cache; its hit "
          << "ratio (" << tools::fixed(aside->hit_ratio() * 100, 1) << "%) allows "
          << tools::times(1.0 / (1.0 - aside->hit_ratio())) << ": " << tools::fixed(*share, 2)
          << " of that bound (target >= 0.8)\n";
    }
  }
  // Which patterns acknowledge what, grouped (most share the source's commit).
  std::vector<std::pair<std::string, std::string>> levels;  // durability, patterns
  for (const auto& p : report.patterns) {
    if (p.writes == 0 || p.durability.empty()) continue;
    const auto it = std::find_if(levels.begin(), levels.end(),
                                 [&](const auto& level) { return level.first == p.durability; });
    if (it == levels.end()) {
      levels.emplace_back(p.durability, p.pattern);
    } else {
      it->second += ", " + p.pattern;
    }
  }
  if (!levels.empty()) out << "\nan acknowledged write is\n";
  for (const auto& [level, names] : levels) out << "  " << names << ": " << level << '\n';
  if (const PatternResult* behind = report.find("write-behind"); behind && behind->writes > 0) {
    if (const auto r = report.write_behind_vs_write_through()) {
      out << "write-behind: " << tools::times(*r) << " write-through's throughput (target >= 5x "
          << "in bench/scenarios/write_only.json)\n";
    }
  }
  const BulkComparison& b = report.bulk;
  std::snprintf(line, sizeof line,
                "\nbulk read of %llu keys, %llu of them misses (%s, median of %d rounds): "
                "%llu get_or_load calls: %llu source calls, %.2f ms; one get_or_load_many: %llu "
                "source call(s), %.2f ms; %.1fx faster\n",
                static_cast<unsigned long long>(b.keys), static_cast<unsigned long long>(b.misses),
                o.redis_url.empty() ? "L1" : "L1 + L2", b.rounds,
                static_cast<unsigned long long>(b.keys),
                static_cast<unsigned long long>(b.single_source_calls), b.single_ms,
                static_cast<unsigned long long>(b.bulk_source_calls), b.bulk_ms, b.speedup());
  out << line;
}

nlohmann::ordered_json to_json(const UserServiceReport& report) {
  const auto& o = report.options;
  nlohmann::ordered_json patterns = nlohmann::ordered_json::array();
  const auto number_or_null = [](std::optional<double> v) {
    return v ? nlohmann::ordered_json(*v) : nlohmann::ordered_json(nullptr);
  };
  for (const auto& p : report.patterns) {
    patterns.push_back({{"pattern", p.pattern},
                        {"operations", p.operations},
                        {"ops_per_sec", p.ops_per_sec()},
                        {"vs_no_cache", number_or_null(report.vs_no_cache(p))},
                        {"hit_ratio", p.hit_ratio()},
                        {"source_reads", p.source_reads},
                        {"source_writes", p.source_writes},
                        {"p50_us", tools::percentile_us(p.latency, 50)},
                        {"p99_us", tools::percentile_us(p.latency, 99)},
                        {"p999_us", tools::percentile_us(p.latency, 99.9)},
                        {"stale_reads", p.stale_reads},
                        {"lost_writes", p.lost_writes},
                        {"errors", p.errors},
                        {"durability", p.durability}});
  }
  return {{"source", o.postgres_url.empty() ? "sqlite" : "postgres"},
          {"postgres_fsync", report.postgres_fsync.empty()
                                 ? nlohmann::ordered_json(nullptr)
                                 : nlohmann::ordered_json(report.postgres_fsync)},
          {"source_latency_us", o.source_latency.count()},
          {"source_connections", o.source_connections},
          {"clients", o.clients},
          {"users", o.users},
          {"operations", o.operations},
          {"zipf_s", o.zipf_s},
          {"write_fraction", o.write_fraction},
          {"cache_fraction", o.cache_fraction},
          {"seed", o.seed},
          {"cache_aside_vs_bound", number_or_null(report.cache_aside_vs_bound())},
          {"write_behind_vs_write_through", number_or_null(report.write_behind_vs_write_through())},
          {"patterns", std::move(patterns)},
          {"bulk",
           {{"keys", report.bulk.keys},
            {"misses", report.bulk.misses},
            {"rounds", report.bulk.rounds},
            {"single_source_calls", report.bulk.single_source_calls},
            {"bulk_source_calls", report.bulk.bulk_source_calls},
            {"single_ms", report.bulk.single_ms},
            {"bulk_ms", report.bulk.bulk_ms},
            {"speedup", report.bulk.speedup()}}}};
}

}  // namespace strata::bench

namespace strata::bench {
namespace {

// Text for SVG: &, <, >, " escaped.
std::string xml_escape(std::string_view text) {
  std::string out;
  for (const char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string fmt(const char* format, double value) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, value);
  return buf;
}

}  // namespace

// Two panels side by side: hit ratio (0-100%) and latency (p50 and p99, log scale in us, so the
// no-cache and cached patterns both stay readable), one group of bars per pattern.
void write_svg(std::ostream& out, const UserServiceReport& report) {
  const auto& ps = report.patterns;
  const double n = static_cast<double>(std::max<std::size_t>(1, ps.size()));
  const double panel_w = std::max(360.0, 70.0 * n + 80);
  const double left = 60, top = 50, plot_h = 200, gap = 40;
  const double width = 2 * panel_w + gap, height = top + plot_h + 75;
  const double plot_w = panel_w - left - 20;
  const double slot = plot_w / n;
  double max_us = 1;
  for (const auto& p : ps) {
    max_us = std::max(max_us, tools::percentile_us(p.latency, 99));
  }
  const double decades = std::max(1.0, std::ceil(std::log10(max_us)) + 1);  // from 0.1 us
  const auto y_latency = [&](double us) {
    const double v = std::clamp(std::log10(std::max(us, 0.1)) + 1, 0.0, decades);
    return top + plot_h - plot_h * v / decades;
  };
  out << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height
      << "\" viewBox=\"0 0 " << width << " " << height << "\" font-family=\"sans-serif\" "
      << "font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  out << "<text x=\"" << width / 2 << "\" y=\"20\" text-anchor=\"middle\" font-size=\"15\">"
      << xml_escape("strata bench: " + std::to_string(report.options.users) + " users, " +
                    std::to_string(report.options.operations) + " requests, " +
                    (report.options.postgres_url.empty() ? "SQLite" : "PostgreSQL"))
      << "</text>\n";
  const char* colors[] = {"#4e79a7", "#f28e2b", "#e15759"};
  for (int panel = 0; panel < 2; ++panel) {
    const double x0 = panel * (panel_w + gap) + left;
    out << "<g>\n<text x=\"" << x0 + plot_w / 2 << "\" y=\"" << top - 10
        << "\" text-anchor=\"middle\" font-weight=\"bold\">"
        << (panel == 0 ? "hit ratio (%)" : "latency (us, log scale): p50, p99") << "</text>\n";
    // Axes and grid.
    out << "<line x1=\"" << x0 << "\" y1=\"" << top << "\" x2=\"" << x0 << "\" y2=\""
        << top + plot_h << "\" stroke=\"black\"/>\n<line x1=\"" << x0 << "\" y1=\"" << top + plot_h
        << "\" x2=\"" << x0 + plot_w << "\" y2=\"" << top + plot_h << "\" stroke=\"black\"/>\n";
    const int ticks = panel == 0 ? 5 : static_cast<int>(decades);
    for (int t = 0; t <= ticks; ++t) {
      const double y = top + plot_h - plot_h * t / ticks;
      const std::string label =
          panel == 0 ? fmt("%.0f", 100.0 * t / ticks) : fmt("%g", std::pow(10.0, t - 1));
      out << "<line x1=\"" << x0 << "\" y1=\"" << y << "\" x2=\"" << x0 + plot_w << "\" y2=\"" << y
          << "\" stroke=\"#ddd\"/>\n<text x=\"" << x0 - 5 << "\" y=\"" << y + 4
          << "\" text-anchor=\"end\">" << label << "</text>\n";
    }
    for (std::size_t i = 0; i < ps.size(); ++i) {
      const auto& p = ps[i];
      const double cx = x0 + slot * (static_cast<double>(i) + 0.5);
      if (panel == 0) {
        const double h = plot_h * p.hit_ratio();
        out << "<rect x=\"" << cx - slot * 0.3 << "\" y=\"" << top + plot_h - h << "\" width=\""
            << slot * 0.6 << "\" height=\"" << h << "\" fill=\"" << colors[0] << "\"/>\n";
        out << "<text x=\"" << cx << "\" y=\"" << top + plot_h - h - 4
            << "\" text-anchor=\"middle\" font-size=\"10\">" << fmt("%.1f", p.hit_ratio() * 100)
            << "</text>\n";
      } else {
        const double values[] = {tools::percentile_us(p.latency, 50),
                                 tools::percentile_us(p.latency, 99)};
        for (int k = 0; k < 2; ++k) {
          const double y = y_latency(values[k]);
          const double x = cx - slot * 0.35 + k * slot * 0.35;
          out << "<rect x=\"" << x << "\" y=\"" << y << "\" width=\"" << slot * 0.33
              << "\" height=\"" << top + plot_h - y << "\" fill=\"" << colors[k + 1] << "\"/>\n";
          out << "<text x=\"" << x + slot * 0.165 << "\" y=\"" << y - 3
              << "\" text-anchor=\"middle\" font-size=\"9\">" << fmt("%.3g", values[k])
              << "</text>\n";
        }
      }
      out << "<text x=\"" << cx << "\" y=\"" << top + plot_h + 14
          << "\" text-anchor=\"end\" font-size=\"10\" transform=\"rotate(-30 " << cx << " "
          << top + plot_h + 14 << ")\">" << xml_escape(p.pattern) << "</text>\n";
    }
    if (panel == 1) {
      const double lx = x0 + 10;  // top left: the bars grow from the bottom
      for (int k = 0; k < 2; ++k) {
        out << "<rect x=\"" << lx << "\" y=\"" << top + 5 + 16 * k
            << "\" width=\"10\" height=\"10\" fill=\"" << colors[k + 1] << "\"/>\n<text x=\""
            << lx + 14 << "\" y=\"" << top + 14 + 16 * k << "\">" << (k == 0 ? "p50" : "p99")
            << "</text>\n";
      }
    }
    out << "</g>\n";
  }
  out << "</svg>\n";
}

}  // namespace strata::bench
