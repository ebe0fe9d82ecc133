// ops/stats_command.h: `strata stats --metrics URL`: reads a running process's Prometheus
// endpoint (the agreed strata_cache_* and strata_write_behind_* metrics, docs/operations-cli.md)
// and summarises it per cache (hit ratio and latency percentiles per layer, source loads, L1
// size, breaker, evictions) and per write-behind writer (queue depth, oldest age, dead letters).
//
//   std::string body = strata::ops::fetch_metrics("http://127.0.0.1:9464/metrics", 2s);
//   std::cout << strata::ops::render_stats(strata::ops::summarize_metrics(parse_exposition(body)));
#pragma once

#include <chrono>
#include <string>

#include "ops/ops_context.h"
#include "ops/prometheus_text.h"

namespace strata::ops {

// HTTP GET of `url` (http://host:port/path; the path defaults to /metrics) with cpp-httplib.
// Throws UnavailableError naming the URL when it cannot be fetched or answers other than 200.
[[nodiscard]] std::string fetch_metrics(const std::string& url, std::chrono::milliseconds timeout);

// The summary `strata stats --json` prints. With `previous` (the scrape `seconds` earlier),
// per-layer request rates are added.
[[nodiscard]] Json summarize_metrics(const Exposition& now, const Exposition* previous = nullptr,
                                     double seconds = 0);
// The table `strata stats` prints.
[[nodiscard]] std::string render_stats(const Json& summary);

}  // namespace strata::ops
