#include "bench/l1/l1_bench.h"

#include <absl/container/flat_hash_map.h>
#include <absl/container/node_hash_map.h>
#include <malloc.h>
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define STRATA_SANITIZER_ALLOCATOR 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define STRATA_SANITIZER_ALLOCATOR 1
#endif
#ifdef STRATA_SANITIZER_ALLOCATOR
// From the ASan/TSan runtime (declared here: GCC ships no sanitizer/allocator_interface.h).
extern "C" size_t __sanitizer_get_current_allocated_bytes();
#endif

#include <algorithm>
#include <array>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdio>
#include <list>
#include <memory>
#include <mutex>
#include <ostream>
#include <random>
#include <shared_mutex>
#include <thread>
#include <unordered_map>

#include "common/rounds.h"
#include "common/stats.h"
#include "common/text_table.h"
#include "common/zipf.h"
#include "strata/codec/json.h"
#include "strata/error.h"
#include "strata/local/local_cache.h"

namespace strata::bench {
namespace {

using Clock = std::chrono::steady_clock;

// The contenders, in the index order of tools::alternate_rounds.
constexpr std::array<const char*, 4> kImplementations = {"strata", "raw map", "mutex LRU",
                                                         "flat map"};
using Value = std::uint64_t;

std::string key_of(std::uint64_t i) {
  char buffer[32];
  const int n =
      std::snprintf(buffer, sizeof buffer, "key:%08llu", static_cast<unsigned long long>(i));
  return std::string(buffer, static_cast<std::size_t>(n));
}

// The ceilings: the same sharding and reader-writer locks as LocalCache, no policy, no stats.
// Map = absl::node_hash_map (each entry its own allocation, as in LocalCache and in any cache
// whose policy links entries: the raw map is the cache minus its policy), or
// absl::flat_hash_map (keys and values inline in the table: one memory access fewer per
// lookup, but entries move on rehash, so no policy can link them).
template <typename Map>
class RawMap {
 public:
  explicit RawMap(std::size_t shards) : shards_(shards) {}
  std::optional<Value> get(const std::string& key) {
    Shard& s = shard(key);
    std::shared_lock lock(s.mutex);
    const auto it = s.map.find(key);
    if (it == s.map.end()) return std::nullopt;
    return it->second;
  }
  void put(const std::string& key, Value v) {
    Shard& s = shard(key);
    std::unique_lock lock(s.mutex);
    s.map.insert_or_assign(key, v);
  }

 private:
  struct alignas(64) Shard {
    std::shared_mutex mutex;
    Map map;
  };
  Shard& shard(const std::string& key) {
    return shards_[(std::hash<std::string_view>{}(key) >> 40) & (shards_.size() - 1)];
  }
  std::vector<Shard> shards_;
};
using NodeMap = RawMap<absl::node_hash_map<std::string, Value>>;
using FlatMap = RawMap<absl::flat_hash_map<std::string, Value>>;

// The floor: the textbook LRU, a list and a map behind one mutex.
class MutexLru {
 public:
  explicit MutexLru(std::size_t capacity) : capacity_(capacity) {}
  std::optional<Value> get(const std::string& key) {
    std::lock_guard lock(mutex_);
    const auto it = map_.find(key);
    if (it == map_.end()) return std::nullopt;
    list_.splice(list_.begin(), list_, it->second);
    return it->second->second;
  }
  void put(const std::string& key, Value v) {
    std::lock_guard lock(mutex_);
    if (const auto it = map_.find(key); it != map_.end()) {
      it->second->second = v;
      list_.splice(list_.begin(), list_, it->second);
      return;
    }
    list_.emplace_front(key, v);
    map_[key] = list_.begin();
    if (map_.size() > capacity_) {
      map_.erase(list_.back().first);
      list_.pop_back();
    }
  }

 private:
  std::mutex mutex_;
  std::size_t capacity_;

 public:
  // The loading read of the capacity section: a get, then a put of the loaded value on a miss.
  Value get_or_load(const std::string& key) {
    if (auto v = get(key)) return *v;
    const auto v = static_cast<Value>(key.size());
    put(key, v);
    return v;
  }

 private:
  std::list<std::pair<std::string, Value>> list_;
  std::unordered_map<std::string, std::list<std::pair<std::string, Value>>::iterator> map_;
};

class StrataL1 {
 public:
  explicit StrataL1(std::uint64_t capacity)
      : cache_(LocalCacheBuilder<Value>().maximum_size(capacity).build()) {}
  std::optional<Value> get(const std::string& key) { return cache_.get(key); }
  void put(const std::string& key, Value v) { cache_.put(key, v); }
  Value get_or_load(const std::string& key) {
    return cache_.get_or_load(key, [](std::string_view k) { return static_cast<Value>(k.size()); });
  }
  [[nodiscard]] double hit_ratio() const { return cache_.stats().hit_ratio(); }
  // Lets the cache free what its writers retired (the table blocks its last grows replaced),
  // as its next writes would: the memory measurement is of the steady state.
  void settle() {
    for (int i = 0; i < 4; ++i) cache_.cleanup();
  }

 private:
  LocalCache<Value> cache_;
};

// The raw maps are sharded like LocalCache for the same capacity.
std::size_t shards_for(std::uint64_t capacity) {
  return internal::default_shard_count(capacity);
}

struct Workload {
  std::vector<std::string> keys;
  std::vector<std::vector<std::uint32_t>> per_thread;  // key indices, Zipf-distributed
};

Workload make_workload(const L1BenchOptions& o) {
  Workload w;
  w.keys.reserve(o.keys);
  for (std::uint64_t i = 0; i < o.keys; ++i) w.keys.push_back(key_of(i));
  workload::ZipfGenerator zipf(o.keys, o.zipf_s);
  // Scatter popularity over the key space, so hot keys do not share a shard by construction.
  std::vector<std::uint32_t> permutation(o.keys);
  for (std::uint64_t i = 0; i < o.keys; ++i) permutation[i] = static_cast<std::uint32_t>(i);
  std::mt19937_64 shuffle_rng(o.seed);
  std::shuffle(permutation.begin(), permutation.end(), shuffle_rng);
  for (int t = 0; t < o.threads; ++t) {
    std::mt19937_64 rng(o.seed * 1000 + static_cast<std::uint64_t>(t));
    auto& indices = w.per_thread.emplace_back(1 << 20);
    for (auto& index : indices) index = permutation[zipf(rng) - 1];
  }
  return w;
}

// Runs `threads` threads for `seconds`, each over its own stream of the workload, calling
// op(key, ops) per request (ops: the thread's requests so far; op returns a value summed into a
// sink so that reads are not optimised away). Returns requests per second.
template <typename Op>
double run_timed(const Workload& w, int threads, double seconds, const Op& op) {
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> total{0};
  std::barrier start(threads + 1);
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      const auto& indices = w.per_thread[static_cast<std::size_t>(t)];
      std::uint64_t ops = 0;
      std::uint64_t sink = 0;
      std::size_t i = 0;
      start.arrive_and_wait();
      while (!stop.load(std::memory_order_relaxed)) {
        for (int batch = 0; batch < 256; ++batch) {
          sink += op(w.keys[indices[i++ & ((1 << 20) - 1)]], ops);
          ++ops;
        }
      }
      total.fetch_add(ops + (sink == 42 ? 1 : 0));
    });
  }
  start.arrive_and_wait();
  const auto begin = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& worker : workers) worker.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - begin).count();
  return static_cast<double>(total.load()) / elapsed;
}

// Reads with probability read_share, else writes.
template <typename Cache>
double measure(Cache& cache, const Workload& w, int threads, double read_share, double seconds) {
  const auto write_threshold = static_cast<std::uint32_t>(read_share * 1024);
  return run_timed(w, threads, seconds, [&](const std::string& key, std::uint64_t ops) {
    const auto coin = static_cast<std::uint32_t>(ops * 2654435761u) >> 22;  // 0..1023
    if (read_share >= 1.0 || coin < write_threshold) {
      if (auto v = cache.get(key)) return static_cast<std::uint64_t>(*v);
      return std::uint64_t{0};
    }
    cache.put(key, ops);
    return std::uint64_t{0};
  });
}

// The capacity section: every request reads through get_or_load.
template <typename Cache>
double measure_loads(Cache& cache, const Workload& w, int threads, double seconds) {
  return run_timed(w, threads, seconds, [&](const std::string& key, std::uint64_t) {
    return static_cast<std::uint64_t>(cache.get_or_load(key));
  });
}

// A fresh cache of `capacity`, warmed by one pass over the first 2 * capacity reads of
// thread 0's stream, then measured.
template <typename Cache>
double capacity_run(std::uint64_t capacity, const Workload& w, int threads, double seconds,
                    double* hit_ratio) {
  Cache cache(capacity);
  const auto& warm = w.per_thread[0];
  const std::size_t n = std::min<std::size_t>(warm.size(), 2 * capacity);
  for (std::size_t i = 0; i < n; ++i) (void)cache.get_or_load(w.keys[warm[i]]);
  const double ops = measure_loads(cache, w, threads, seconds);
  if constexpr (requires { cache.hit_ratio(); }) {
    if (hit_ratio != nullptr) *hit_ratio = cache.hit_ratio();
  }
  return ops;
}

// Heap bytes in use: from glibc's allocator, or, under ASan/TSan (which replace malloc, so that
// mallinfo2 sees nothing), from the sanitizer's allocator, which counts the bytes requested.
#ifdef STRATA_SANITIZER_ALLOCATOR
constexpr const char* kHeapCounter = "the sanitizer allocator's count";
#else
constexpr const char* kHeapCounter = "mallinfo2";
#endif
std::size_t heap_in_use() {
#ifdef STRATA_SANITIZER_ALLOCATOR
  return __sanitizer_get_current_allocated_bytes();
#else
  malloc_trim(0);
  return mallinfo2().uordblks;
#endif
}

template <typename Fill>
double overhead_per_entry(std::uint64_t entries, double payload_per_entry, Fill&& fill) {
  const std::size_t before = heap_in_use();
  auto holder = fill();
  const std::size_t after = heap_in_use();
  const double per_entry = static_cast<double>(after - before) / static_cast<double>(entries);
  return per_entry - payload_per_entry;
}

void run_hits(const L1BenchOptions& o, const Workload& workload, L1BenchReport& report,
              std::ostream* progress);
void run_capacity(const L1BenchOptions& o, const Workload& workload, L1BenchReport& report,
                  std::ostream* progress);
void run_getput(const L1BenchOptions& o, L1BenchReport& report, std::ostream* progress);
void print_hits(std::ostream& out, const L1BenchReport& r);
void print_capacity(std::ostream& out, const L1BenchReport& r);
void print_getput(std::ostream& out, const L1BenchReport& r);

}  // namespace

void L1BenchOptions::validate() const {
  if (threads < 1 || threads > 256) throw InvalidArgumentError("--threads must be within [1, 256]");
  if (keys < 1000 || keys > 100'000'000) {
    throw InvalidArgumentError("--keys must be within [1000, 100000000]");
  }
  if (!(zipf_s > 0)) throw InvalidArgumentError("--zipf must be > 0");
  if (!(seconds_per_round > 0)) throw InvalidArgumentError("--seconds must be > 0");
  if (rounds < 1) throw InvalidArgumentError("--rounds must be at least 1");
  if (memory_entries < 1000) throw InvalidArgumentError("--memory-entries must be at least 1000");
  if (!(capacity_fraction > 0 && capacity_fraction <= 1)) {
    throw InvalidArgumentError("--capacity-fraction must be within (0, 1]");
  }
  if (!run_hits && !run_capacity && !run_getput) {
    throw InvalidArgumentError("nothing to run: no section selected");
  }
}

L1BenchReport run_l1_bench(const L1BenchOptions& o, std::ostream* progress) {
  o.validate();
  L1BenchReport report;
  report.options = o;

  // Memory first, on a quiet heap: a count-bounded cache of uint64 values.
  const double key_bytes = static_cast<double>(key_of(0).size());
  const double value_bytes = sizeof(Value);
  report.key_bytes = key_bytes;
  report.value_bytes = value_bytes;
  report.overhead_bytes_per_entry =
      overhead_per_entry(o.memory_entries, key_bytes + value_bytes, [&] {
        auto cache = std::make_unique<StrataL1>(o.memory_entries);
        for (std::uint64_t i = 0; i < o.memory_entries; ++i) cache->put(key_of(i), i);
        cache->settle();
        return cache;
      });
  report.raw_map_overhead_bytes_per_entry =
      overhead_per_entry(o.memory_entries, key_bytes + value_bytes, [&] {
        auto map = std::make_unique<NodeMap>(shards_for(o.memory_entries));
        for (std::uint64_t i = 0; i < o.memory_entries; ++i) map->put(key_of(i), i);
        return map;
      });

  // Two streams at least: the capacity section runs 1 and 2 threads whatever --threads says.
  L1BenchOptions streams = o;
  streams.threads = std::max(o.threads, 2);
  const Workload workload = make_workload(streams);
  if (o.run_hits) run_hits(o, workload, report, progress);
  if (o.run_capacity) run_capacity(o, workload, report, progress);
  if (o.run_getput) run_getput(o, report, progress);
  if (progress) *progress << "\r" << std::string(40, ' ') << "\r" << std::flush;
  return report;
}

namespace {

void run_hits(const L1BenchOptions& o, const Workload& workload, L1BenchReport& report,
              std::ostream* progress) {
  StrataL1 strata(o.keys);
  NodeMap raw(shards_for(o.keys));
  FlatMap flat(shards_for(o.keys));
  MutexLru lru(o.keys);
  for (std::uint64_t i = 0; i < o.keys; ++i) {
    strata.put(workload.keys[i], i);
    raw.put(workload.keys[i], i);
    flat.put(workload.keys[i], i);
    lru.put(workload.keys[i], i);
  }

  const std::pair<const char*, double> mixes[] = {
      {"read-only", 1.0}, {"90/10", 0.9}, {"50/50", 0.5}};
  for (const auto& mix : mixes) {
    // Plain variables, not structured bindings: clang 14 (the fuzz build) refuses to capture those.
    const char* const name = mix.first;
    const double read_share = mix.second;
    // The four implementations, each once per round, the order rotated per round.
    std::array<std::vector<double>, kImplementations.size()> samples;
    std::vector<std::vector<std::string>> orders(static_cast<std::size_t>(o.rounds));
    tools::alternate_rounds(static_cast<std::size_t>(o.rounds), kImplementations.size(),
                            [&](std::size_t round, std::size_t impl) {
                              if (progress && orders[round].empty()) {
                                *progress << "\r  " << name << " round " << (round + 1) << "/"
                                          << o.rounds << std::flush;
                              }
                              orders[round].push_back(kImplementations[impl]);
                              const auto run = [&](auto& cache) {
                                return measure(cache, workload, o.threads, read_share,
                                               o.seconds_per_round);
                              };
                              samples[impl].push_back(impl == 0   ? run(strata)
                                                      : impl == 1 ? run(raw)
                                                      : impl == 2 ? run(lru)
                                                                  : run(flat));
                            });
    report.mixes.push_back({name, read_share, tools::median(samples[0]), tools::median(samples[1]),
                            tools::median(samples[2]), tools::median(samples[3]),
                            std::move(orders)});
  }
}

void run_capacity(const L1BenchOptions& o, const Workload& workload, L1BenchReport& report,
                  std::ostream* progress) {
  const auto capacity = std::max<std::uint64_t>(
      1, static_cast<std::uint64_t>(static_cast<double>(o.keys) * o.capacity_fraction));
  // strata 1t, strata 2t, LRU 1t, LRU 2t: once per round each, the order rotated.
  std::array<std::vector<double>, 4> samples;
  std::vector<double> hit_ratios;
  tools::alternate_rounds(
      static_cast<std::size_t>(o.rounds), 4, [&](std::size_t round, std::size_t run) {
        if (progress) {
          *progress << "\r  capacity " << o.capacity_fraction << " round " << (round + 1) << "/"
                    << o.rounds << std::flush;
        }
        const int threads = run % 2 == 0 ? 1 : 2;
        double hit_ratio = 0;
        if (run < 2) {
          samples[run].push_back(
              capacity_run<StrataL1>(capacity, workload, threads, o.seconds_per_round, &hit_ratio));
          if (threads == 2) hit_ratios.push_back(hit_ratio);
        } else {
          samples[run].push_back(
              capacity_run<MutexLru>(capacity, workload, threads, o.seconds_per_round, nullptr));
        }
      });
  L1CapacityResult r;
  r.fraction = o.capacity_fraction;
  r.strata_ops_per_sec_1t = tools::median(samples[0]);
  r.strata_ops_per_sec_2t = tools::median(samples[1]);
  r.mutex_lru_ops_per_sec_1t = tools::median(samples[2]);
  r.mutex_lru_ops_per_sec_2t = tools::median(samples[3]);
  r.strata_hit_ratio = tools::median(hit_ratios);
  report.capacity = r;
}

// Caffeine's GetPutBenchmark: 2^15 keys drawn from a scrambled Zipf, a cache of twice as many,
// pre-filled, so every read hits.
void run_getput(const L1BenchOptions& o, L1BenchReport& report, std::ostream* progress) {
  L1BenchOptions g = o;
  g.keys = 32'768;
  const Workload workload = make_workload(g);
  const std::uint64_t capacity = 2 * g.keys;
  StrataL1 strata(capacity);
  NodeMap raw(shards_for(capacity));
  MutexLru lru(capacity);
  for (std::uint64_t i = 0; i < g.keys; ++i) {
    strata.put(workload.keys[i], i);
    raw.put(workload.keys[i], i);
    lru.put(workload.keys[i], i);
  }
  const std::pair<const char*, double> groups[] = {
      {"read-only", 1.0}, {"read-write", 0.75}, {"write-only", 0.0}};
  for (const auto& group : groups) {
    const char* const name = group.first;
    const double read_share = group.second;
    std::array<std::vector<double>, 3> samples;
    tools::alternate_rounds(
        static_cast<std::size_t>(o.rounds), 3, [&](std::size_t round, std::size_t impl) {
          if (progress) {
            *progress << "\r  getput " << name << " round " << (round + 1) << "/" << o.rounds
                      << std::flush;
          }
          const auto run = [&](auto& cache) {
            return measure(cache, workload, o.threads, read_share, o.seconds_per_round);
          };
          samples[impl].push_back(impl == 0 ? run(strata) : impl == 1 ? run(raw) : run(lru));
        });
    report.getput.push_back({name, read_share, tools::median(samples[0]), tools::median(samples[1]),
                             tools::median(samples[2])});
  }
}

}  // namespace

void print_l1_report(std::ostream& out, const L1BenchReport& r) {
  const auto& o = r.options;
  char line[256];
  std::snprintf(line, sizeof line,
                "strata bench l1: %d threads, %llu keys (Zipf s=%.2f), %d rounds of %.2fs per "
                "implementation (the order rotated per round), medians\n\n",
                o.threads, static_cast<unsigned long long>(o.keys), o.zipf_s, o.rounds,
                o.seconds_per_round);
  out << line;
  if (!r.mixes.empty()) print_hits(out, r);
  if (r.capacity) print_capacity(out, r);
  if (!r.getput.empty()) print_getput(out, r);
  std::snprintf(line, sizeof line,
                "\nmemory: %.1f bytes per entry beyond the %.0f key + %.0f value bytes "
                "(raw map: %.1f), %llu entries, measured with %s\n",
                r.overhead_bytes_per_entry, r.key_bytes, r.value_bytes,
                r.raw_map_overhead_bytes_per_entry,
                static_cast<unsigned long long>(o.memory_entries), kHeapCounter);
  out << line;
}

namespace {

void print_hits(std::ostream& out, const L1BenchReport& r) {
  out << "hits (every key resident):\n";
  tools::TextTable table(
      {"mix", "strata ops/s", "raw map", "flat map", "mutex LRU", "vs raw", "vs flat", "vs LRU"},
      {true, false, false, false, false, false, false, false});
  for (const auto& m : r.mixes) {
    table.add({m.mix, tools::fixed(m.strata_ops_per_sec, 0), tools::fixed(m.raw_map_ops_per_sec, 0),
               tools::fixed(m.flat_map_ops_per_sec, 0), tools::fixed(m.mutex_lru_ops_per_sec, 0),
               tools::times(m.ratio_vs_raw_map()), tools::times(m.ratio_vs_flat_map()),
               tools::times(m.ratio_vs_mutex_lru())});
  }
  table.print(out);
  out << "\nraw map: sharded absl::node_hash_map behind reader-writer locks (LocalCache minus its\n"
         "policy); flat map: the same with absl::flat_hash_map (entries inline, no stable\n"
         "addresses for a policy to link); mutex LRU: std::list + std::unordered_map, one mutex.\n";
}

void print_capacity(std::ostream& out, const L1BenchReport& r) {
  const auto& c = *r.capacity;
  char line[256];
  std::snprintf(line, sizeof line,
                "\ncapacity %.0f%% of the keys, get_or_load (a trivial loader) on every read; "
                "strata hit ratio %.1f%%:\n",
                c.fraction * 100, c.strata_hit_ratio * 100);
  out << line;
  tools::TextTable table({"", "1 thread ops/s", "2 threads ops/s", "2t/1t"},
                         {true, false, false, false});
  table.add({"strata", tools::fixed(c.strata_ops_per_sec_1t, 0),
             tools::fixed(c.strata_ops_per_sec_2t, 0), tools::times(c.scaling())});
  table.add({"mutex LRU", tools::fixed(c.mutex_lru_ops_per_sec_1t, 0),
             tools::fixed(c.mutex_lru_ops_per_sec_2t, 0),
             tools::times(c.mutex_lru_ops_per_sec_1t > 0
                              ? c.mutex_lru_ops_per_sec_2t / c.mutex_lru_ops_per_sec_1t
                              : 0)});
  table.print(out);
  out << "strata vs mutex LRU at 2 threads: " << tools::times(c.ratio_vs_mutex_lru_2t()) << "\n";
}

void print_getput(std::ostream& out, const L1BenchReport& r) {
  out << "\nGetPut (Caffeine's GetPutBenchmark shape: 32768 keys, scrambled Zipf, capacity "
         "65536, pre-filled), "
      << r.options.threads << " threads:\n";
  tools::TextTable table({"group", "strata ops/s", "raw map", "mutex LRU", "vs raw", "vs LRU"},
                         {true, false, false, false, false, false});
  for (const auto& g : r.getput) {
    table.add(
        {g.group, tools::fixed(g.strata_ops_per_sec, 0), tools::fixed(g.raw_map_ops_per_sec, 0),
         tools::fixed(g.mutex_lru_ops_per_sec, 0),
         tools::times(g.raw_map_ops_per_sec > 0 ? g.strata_ops_per_sec / g.raw_map_ops_per_sec : 0),
         tools::times(g.mutex_lru_ops_per_sec > 0 ? g.strata_ops_per_sec / g.mutex_lru_ops_per_sec
                                                  : 0)});
  }
  table.print(out);
}

}  // namespace

nlohmann::ordered_json to_json(const L1BenchReport& r) {
  nlohmann::ordered_json out;
  out["threads"] = r.options.threads;
  out["keys"] = r.options.keys;
  out["zipf_s"] = r.options.zipf_s;
  out["rounds"] = r.options.rounds;
  out["overhead_bytes_per_entry"] = r.overhead_bytes_per_entry;
  out["raw_map_overhead_bytes_per_entry"] = r.raw_map_overhead_bytes_per_entry;
  if (r.capacity) {
    const auto& c = *r.capacity;
    out["capacity_fraction"] = c.fraction;
    out["capacity_fraction_ops_per_sec_1t"] = c.strata_ops_per_sec_1t;
    out["capacity_fraction_ops_per_sec_2t"] = c.strata_ops_per_sec_2t;
    out["capacity_fraction_scaling"] = c.scaling();
    out["capacity_fraction_hit_ratio"] = c.strata_hit_ratio;
    out["capacity_fraction_mutex_lru_ops_per_sec_1t"] = c.mutex_lru_ops_per_sec_1t;
    out["capacity_fraction_mutex_lru_ops_per_sec_2t"] = c.mutex_lru_ops_per_sec_2t;
    out["capacity_fraction_ratio_vs_mutex_lru_2t"] = c.ratio_vs_mutex_lru_2t();
  }
  for (const auto& g : r.getput) {
    const std::string prefix = g.group == "read-only"    ? "getput_read_only"
                               : g.group == "read-write" ? "getput_read_write"
                                                         : "getput_write_only";
    out[prefix + "_ops_per_sec"] = g.strata_ops_per_sec;
    out[prefix + "_raw_map_ops_per_sec"] = g.raw_map_ops_per_sec;
    out[prefix + "_mutex_lru_ops_per_sec"] = g.mutex_lru_ops_per_sec;
  }
  if (r.mixes.empty()) return out;
  const auto& read_only = r.mixes.front();
  out["strata_ops_per_sec"] = read_only.strata_ops_per_sec;
  out["raw_map_ops_per_sec"] = read_only.raw_map_ops_per_sec;
  out["mutex_lru_ops_per_sec"] = read_only.mutex_lru_ops_per_sec;
  out["flat_map_ops_per_sec"] = read_only.flat_map_ops_per_sec;
  out["ratio_vs_raw_map"] = read_only.ratio_vs_raw_map();
  out["ratio_vs_mutex_lru"] = read_only.ratio_vs_mutex_lru();
  out["ratio_vs_flat_map"] = read_only.ratio_vs_flat_map();
  nlohmann::ordered_json mixes = nlohmann::ordered_json::array();
  for (const auto& m : r.mixes) {
    mixes.push_back({{"mix", m.mix},
                     {"read_share", m.read_share},
                     {"strata_ops_per_sec", m.strata_ops_per_sec},
                     {"raw_map_ops_per_sec", m.raw_map_ops_per_sec},
                     {"mutex_lru_ops_per_sec", m.mutex_lru_ops_per_sec},
                     {"ratio_vs_raw_map", m.ratio_vs_raw_map()},
                     {"ratio_vs_mutex_lru", m.ratio_vs_mutex_lru()},
                     {"flat_map_ops_per_sec", m.flat_map_ops_per_sec},
                     {"ratio_vs_flat_map", m.ratio_vs_flat_map()}});
  }
  out["mixes"] = std::move(mixes);
  return out;
}

}  // namespace strata::bench
