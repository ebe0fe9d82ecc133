// strata/metrics/metrics.h: the metrics of strata's caches and write-behind writers as plain values
// (MetricsSnapshot), a MetricsRegistry where they are registered by name, the low hit-rate
// alert, and the Prometheus text rendering. Use the registry to watch a service's caches; serve
// it with MetricsServer (strata/metrics/metrics_server.h). docs/operations.md lists every metric.
//
//   strata::MetricsRegistry registry;
//   registry.add_cache("users", users_cache);        // a Cache<V>
//   registry.add_write_behind("users-wb", journal);  // a std::shared_ptr<WriteBehind<V>>
//   strata::MetricsSnapshot s = registry.snapshot();
//
// Thread-safety: every MetricsRegistry method may be called from any thread. The registry
// holds its caches and writers weakly: one destroyed leaves the next snapshot.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "strata/cache/circuit_breaker.h"
#include "strata/cache/tiered_stats.h"
#include "strata/clock.h"
#include "strata/local/cache_stats.h"
#include "strata/metrics/latency_summary.h"
#include "strata/write_behind/write_behind_stats.h"

namespace strata {

// One cache's numbers at one instant: Cache<V>::stats() (counters only grow) and the latency
// summaries. docs/operations.md maps each field to its Prometheus series.
struct CacheMetrics {
  TieredCacheStats stats;
  CacheLatencies latency;

  // get()s seen: L1 lookups with an L1, else L2 lookups with an L2, else source reads.
  [[nodiscard]] std::uint64_t requests() const noexcept;
  // Reads that reached the source (found, not found or failed; refreshes included).
  [[nodiscard]] std::uint64_t source_reads() const noexcept {
    return stats.source.loads + stats.source.load_errors;
  }
  // Reads answered without the source: (requests - source reads) / requests; 0 when idle.
  [[nodiscard]] double hit_ratio() const noexcept;
};

// One write-behind writer's numbers.
struct WriterMetrics {
  std::uint64_t queue_depth = 0;
  std::chrono::nanoseconds oldest_age{0};
  std::uint64_t dead_letters = 0;  // letters in the dead-letter store now
  WriteBehindStats stats;
};

struct MetricsSnapshot {
  std::vector<std::pair<std::string, CacheMetrics>> caches;    // by registration name
  std::vector<std::pair<std::string, WriterMetrics>> writers;  // by registration name

  [[nodiscard]] const CacheMetrics* cache(std::string_view name) const noexcept;
  [[nodiscard]] const WriterMetrics* writer(std::string_view name) const noexcept;
};

// The Prometheus text exposition format 0.0.4 of a snapshot (docs/operations.md lists the
// names: strata_cache_requests_total{cache,layer,result}, ...). Label values are escaped.
[[nodiscard]] std::string to_prometheus_text(const MetricsSnapshot& snapshot);

enum class LogLevel : std::uint8_t { kInfo, kWarning, kError };
[[nodiscard]] std::string_view to_string(LogLevel level) noexcept;
// Where strata's operational messages go. The default writes "strata <level>: <message>" to
// stderr. Must be thread-safe and must not throw.
using LogSink = std::function<void(LogLevel, std::string_view message)>;
[[nodiscard]] LogSink stderr_log_sink();

// "Alert on high miss rates": at each check (MetricsRegistry::check_alerts), a cache whose hit
// ratio over the last `window` (at least `min_requests` requests in it) is under `threshold`
// gets a warning in the log. Windows do not overlap: a warning at most once per window.
struct HitRateAlertOptions {
  double threshold = 0.0;  // in [0, 1]; 0 disables the alert
  std::chrono::nanoseconds window{std::chrono::minutes(1)};
  std::uint64_t min_requests = 100;

  void validate() const;  // throws InvalidArgumentError naming the option
};

struct MetricsRegistryOptions {
  HitRateAlertOptions hit_rate_alert{};
  std::shared_ptr<const Clock> clock{};  // for the alert windows; default SteadyClock
  LogSink log{};                         // default stderr_log_sink()
};

class MetricsRegistry {
 public:
  using CacheReader = std::function<std::optional<CacheMetrics>()>;  // nullopt: gone
  using WriterReader = std::function<std::optional<WriterMetrics>()>;

  explicit MetricsRegistry(MetricsRegistryOptions options = {});

  // Registers a Cache<V> (any type with metrics_reader()) under `name`, the value of its
  // `cache` label. Throws InvalidArgumentError for an empty name or one registered to a cache
  // still alive (the name of a destroyed one may be reused; caches and writers are named apart).
  template <typename C>
  void add_cache(std::string name, const C& cache) {
    add_cache_reader(std::move(name), cache.metrics_reader());
  }
  void add_cache_reader(std::string name, CacheReader reader);

  // Registers a write-behind writer (e.g. WriteBehind<V>), held weakly, under `name`.
  template <typename W>
  void add_write_behind(std::string name, const std::shared_ptr<W>& writer) {
    add_writer_reader(std::move(name),
                      [weak = std::weak_ptr<W>(writer)]() -> std::optional<WriterMetrics> {
                        const auto w = weak.lock();
                        if (!w) return std::nullopt;
                        WriterMetrics m;
                        m.stats = w->stats();
                        m.queue_depth = m.stats.queue_depth;
                        m.oldest_age = m.stats.oldest_unflushed_age;
                        m.dead_letters = w->dead_letters().size();
                        return m;
                      });
  }
  void add_writer_reader(std::string name, WriterReader reader);

  // Unregisters a cache or writer; false when no such name.
  bool remove(std::string_view name);

  // Every live cache and writer, in registration order.
  [[nodiscard]] MetricsSnapshot snapshot() const;

  // Evaluates the hit-rate alert (HitRateAlertOptions) and logs a warning for each cache under
  // the threshold over a completed window. Returns the number of warnings logged.
  std::size_t check_alerts();

  [[nodiscard]] const MetricsRegistryOptions& options() const noexcept { return options_; }

 private:
  struct AlertWindow {
    bool started = false;
    std::chrono::nanoseconds start{0};
    std::uint64_t requests = 0;
    std::uint64_t source_reads = 0;
  };
  struct CacheEntry {
    std::string name;
    CacheReader reader;
    AlertWindow window;
  };
  struct WriterEntry {
    std::string name;
    WriterReader reader;
  };
  // Throws for an empty name or one live in `entries`; forgets a dead entry of that name.
  // REQUIRES: mutex_ held.
  template <typename Entries>
  void check_name(const std::string& name, Entries& entries);

  MetricsRegistryOptions options_;
  mutable std::mutex mutex_;
  std::vector<CacheEntry> caches_;
  std::vector<WriterEntry> writers_;
};

}  // namespace strata
