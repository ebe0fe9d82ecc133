#include "bench/coherence/coherence_bench.h"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <thread>

#include "common/stats.h"
#include "common/temp_dir.h"
#include "common/text_table.h"
#include "strata/cache/cache.h"
#include "strata/codec/json.h"
#include "strata/error.h"
#include "strata/invalidation/invalidation.h"
#include "strata/redis/redis_url.h"
#include "strata/source/sqlite_source.h"
#include "strata/source/table_mapping.h"

extern char** environ;

namespace strata::bench {
namespace {

struct Item {
  std::int64_t version = 0;
  std::string payload;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Item, version, payload)

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void sleep_until_ns(std::int64_t t) {
  const auto wait = t - now_ns();
  if (wait > 0) std::this_thread::sleep_for(std::chrono::nanoseconds(wait));
}

std::string key_of(int i) {
  return "item-" + std::to_string(i);
}

std::shared_ptr<SqliteSource<Item>> open_source(const std::string& dir) {
  return std::make_shared<SqliteSource<Item>>(
      SqliteOptions{.path = (std::filesystem::path(dir) / "items.db").string()},
      TableMapping<Item>::columns(
          "items", "id", {column("version", &Item::version), column("payload", &Item::payload)})
          .create_table_if_missing());
}

L1Coherence mode_of(const std::string& mode) {
  if (mode == "none") return L1Coherence::kNone;
  if (mode == "tracking") return L1Coherence::kTracking;
  if (mode == "bus") return L1Coherence::kBus;
  throw InvalidArgumentError("bench coherence: unknown mode '" + mode + "' (none, tracking, bus)");
}

// `bus` (mode bus only) must outlive the cache.
Cache<Item> make_cache(const CoherenceBenchOptions& o, const CoherenceWorkerOptions& w,
                       std::shared_ptr<SqliteSource<Item>> source,
                       const std::shared_ptr<InvalidationBus>& bus) {
  LocalTierOptions local{.maximum_size = static_cast<std::uint64_t>(o.keys) * 2};
  if (w.mode == "none") local.ttl = o.local_ttl;
  CacheBuilder<Item> builder;
  builder.local(local)
      .remote(RedisClient(w.url), {.ttl = std::chrono::minutes(10)})
      .source(std::move(source))
      .key_prefix(w.prefix)
      .write_mode(WriteMode::kWriteThrough)
      .coherence(mode_of(w.mode));
  if (bus) builder.invalidation_bus(bus);
  return builder.build();
}

// Children spawned by one run; killed and reaped if the run ends early.
class Workers {
 public:
  Workers() = default;
  Workers(const Workers&) = delete;
  Workers& operator=(const Workers&) = delete;
  ~Workers() {
    for (const pid_t pid : pids_) {
      ::kill(pid, SIGKILL);
      int status = 0;
      ::waitpid(pid, &status, 0);
    }
  }
  void spawn(const std::vector<std::string>& args) {
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    pid_t pid = 0;
    if (::posix_spawn(&pid, args[0].c_str(), nullptr, nullptr, argv.data(), environ) != 0) {
      throw UnavailableError("bench coherence: cannot start a worker (" + args[0] + ")");
    }
    pids_.push_back(pid);
  }
  // Waits for every worker; throws if one failed.
  void wait_all() {
    std::string failed;
    while (!pids_.empty()) {
      const pid_t pid = pids_.back();
      int status = 0;
      ::waitpid(pid, &status, 0);
      pids_.pop_back();
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) failed += " " + std::to_string(pid);
    }
    if (!failed.empty()) throw InternalError("bench coherence: worker(s) failed:" + failed);
  }

 private:
  std::vector<pid_t> pids_;
};

struct Write {
  int key;
  std::int64_t version;
  std::int64_t ack_ns;
};

struct Read {
  int key;
  std::int64_t version;
  std::int64_t start_ns;
  std::int64_t end_ns;
};

CoherenceModeResult run_mode(const CoherenceBenchOptions& o, const std::string& url,
                             const std::string& mode) {
  tools::TempDir dir("strata-coherence");
  const std::string prefix = "strata-bench:coherence:" + std::to_string(::getpid()) + ":" +
                             std::to_string(now_ns()) + ":" + mode + ":";
  {
    auto source = open_source(dir.path().string());
    std::vector<KeyValue<Item>> rows;
    for (int k = 0; k < o.keys; ++k) rows.emplace_back(key_of(k), Item{0, "v0"});
    source->write_batch(std::span<const KeyValue<Item>>(rows));
  }
  const std::int64_t start = now_ns() + 500'000'000;  // time for every worker to connect
  Workers workers;
  auto spawn = [&](const std::string& role, int index) {
    workers.spawn({o.executable,
                   "bench",
                   "coherence",
                   "--worker",
                   role,
                   "--worker-index",
                   std::to_string(index),
                   "--worker-dir",
                   dir.path().string(),
                   "--worker-mode",
                   mode,
                   "--worker-url",
                   url,
                   "--worker-prefix",
                   prefix,
                   "--worker-start",
                   std::to_string(start),
                   "--writers",
                   std::to_string(o.writers),
                   "--readers",
                   std::to_string(o.readers),
                   "--keys",
                   std::to_string(o.keys),
                   "--write-rate",
                   std::to_string(o.write_rate),
                   "--read-rate",
                   std::to_string(o.read_rate),
                   "--duration-ms",
                   std::to_string(o.duration.count()),
                   "--quiesce-ms",
                   std::to_string(o.quiesce.count()),
                   "--local-ttl-ms",
                   std::to_string(o.local_ttl.count())});
  };
  for (int i = 0; i < o.writers; ++i) spawn("writer", i);
  for (int i = 0; i < o.readers; ++i) spawn("reader", i);
  workers.wait_all();

  // Replay the logs.
  std::vector<std::vector<Write>> writes(
      static_cast<std::size_t>(o.keys));  // per key, in version order
  CoherenceModeResult r;
  r.mode = mode;
  for (int i = 0; i < o.writers; ++i) {
    std::ifstream in(dir.path() / ("writer-" + std::to_string(i) + ".log"));
    Write w{};
    while (in >> w.key >> w.version >> w.ack_ns) {
      writes[static_cast<std::size_t>(w.key)].push_back(w);
      ++r.writes;
    }
  }
  for (auto& list : writes) {
    std::sort(list.begin(), list.end(),
              [](const Write& a, const Write& b) { return a.version < b.version; });
  }
  std::vector<double> windows;  // one per (write, reader)
  std::uint64_t hits = 0, misses = 0;
  for (int i = 0; i < o.readers; ++i) {
    std::map<std::pair<int, std::size_t>, double> missed;  // (key, write index) -> window ms
    std::ifstream in(dir.path() / ("reader-" + std::to_string(i) + ".log"));
    Read rd{};
    while (in >> rd.key >> rd.version >> rd.start_ns >> rd.end_ns) {
      ++r.reads;
      const auto& list = writes[static_cast<std::size_t>(rd.key)];
      bool stale = false;
      for (std::size_t j = 0; j < list.size(); ++j) {
        const Write& w = list[j];
        if (w.version <= rd.version || w.ack_ns >= rd.start_ns) continue;
        stale = true;
        double& window = missed[{rd.key, j}];
        window = std::max(window, static_cast<double>(rd.end_ns - w.ack_ns) / 1e6);
      }
      if (stale) ++r.stale_reads;
    }
    for (const auto& list : writes) {
      for (std::size_t j = 0; j < list.size(); ++j) {
        const auto it = missed.find({list[j].key, j});
        windows.push_back(it == missed.end() ? 0.0 : it->second);
      }
    }
    std::ifstream summary(dir.path() / ("reader-" + std::to_string(i) + ".summary"));
    std::uint64_t h = 0, m = 0, q = 0, inv = 0, fl = 0;
    if (!(summary >> h >> m >> q >> inv >> fl)) {
      throw InternalError("bench coherence: reader " + std::to_string(i) + " left no summary");
    }
    hits += h;
    misses += m;
    r.stale_after_quiesce += q;
    r.invalidations += inv;
    r.flushes += fl;
  }
  const auto staleness = tools::histogram_of_ms(windows);
  r.staleness_ms_p50 = tools::percentile_ms(staleness, 50);
  r.staleness_ms_p99 = tools::percentile_ms(staleness, 99);
  r.staleness_ms_max = tools::max_of(windows);
  r.l1_hit_ratio =
      hits + misses == 0 ? 0 : static_cast<double>(hits) / static_cast<double>(hits + misses);
  return r;
}

}  // namespace

void CoherenceBenchOptions::validate() const {
  auto positive = [](long long v, const char* name) {
    if (v <= 0)
      throw InvalidArgumentError(std::string("bench coherence: ") + name + " must be > 0");
  };
  positive(writers, "--writers");
  positive(readers, "--readers");
  positive(keys, "--keys");
  positive(write_rate, "--write-rate");
  positive(read_rate, "--read-rate");
  positive(duration.count(), "--duration-ms");
  positive(local_ttl.count(), "--local-ttl-ms");
  if (quiesce.count() < 0) throw InvalidArgumentError("bench coherence: --quiesce-ms must be >= 0");
  if (writers > keys) throw InvalidArgumentError("bench coherence: --writers must be <= --keys");
  if (writers + readers > 64) {
    throw InvalidArgumentError("bench coherence: at most 64 worker processes");
  }
  if (modes.empty()) throw InvalidArgumentError("bench coherence: --modes is empty");
  for (const auto& mode : modes) (void)mode_of(mode);
  if (redis_url.empty() && cluster_url.empty()) {
    throw InvalidArgumentError("bench coherence: give --redis and/or --redis-cluster");
  }
}

void run_coherence_worker(const CoherenceBenchOptions& o, const CoherenceWorkerOptions& w) {
  auto source = open_source(w.dir);
  std::shared_ptr<InvalidationBus> bus;
  if (w.mode == "bus") bus = std::make_shared<InvalidationBus>(w.url);
  Cache<Item> cache = make_cache(o, w, source, bus);
  const std::int64_t end = w.start_ns + std::chrono::nanoseconds(o.duration).count();
  const std::string base =
      (std::filesystem::path(w.dir) / (w.role + "-" + std::to_string(w.index))).string();
  std::mt19937_64 rng(static_cast<std::uint64_t>(w.index) * 7919 + (w.role == "writer" ? 1 : 2));
  if (w.role == "writer") {
    // Writer i owns keys i, i + writers, ...: one writer per key, so versions grow in commit order.
    std::vector<int> own;
    for (int k = w.index; k < o.keys; k += o.writers) own.push_back(k);
    std::vector<std::int64_t> version(own.size(), 0);
    const double per_writer = static_cast<double>(o.write_rate) / o.writers;
    const auto interval = static_cast<std::int64_t>(1e9 / per_writer);
    std::ostringstream log;
    sleep_until_ns(w.start_ns);
    for (std::int64_t next = w.start_ns; next < end; next += interval) {
      sleep_until_ns(next);
      const std::size_t i = rng() % own.size();
      const std::int64_t v = ++version[i];
      cache.put(key_of(own[i]), Item{v, "v" + std::to_string(v)});
      log << own[i] << ' ' << v << ' ' << now_ns() << '\n';
    }
    std::ofstream(base + ".log") << log.str();
    return;
  }
  if (w.role != "reader")
    throw InvalidArgumentError("bench coherence: unknown worker role " + w.role);
  // Readers: warm L1 before the start, then read at the set rate.
  for (int k = 0; k < o.keys; ++k) (void)cache.get(key_of(k));
  const TieredCacheStats warm = cache.stats();
  const auto interval = static_cast<std::int64_t>(1e9 / o.read_rate);
  std::ostringstream log;
  sleep_until_ns(w.start_ns);
  for (std::int64_t next = w.start_ns; next < end; next += interval) {
    sleep_until_ns(next);
    const int k = static_cast<int>(rng() % static_cast<std::uint64_t>(o.keys));
    const std::int64_t t0 = now_ns();
    const std::optional<Item> item = cache.get(key_of(k));
    const std::int64_t t1 = now_ns();
    log << k << ' ' << (item ? item->version : -1) << ' ' << t0 << ' ' << t1 << '\n';
  }
  const TieredCacheStats run = cache.stats();
  // Quiescence: the writers are done; after the quiesce period no value read may be stale.
  auto quiesce = o.quiesce;
  if (w.mode == "none") quiesce += o.local_ttl;
  sleep_until_ns(end + std::chrono::nanoseconds(quiesce).count() +
                 100'000'000);  // + writers' last write
  std::uint64_t stale = 0;
  for (int k = 0; k < o.keys; ++k) {
    const std::optional<Item> cached = cache.get(key_of(k));
    const std::optional<Item> truth = source->load(key_of(k));
    if (!cached || !truth || cached->version != truth->version) ++stale;
  }
  const TieredCacheStats s = cache.stats();
  std::uint64_t invalidations = s.tracking.keys_invalidated;
  std::uint64_t flushes = s.tracking.flushes;
  if (bus) {
    const InvalidationBusStats b = bus->stats();
    invalidations = b.keys_dropped;
    flushes = b.l1_flushes;
  }
  std::ofstream(base + ".log") << log.str();
  std::ofstream(base + ".summary")
      << (run.l1.hits - warm.l1.hits) << ' ' << (run.l1.misses - warm.l1.misses) << ' ' << stale
      << ' ' << invalidations << ' ' << flushes << '\n';
}

CoherenceBenchReport run_coherence_bench(const CoherenceBenchOptions& options) {
  options.validate();
  if (options.executable.empty())
    throw InvalidArgumentError("bench coherence: no executable to spawn");
  CoherenceBenchReport report;
  report.options = options;
  auto run_target = [&](const std::string& name, const std::string& url) {
    CoherenceTarget target;
    target.name = name;
    target.url = parse_redis_url(url).redacted();
    for (const auto& mode : options.modes) target.modes.push_back(run_mode(options, url, mode));
    report.targets.push_back(std::move(target));
  };
  if (!options.redis_url.empty()) run_target("standalone", options.redis_url);
  if (!options.cluster_url.empty()) run_target("cluster", options.cluster_url);
  return report;
}

void print_coherence_bench(std::ostream& out, const CoherenceBenchReport& report) {
  const auto& o = report.options;
  out << "strata bench coherence: " << o.writers << " writer process(es) (" << o.write_rate
      << " writes/s in all, write-through over SQLite) and " << o.readers << " reader processes ("
      << o.read_rate << " reads/s each), " << o.keys << " keys, " << o.duration.count()
      << " ms; quiesce " << o.quiesce.count() << " ms (mode none: L1 ttl " << o.local_ttl.count()
      << " ms, quiesce + ttl)\n\n";
  tools::TextTable table(
      {"target", "mode", "writes", "reads", "stale", "p50 ms", "p99 ms", "max ms", "stale at end",
       "L1 hits", "invalid.", "flushes"},
      {true, true, false, false, false, false, false, false, false, false, false, false});
  for (const auto& t : report.targets) {
    for (const auto& m : t.modes) {
      table.add({t.name, m.mode, std::to_string(m.writes), std::to_string(m.reads),
                 std::to_string(m.stale_reads), tools::fixed(m.staleness_ms_p50, 2),
                 tools::fixed(m.staleness_ms_p99, 2), tools::fixed(m.staleness_ms_max, 2),
                 std::to_string(m.stale_after_quiesce), tools::fixed(m.l1_hit_ratio * 100, 1) + "%",
                 std::to_string(m.invalidations), std::to_string(m.flushes)});
    }
  }
  table.print(out);
}

nlohmann::json to_json(const CoherenceBenchReport& report) {
  const auto& o = report.options;
  nlohmann::json j;
  j["config"] = {{"writers", o.writers},
                 {"readers", o.readers},
                 {"keys", o.keys},
                 {"write_rate", o.write_rate},
                 {"read_rate", o.read_rate},
                 {"duration_ms", o.duration.count()},
                 {"quiesce_ms", o.quiesce.count()},
                 {"local_ttl_ms", o.local_ttl.count()},
                 {"modes", o.modes}};
  j["results"] = nlohmann::json::object();
  for (const auto& t : report.targets) {
    nlohmann::json target = nlohmann::json::object();
    for (const auto& m : t.modes) {
      target[m.mode] = {{"writes", m.writes},
                        {"reads", m.reads},
                        {"stale_reads", m.stale_reads},
                        {"staleness_ms_p50", m.staleness_ms_p50},
                        {"staleness_ms_p99", m.staleness_ms_p99},
                        {"staleness_ms_max", m.staleness_ms_max},
                        {"stale_after_quiesce", m.stale_after_quiesce},
                        {"l1_hit_ratio", m.l1_hit_ratio},
                        {"invalidations", m.invalidations},
                        {"flushes", m.flushes}};
    }
    j["results"][t.name] = std::move(target);
    j["urls"][t.name] = t.url;
  }
  return j;
}

}  // namespace strata::bench
