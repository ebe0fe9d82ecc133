// The Prometheus text exposition format 0.0.4 of a MetricsSnapshot. Families are emitted in a
// fixed order, each with its HELP and TYPE lines and then one sample per cache (or writer), so a
// family's samples stay together as the format requires.
//
// Adding a counter of TieredCacheStats to the scrape is one line in kCacheCounters below.
#include <charconv>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "strata/metrics/metrics.h"

namespace strata {
namespace {

using Stats = TieredCacheStats;

// Counters read straight from TieredCacheStats: name, help, value.
struct CounterFamily {
  std::string_view name;
  std::string_view help;
  std::uint64_t (*value)(const Stats&);
};
constexpr CounterFamily kCacheCounters[] = {
    {"strata_cache_negative_hits_total", "Reads answered by a negative (not found) marker.",
     [](const Stats& s) { return s.negative_hits; }},
    {"strata_cache_source_writes_total", "Puts and erases applied to the source of record.",
     [](const Stats& s) { return s.source.writes; }},
    {"strata_cache_source_write_errors_total", "Source writes that failed (seen by callers).",
     [](const Stats& s) { return s.source.write_errors; }},
    {"strata_cache_refreshes_total", "Refresh-ahead reloads that completed.",
     [](const Stats& s) { return s.refreshes; }},
    {"strata_cache_refresh_failures_total", "Refresh-ahead reloads that failed.",
     [](const Stats& s) { return s.refresh_failures; }},
    {"strata_cache_write_behind_enqueued_total", "Writes handed to the write-behind sink.",
     [](const Stats& s) { return s.write_behind_enqueued; }},
    {"strata_cache_l2_breaker_opens_total", "Times the L2 circuit breaker opened.",
     [](const Stats& s) { return s.l2.breaker_opens; }},
    {"strata_cache_l2_fills_skipped_total", "L2 fills refused because an invalidation won.",
     [](const Stats& s) { return s.l2.fills_skipped; }},
    {"strata_cache_l2_corrupted_total", "Undecodable L2 values, treated as misses and deleted.",
     [](const Stats& s) { return s.l2.corrupted; }},
    {"strata_cache_l2_foreign_total",
     "L2 values of another program (another shape or Redis type): misses left in place.",
     [](const Stats& s) { return s.l2.foreign; }},
    {"strata_cache_single_flight_waits_total",
     "Misses that joined another thread's load of the key instead of loading.",
     [](const Stats& s) { return s.stampede.single_flight_waits; }},
    {"strata_cache_write_behind_pending_reads_total",
     "Source loads answered by a write-behind write not yet flushed.",
     [](const Stats& s) { return s.write_behind_pending_reads; }},
    {"strata_cache_stale_served_total", "Reads answered past the soft TTL (a refresh scheduled).",
     [](const Stats& s) { return s.stampede.stale_served; }},
    {"strata_cache_stale_if_error_served_total",
     "Source errors answered with a stale value (stale-if-error).",
     [](const Stats& s) { return s.stampede.stale_if_error_served; }},
    {"strata_cache_lease_acquired_total", "Misses that took the cross-process lease and loaded.",
     [](const Stats& s) { return s.stampede.lease_acquired; }},
    {"strata_cache_lease_waits_total", "Misses that found the lease held and waited.",
     [](const Stats& s) { return s.stampede.lease_waits; }},
    {"strata_cache_lease_timeouts_total", "Lease waits that reached their deadline.",
     [](const Stats& s) { return s.stampede.lease_timeouts; }},
    {"strata_cache_early_refreshes_total", "XFetch decisions to recompute before expiry.",
     [](const Stats& s) { return s.stampede.early_refreshes; }},
    {"strata_cache_tracking_flushes_total",
     "L1 flushes by Redis tracking (FLUSHALL, a lost invalidation connection).",
     [](const Stats& s) { return s.tracking.flushes; }},
};

// Label values: backslash, double quote and line feed are escaped (the format's rule).
void append_escaped(std::string& out, std::string_view value) {
  for (const char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
}

void append_number(std::string& out, double value) {
  char buf[64];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  out.append(buf, ec == std::errc() ? end : buf);
}

void append_number(std::string& out, std::uint64_t value) {
  out += std::to_string(value);
}

class Writer {
 public:
  void family(std::string_view name, std::string_view type, std::string_view help) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += help;  // our own text: no backslash or line feed to escape
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }
  // name{k1="v1",k2="v2"} value
  template <typename T>
  void sample(std::string_view name,
              std::initializer_list<std::pair<std::string_view, std::string_view>> labels,
              T value) {
    out_ += name;
    if (labels.size() > 0) {
      out_ += '{';
      bool first = true;
      for (const auto& [k, v] : labels) {
        if (!first) out_ += ',';
        first = false;
        out_ += k;
        out_ += "=\"";
        append_escaped(out_, v);
        out_ += '"';
      }
      out_ += '}';
    }
    out_ += ' ';
    append_number(out_, value);
    out_ += '\n';
  }
  [[nodiscard]] std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

void summary_samples(Writer& w, std::string_view name, std::string_view cache,
                     std::string_view layer, const LatencySummary& s) {
  const std::pair<std::string_view, double> quantiles[] = {
      {"0.5", s.p50}, {"0.9", s.p90}, {"0.99", s.p99}, {"0.999", s.p999}};
  for (const auto& [q, v] : quantiles) {
    if (layer.empty()) {
      w.sample(name, {{"cache", cache}, {"quantile", q}}, v);
    } else {
      w.sample(name, {{"cache", cache}, {"layer", layer}, {"quantile", q}}, v);
    }
  }
  const std::string sum = std::string(name) + "_sum";
  const std::string count = std::string(name) + "_count";
  if (layer.empty()) {
    w.sample(sum, {{"cache", cache}}, s.sum_seconds);
    w.sample(count, {{"cache", cache}}, s.count);
  } else {
    w.sample(sum, {{"cache", cache}, {"layer", layer}}, s.sum_seconds);
    w.sample(count, {{"cache", cache}, {"layer", layer}}, s.count);
  }
}

double breaker_value(BreakerState state) {
  switch (state) {
    case BreakerState::kClosed:
      return 0;
    case BreakerState::kHalfOpen:
      return 1;
    case BreakerState::kOpen:
      return 2;
  }
  return 0;
}

}  // namespace

std::string to_prometheus_text(const MetricsSnapshot& snapshot) {
  Writer w;
  const auto& caches = snapshot.caches;
  if (!caches.empty()) {
    w.family("strata_cache_requests_total", "counter",
             "Cache reads by the layer that saw them and their result.");
    for (const auto& entry : caches) {
      // Not a structured binding: clang 14 (the fuzz build) cannot capture one in a lambda.
      const std::string& name = entry.first;
      const Stats& s = entry.second.stats;
      const auto layer = [&](std::string_view l, std::uint64_t hit, std::uint64_t miss,
                             std::uint64_t error) {
        w.sample("strata_cache_requests_total", {{"cache", name}, {"layer", l}, {"result", "hit"}},
                 hit);
        w.sample("strata_cache_requests_total", {{"cache", name}, {"layer", l}, {"result", "miss"}},
                 miss);
        w.sample("strata_cache_requests_total",
                 {{"cache", name}, {"layer", l}, {"result", "error"}}, error);
      };
      if (s.l1.enabled) layer("l1", s.l1.hits, s.l1.misses, 0);
      if (s.l2.enabled) layer("l2", s.l2.hits, s.l2.misses, s.l2.errors);
      layer("source", s.source.loads - s.source.not_found, s.source.not_found,
            s.source.load_errors);
    }

    w.family("strata_cache_get_latency_seconds", "summary",
             "Get latency by the layer that answered (L1 hits sampled one in 64 per thread).");
    for (const auto& [name, m] : caches) {
      if (m.stats.l1.enabled) {
        summary_samples(w, "strata_cache_get_latency_seconds", name, "l1", m.latency.get_l1);
      }
      if (m.stats.l2.enabled) {
        summary_samples(w, "strata_cache_get_latency_seconds", name, "l2", m.latency.get_l2);
      }
      summary_samples(w, "strata_cache_get_latency_seconds", name, "source", m.latency.get_source);
    }

    w.family("strata_cache_load_latency_seconds", "summary",
             "Latency of the source (or loader) call alone.");
    for (const auto& [name, m] : caches) {
      summary_samples(w, "strata_cache_load_latency_seconds", name, "", m.latency.load);
    }

    w.family("strata_cache_evictions_total", "counter", "L1 removals by cause.");
    for (const auto& [name, m] : caches) {
      if (!m.stats.l1.enabled) continue;
      const CacheStats& l1 = m.stats.l1.cache;
      w.sample("strata_cache_evictions_total", {{"cache", name}, {"cause", "size"}},
               l1.evicted_size);
      w.sample("strata_cache_evictions_total", {{"cache", name}, {"cause", "expired"}},
               l1.evicted_expired);
      w.sample("strata_cache_evictions_total", {{"cache", name}, {"cause", "explicit"}},
               l1.removed_explicit);
      w.sample("strata_cache_evictions_total", {{"cache", name}, {"cause", "replaced"}},
               l1.replaced);
    }

    w.family("strata_cache_l1_entries", "gauge", "Entries resident in L1.");
    for (const auto& [name, m] : caches) {
      if (m.stats.l1.enabled)
        w.sample("strata_cache_l1_entries", {{"cache", name}}, m.stats.l1.cache.entries);
    }
    w.family("strata_cache_l1_bytes", "gauge",
             "Weight resident in L1 (bytes when L1 is bounded by maximum_weight).");
    for (const auto& [name, m] : caches) {
      if (m.stats.l1.enabled)
        w.sample("strata_cache_l1_bytes", {{"cache", name}}, m.stats.l1.cache.weight);
    }

    w.family("strata_cache_l2_breaker_state", "gauge",
             "The L2 circuit breaker: 0 closed, 1 half-open, 2 open.");
    for (const auto& [name, m] : caches) {
      if (m.stats.l2.enabled) {
        w.sample("strata_cache_l2_breaker_state", {{"cache", name}},
                 breaker_value(m.stats.l2.breaker));
      }
    }

    for (const CounterFamily& f : kCacheCounters) {
      w.family(f.name, "counter", f.help);
      for (const auto& [name, m] : caches) w.sample(f.name, {{"cache", name}}, f.value(m.stats));
    }
  }

  const auto& writers = snapshot.writers;
  if (!writers.empty()) {
    w.family("strata_write_behind_queue_depth", "gauge", "Distinct keys queued or being flushed.");
    for (const auto& [name, m] : writers) {
      w.sample("strata_write_behind_queue_depth", {{"writer", name}}, m.queue_depth);
    }
    w.family("strata_write_behind_oldest_age_seconds", "gauge", "Age of the oldest pending write.");
    for (const auto& [name, m] : writers) {
      w.sample("strata_write_behind_oldest_age_seconds", {{"writer", name}},
               std::chrono::duration<double>(m.oldest_age).count());
    }
    w.family("strata_write_behind_dead_letters", "gauge", "Writes in the dead-letter store.");
    for (const auto& [name, m] : writers) {
      w.sample("strata_write_behind_dead_letters", {{"writer", name}}, m.dead_letters);
    }
    w.family("strata_write_behind_flushed_total", "counter", "Entries written to the source.");
    for (const auto& [name, m] : writers) {
      w.sample("strata_write_behind_flushed_total", {{"writer", name}}, m.stats.flushed);
    }
    w.family("strata_write_behind_acknowledged_total", "counter",
             "Writes acknowledged to callers.");
    for (const auto& [name, m] : writers) {
      w.sample("strata_write_behind_acknowledged_total", {{"writer", name}}, m.stats.acknowledged);
    }
    w.family("strata_write_behind_journal_damaged_ranges", "gauge",
             "Damaged journal or dead-letter byte ranges quarantined by start-up recovery.");
    for (const auto& [name, m] : writers) {
      w.sample("strata_write_behind_journal_damaged_ranges", {{"writer", name}},
               m.stats.damaged_ranges);
    }
    w.family("strata_write_behind_checkpoint_failures_total", "counter",
             "Failed checkpoint writes (a restart would replay flushed records).");
    for (const auto& [name, m] : writers) {
      w.sample("strata_write_behind_checkpoint_failures_total", {{"writer", name}},
               m.stats.checkpoint_failures);
    }
  }
  return w.take();
}

}  // namespace strata
