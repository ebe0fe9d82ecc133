#include "strata/metrics/metrics.h"

#include <algorithm>
#include <cstdio>
#include <string>

#include "strata/error.h"

namespace strata {

LatencySummary LatencySummary::of(const LatencyHistogram& histogram) {
  const auto seconds = [](std::chrono::nanoseconds d) {
    return std::chrono::duration<double>(d).count();
  };
  LatencySummary s;
  s.count = histogram.count();
  s.sum_seconds = seconds(histogram.sum());
  s.p50 = seconds(histogram.percentile(50));
  s.p90 = seconds(histogram.percentile(90));
  s.p99 = seconds(histogram.percentile(99));
  s.p999 = seconds(histogram.percentile(99.9));
  return s;
}

std::string_view to_string(CacheLayer layer) noexcept {
  switch (layer) {
    case CacheLayer::kL1:
      return "l1";
    case CacheLayer::kL2:
      return "l2";
    case CacheLayer::kSource:
      return "source";
  }
  return "unknown";
}

std::uint64_t CacheMetrics::requests() const noexcept {
  if (stats.l1.enabled) return stats.l1.hits + stats.l1.misses;
  if (stats.l2.enabled) {
    return stats.l2.hits + stats.l2.misses + stats.l2.errors + stats.l2.short_circuited;
  }
  return source_reads();
}

double CacheMetrics::hit_ratio() const noexcept {
  const std::uint64_t total = requests();
  if (total == 0) return 0.0;
  const std::uint64_t missed = std::min(total, source_reads());
  return static_cast<double>(total - missed) / static_cast<double>(total);
}

const CacheMetrics* MetricsSnapshot::cache(std::string_view name) const noexcept {
  for (const auto& [n, m] : caches) {
    if (n == name) return &m;
  }
  return nullptr;
}

const WriterMetrics* MetricsSnapshot::writer(std::string_view name) const noexcept {
  for (const auto& [n, m] : writers) {
    if (n == name) return &m;
  }
  return nullptr;
}

std::string_view to_string(LogLevel level) noexcept {
  switch (level) {
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kError:
      return "error";
  }
  return "unknown";
}

LogSink stderr_log_sink() {
  return [](LogLevel level, std::string_view message) {
    // One fprintf per message, so concurrent messages do not interleave within a line.
    const std::string_view l = to_string(level);
    std::fprintf(stderr, "strata %.*s: %.*s\n", static_cast<int>(l.size()), l.data(),
                 static_cast<int>(message.size()), message.data());
  };
}

void HitRateAlertOptions::validate() const {
  if (!(threshold >= 0.0 && threshold <= 1.0)) {
    throw InvalidArgumentError("HitRateAlertOptions: threshold must be within [0, 1]");
  }
  if (window <= std::chrono::nanoseconds(0)) {
    throw InvalidArgumentError("HitRateAlertOptions: window must be positive");
  }
}

MetricsRegistry::MetricsRegistry(MetricsRegistryOptions options) : options_(std::move(options)) {
  options_.hit_rate_alert.validate();
  if (!options_.clock) options_.clock = std::make_shared<SteadyClock>();
  if (!options_.log) options_.log = stderr_log_sink();
}

template <typename Entries>
void MetricsRegistry::check_name(const std::string& name, Entries& entries) {
  if (name.empty()) throw InvalidArgumentError("MetricsRegistry: a name must not be empty");
  // A name whose cache or writer is gone may be taken again.
  std::erase_if(entries, [&](const auto& e) { return e.name == name && !e.reader(); });
  if (std::any_of(entries.begin(), entries.end(), [&](const auto& e) { return e.name == name; })) {
    throw InvalidArgumentError("MetricsRegistry: \"" + name + "\" is already registered");
  }
}

void MetricsRegistry::add_cache_reader(std::string name, CacheReader reader) {
  if (!reader) throw InvalidArgumentError("MetricsRegistry: reader must not be empty");
  std::lock_guard lock(mutex_);
  check_name(name, caches_);
  caches_.push_back({std::move(name), std::move(reader), {}});
}

void MetricsRegistry::add_writer_reader(std::string name, WriterReader reader) {
  if (!reader) throw InvalidArgumentError("MetricsRegistry: reader must not be empty");
  std::lock_guard lock(mutex_);
  check_name(name, writers_);
  writers_.push_back({std::move(name), std::move(reader)});
}

bool MetricsRegistry::remove(std::string_view name) {
  std::lock_guard lock(mutex_);
  const auto before = caches_.size() + writers_.size();
  std::erase_if(caches_, [&](const CacheEntry& e) { return e.name == name; });
  std::erase_if(writers_, [&](const WriterEntry& e) { return e.name == name; });
  return caches_.size() + writers_.size() != before;
}

MetricsSnapshot MetricsRegistry::snapshot() const {
  std::lock_guard lock(mutex_);
  MetricsSnapshot out;
  for (const CacheEntry& e : caches_) {
    if (auto m = e.reader()) out.caches.emplace_back(e.name, std::move(*m));
  }
  for (const WriterEntry& e : writers_) {
    if (auto m = e.reader()) out.writers.emplace_back(e.name, std::move(*m));
  }
  return out;
}

std::size_t MetricsRegistry::check_alerts() {
  const HitRateAlertOptions& alert = options_.hit_rate_alert;
  if (alert.threshold <= 0.0) return 0;
  std::vector<std::string> warnings;
  {
    std::lock_guard lock(mutex_);
    const auto now = options_.clock->now();
    for (CacheEntry& e : caches_) {
      const auto m = e.reader();
      if (!m) continue;
      AlertWindow& w = e.window;
      const std::uint64_t requests = m->requests();
      const std::uint64_t source_reads = m->source_reads();
      if (!w.started || now - w.start < alert.window) {
        if (!w.started) w = {true, now, requests, source_reads};
        continue;
      }
      const std::uint64_t window_requests = requests - w.requests;
      const std::uint64_t window_misses = std::min(window_requests, source_reads - w.source_reads);
      const auto elapsed = now - w.start;
      w = {true, now, requests, source_reads};
      if (window_requests < alert.min_requests || window_requests == 0) continue;
      const double ratio = static_cast<double>(window_requests - window_misses) /
                           static_cast<double>(window_requests);
      if (ratio >= alert.threshold) continue;
      char line[512];
      std::snprintf(line, sizeof line,
                    "cache \"%s\": hit ratio %.1f%% over the last %.0f s (%llu requests, %llu "
                    "from the source) is under the alert threshold of %.1f%%",
                    e.name.c_str(), ratio * 100, std::chrono::duration<double>(elapsed).count(),
                    static_cast<unsigned long long>(window_requests),
                    static_cast<unsigned long long>(window_misses), alert.threshold * 100);
      warnings.emplace_back(line);
    }
  }
  for (const std::string& w : warnings) options_.log(LogLevel::kWarning, w);
  return warnings.size();
}

}  // namespace strata
