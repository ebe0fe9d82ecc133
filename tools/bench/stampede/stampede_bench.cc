#include "bench/stampede/stampede_bench.h"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <optional>
#include <random>
#include <string>
#include <thread>

#include "common/text_table.h"
#include "strata/cache/cache.h"
#include "strata/cache/key_layout.h"
#include "strata/codec/json.h"
#include "strata/error.h"
#include "strata/metrics/latency_histogram.h"
#include "strata/redis/redis_client.h"

extern char** environ;

namespace strata::bench {
namespace {

using SteadyTime = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Wall-clock milliseconds: the instants the parent and its workers agree on.
std::int64_t wall_ms() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void sleep_until_wall(std::int64_t at_ms) {
  const std::int64_t now = wall_ms();
  if (at_ms > now) std::this_thread::sleep_for(milliseconds(at_ms - now));
}

// Enough pooled connections for the worker's threads, and a command timeout that a loaded
// 2-core machine does not hit (a Redis error would send the read to the source).
std::string worker_url(const std::string& url, int threads) {
  std::string out = url;
  const char sep = out.find('?') == std::string::npos ? '?' : '&';
  std::string extra;
  if (out.find("pool_size=") == std::string::npos) {
    extra += "pool_size=" + std::to_string(std::clamp(threads / 2, 4, 32));
  }
  if (out.find("command_timeout=") == std::string::npos) {
    extra += std::string(extra.empty() ? "" : "&") + "command_timeout=10s";
  }
  if (!extra.empty()) out += sep + extra;
  return out;
}

// A worker's latencies cross the process boundary as JSON: LatencyHistogram::data().
nlohmann::json histogram_json(const LatencyHistogram& h) {
  const LatencyHistogram::Data d = h.data();
  nlohmann::json buckets = nlohmann::json::array();
  for (const auto& [index, n] : d.buckets) buckets.push_back({index, n});
  return {{"buckets", buckets}, {"count", d.count}, {"sum", d.sum}, {"min", d.min}, {"max", d.max}};
}

void merge_histogram_json(LatencyHistogram& into, const nlohmann::json& j) {
  LatencyHistogram::Data d;
  for (const auto& bucket : j.at("buckets")) {
    d.buckets.emplace_back(bucket.at(0).get<std::uint32_t>(), bucket.at(1).get<std::uint64_t>());
  }
  d.count = j.at("count").get<std::uint64_t>();
  d.sum = j.at("sum").get<std::uint64_t>();
  d.min = j.at("min").get<std::uint64_t>();
  d.max = j.at("max").get<std::uint64_t>();
  into.merge(d);
}

double percentile_us(const LatencyHistogram& h, double pct) {
  return static_cast<double>(h.percentile(pct).count()) / 1000.0;
}

bool forced_expiry(const std::string& mode) {
  return mode == "unprotected" || mode == "single-flight" || mode == "lease";
}

const std::string kHotKey = "hot";

// The per-mode read function of a worker.
class Reader {
 public:
  explicit Reader(const StampedeWorkerOptions& o) : o_(o), redis_(worker_url(o.url, o.threads)) {
    auto load = [this](std::string_view) -> std::optional<std::string> { return load_value(); };
    const auto ttl = forced_expiry(o.mode) || o.mode == "swr" ? milliseconds(60'000) : o.interval;
    if (o.mode == "unprotected") return;
    CacheBuilder<std::string> b;
    b.remote(redis_, {.ttl = ttl, .ttl_jitter = 0}).key_prefix(o.prefix).loader(load);
    if (o.mode != "single-flight") {
      b.lease({.ttl = milliseconds(10'000),
               .wait_deadline = milliseconds(10'000),
               .initial_backoff = milliseconds(1),
               .max_backoff = milliseconds(10)});
    }
    if (o.mode == "xfetch") b.xfetch({.beta = 1.0});
    if (o.mode == "swr") b.refresh_after(o.interval);
    cache_.emplace(b.build());
  }

  [[nodiscard]] std::string read() {
    if (cache_) return cache_->get(kHotKey).value_or("");
    // The textbook's naive cache-aside: every reader that misses loads and sets.
    const std::string key = o_.prefix + kHotKey;
    if (auto v = redis_.get(key)) return *v;
    std::string value = load_value();
    redis_.set(key, value, {.ttl = milliseconds(60'000)});
    return value;
  }

 private:
  std::string load_value() {
    redis_.incrby(o_.prefix + "loads", 1);
    std::this_thread::sleep_for(o_.load_latency);
    return "value-" + std::to_string(wall_ms());
  }

  const StampedeWorkerOptions& o_;
  RedisClient redis_;
  std::optional<Cache<std::string>> cache_;
};

// posix_spawn of /proc/self/exe; the child's pid.
pid_t spawn_worker(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, "/proc/self/exe", nullptr, nullptr, argv.data(), environ);
  if (rc != 0) throw InternalError("bench stampede: posix_spawn failed: " + std::to_string(rc));
  return pid;
}

// Waits for every worker; kills and reaps them all if one fails.
void reap(std::vector<pid_t>& pids) {
  bool failed = false;
  for (const pid_t pid : pids) {
    int status = 0;
    if (::waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      failed = true;
    }
  }
  pids.clear();
  if (failed) throw InternalError("bench stampede: a worker process failed");
}

// Reaps the workers on every path (an exception kills them first).
struct Workers {
  std::vector<pid_t> pids;
  ~Workers() {
    for (const pid_t pid : pids) ::kill(pid, SIGKILL);
    for (const pid_t pid : pids) {
      int status = 0;
      (void)::waitpid(pid, &status, 0);
    }
  }
};

StampedeModeResult run_mode(const StampedeBenchOptions& o, const std::string& mode,
                            const std::string& run_prefix) {
  const std::string prefix = run_prefix + mode + ":";
  RedisClient redis(o.url());
  Workers workers;
  for (int i = 0; i < o.processes; ++i) {
    workers.pids.push_back(spawn_worker({"strata",
                                         "bench",
                                         "stampede",
                                         "--worker",
                                         "--redis-url",
                                         o.url(),
                                         "--mode",
                                         mode,
                                         "--prefix",
                                         prefix,
                                         "--index",
                                         std::to_string(i),
                                         "--threads",
                                         std::to_string(o.threads),
                                         "--interval-ms",
                                         std::to_string(o.interval.count()),
                                         "--load-latency-ms",
                                         std::to_string(o.load_latency.count()),
                                         "--think-ms",
                                         std::to_string(o.think.count())}));
  }
  // Barrier: every worker warmed up; then a common start instant and stop instant.
  const auto give_up = SteadyTime::now() + std::chrono::seconds(120);
  while (std::stoll(redis.get(prefix + "ready").value_or("0")) < o.processes) {
    if (SteadyTime::now() > give_up) throw TimeoutError("bench stampede: workers did not start");
    std::this_thread::sleep_for(milliseconds(5));
  }
  const long long loads_before = std::stoll(redis.get(prefix + "loads").value_or("0"));
  const std::int64_t start = wall_ms() + 200;
  const std::int64_t stop = start + o.interval.count() * o.expiries;
  redis.set(prefix + "go", std::to_string(start) + " " + std::to_string(stop));
  int expiries = o.expiries;  // natural TTL modes: one per TTL period of the run
  if (forced_expiry(mode)) {
    // Each expiry ends a value that exists (a load still running from the previous one is
    // waited for), so every expiry counted is one the readers saw.
    expiries = 0;
    const std::string key = prefix + kHotKey;
    for (int e = 0; e < o.expiries; ++e) {
      sleep_until_wall(start + o.interval.count() * e + o.interval.count() / 4);
      while (wall_ms() < stop - o.interval.count() / 2) {
        // A fill placeholder is a load in progress, not a value: wait for the value.
        const auto held = redis.get(key);
        if (held && !is_fill_placeholder(*held) && redis.pexpire(key, milliseconds(1))) {
          ++expiries;
          break;
        }
        std::this_thread::sleep_for(milliseconds(1));
      }
    }
  }
  reap(workers.pids);
  StampedeModeResult r;
  r.mode = mode;
  r.loads = static_cast<std::uint64_t>(std::stoll(redis.get(prefix + "loads").value_or("0")) -
                                       loads_before);
  LatencyHistogram latency;
  for (int i = 0; i < o.processes; ++i) {
    const auto text = redis.get(prefix + "result:" + std::to_string(i));
    if (!text) throw InternalError("bench stampede: a worker left no result");
    const auto j = nlohmann::json::parse(*text);
    r.requests += j.at("requests").get<std::uint64_t>();
    r.waited += j.at("waited").get<std::uint64_t>();
    merge_histogram_json(latency, j.at("latency"));
  }
  r.expiries = expiries;
  r.loads_per_expiry = expiries ? static_cast<double>(r.loads) / expiries : 0;
  r.waiting_fraction = r.requests ? static_cast<double>(r.waited) / r.requests : 0;
  r.p50_us = percentile_us(latency, 50);
  r.p99_us = percentile_us(latency, 99);
  std::vector<std::string> keys;
  redis.scan(prefix + "*", [&](std::string_view k) { keys.emplace_back(k); });
  for (const auto& k : keys) (void)redis.del(k);
  return r;
}

}  // namespace

void StampedeBenchOptions::validate() const {
  if (redis_url.empty() == cluster_url.empty()) {
    throw InvalidArgumentError("bench stampede: give exactly one of --redis, --redis-cluster");
  }
  if (processes < 1 || processes > 64) {
    throw InvalidArgumentError("bench stampede: --processes must be within [1, 64]");
  }
  if (threads < 1 || threads > 512) {
    throw InvalidArgumentError("bench stampede: --threads must be within [1, 512]");
  }
  if (expiries < 1) throw InvalidArgumentError("bench stampede: --expiries must be >= 1");
  if (interval <= load_latency * 2) {
    throw InvalidArgumentError("bench stampede: --interval-ms must exceed 2 x --load-latency-ms");
  }
  if (load_latency <= milliseconds::zero()) {
    throw InvalidArgumentError("bench stampede: --load-latency-ms must be > 0");
  }
  if (think < milliseconds::zero()) {
    throw InvalidArgumentError("bench stampede: --think-ms must be >= 0");
  }
  if (modes.empty()) throw InvalidArgumentError("bench stampede: --modes must not be empty");
  for (const auto& m : modes) {
    if (std::find(kStampedeModes.begin(), kStampedeModes.end(), m) == kStampedeModes.end()) {
      throw InvalidArgumentError("bench stampede: unknown mode '" + m + "'");
    }
  }
}

const StampedeModeResult* StampedeBenchReport::find(const std::string& mode) const {
  for (const auto& m : modes) {
    if (m.mode == mode) return &m;
  }
  return nullptr;
}

StampedeBenchReport run_stampede_bench(const StampedeBenchOptions& options) {
  options.validate();
  StampedeBenchReport report;
  report.options = options;
  const std::string run_prefix = "strata-bench:stampede:" + std::to_string(::getpid()) + ":" +
                                 std::to_string(std::random_device{}() % 100000) + ":";
  for (const auto& mode : options.modes)
    report.modes.push_back(run_mode(options, mode, run_prefix));
  return report;
}

int run_stampede_worker(const StampedeWorkerOptions& o) {
  try {
    RedisClient control(o.url);
    Reader reader(o);
    std::atomic<bool> failed{false};
    std::vector<std::thread> threads;
    std::vector<LatencyHistogram> latencies(static_cast<std::size_t>(o.threads));
    std::vector<std::uint64_t> requests(latencies.size(), 0), waited(latencies.size(), 0);
    std::int64_t start = 0, stop = 0;
    // Warm-up: one read per thread, not measured (the cold miss).
    {
      std::vector<std::thread> warm;
      for (int t = 0; t < o.threads; ++t) {
        warm.emplace_back([&] {
          try {
            (void)reader.read();
          } catch (...) {
            failed = true;
          }
        });
      }
      for (auto& w : warm) w.join();
    }
    control.incrby(o.prefix + "ready", 1);
    for (;;) {
      if (auto go = control.get(o.prefix + "go")) {
        std::sscanf(go->c_str(), "%ld %ld", &start, &stop);
        break;
      }
      std::this_thread::sleep_for(milliseconds(2));
    }
    sleep_until_wall(start);
    for (int t = 0; t < o.threads; ++t) {
      threads.emplace_back([&, t] {
        const auto i = static_cast<std::size_t>(t);
        try {
          while (wall_ms() < stop) {
            const auto t0 = SteadyTime::now();
            (void)reader.read();
            const auto took = SteadyTime::now() - t0;
            latencies[i].record(took);
            ++requests[i];
            if (took >= o.load_latency) ++waited[i];
            if (o.think > milliseconds::zero()) std::this_thread::sleep_for(o.think);
          }
        } catch (...) {
          failed = true;
        }
      });
    }
    for (auto& thread : threads) thread.join();
    LatencyHistogram all;
    std::uint64_t total = 0, slow = 0;
    for (std::size_t i = 0; i < latencies.size(); ++i) {
      all.merge(latencies[i]);
      total += requests[i];
      slow += waited[i];
    }
    nlohmann::json result{{"requests", total}, {"waited", slow}, {"latency", histogram_json(all)}};
    control.set(o.prefix + "result:" + std::to_string(o.index), result.dump());
    return failed ? 1 : 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "strata bench stampede worker: %s\n", e.what());
    return 1;
  }
}

void print_stampede_bench(std::ostream& out, const StampedeBenchReport& report) {
  const auto& o = report.options;
  out << "strata bench stampede: " << o.processes << " processes x " << o.threads
      << " threads, one hot key, " << o.expiries << " expiries every " << o.interval.count()
      << " ms, source latency " << o.load_latency.count() << " ms, think " << o.think.count()
      << " ms\n";
  tools::TextTable table({"mode", "loads", "loads/expiry", "reads", "waited", "p50 us", "p99 us"},
                         {true, false, false, false, false, false, false});
  for (const auto& m : report.modes) {
    table.add({m.mode, std::to_string(m.loads), tools::fixed(m.loads_per_expiry, 2),
               std::to_string(m.requests), tools::fixed(m.waiting_fraction * 100, 4) + "%",
               tools::fixed(m.p50_us, 0), tools::fixed(m.p99_us, 0)});
  }
  table.print(out);
  out << "waited: share of reads that took at least the source latency (waited for a load)\n";
}

nlohmann::json to_json(const StampedeBenchReport& report) {
  const auto& o = report.options;
  nlohmann::json j{{"processes", o.processes},
                   {"threads", o.threads},
                   {"expiries", o.expiries},
                   {"interval_ms", o.interval.count()},
                   {"load_latency_ms", o.load_latency.count()},
                   {"think_ms", o.think.count()}};
  if (const auto* m = report.find("lease")) j["loads_per_expiry"] = m->loads_per_expiry;
  if (const auto* m = report.find("unprotected")) {
    j["loads_per_expiry_unprotected"] = m->loads_per_expiry;
  }
  if (const auto* m = report.find("xfetch")) j["xfetch_waiting_fraction"] = m->waiting_fraction;
  nlohmann::json modes = nlohmann::json::array();
  for (const auto& m : report.modes) {
    j["p99_us_" + m.mode] = m.p99_us;
    modes.push_back({{"mode", m.mode},
                     {"expiries", m.expiries},
                     {"loads", m.loads},
                     {"loads_per_expiry", m.loads_per_expiry},
                     {"requests", m.requests},
                     {"waited", m.waited},
                     {"waiting_fraction", m.waiting_fraction},
                     {"p50_us", m.p50_us},
                     {"p99_us", m.p99_us}});
  }
  j["modes"] = modes;
  return j;
}

}  // namespace strata::bench
