// common/stats.h: the statistics every `strata bench` command reports: the median of per-round
// figures (one definition for everyone), min/max, ratios, and percentiles of distributions
// through strata's LatencyHistogram. Use these instead of a private median() or percentile.
//
//   const double ops = strata::tools::median(per_round_ops);   // 0 when there are no rounds
//   strata::LatencyHistogram h;  h.record(std::chrono::microseconds(40));
//   const double p99_ms = strata::tools::percentile_ms(h, 99);
#pragma once

#include <chrono>
#include <optional>
#include <vector>

#include "strata/metrics/latency_histogram.h"

namespace strata::tools {

// The median: the middle value, or the mean of the two middle values for an even count.
// 0 when `values` is empty.
[[nodiscard]] double median(std::vector<double> values);
// The smallest / largest value; 0 when empty.
[[nodiscard]] double min_of(const std::vector<double>& values);
[[nodiscard]] double max_of(const std::vector<double>& values);

// a / b, or nullopt when either is missing or b is not positive.
[[nodiscard]] std::optional<double> ratio(std::optional<double> a, std::optional<double> b);

// A percentile of a histogram (LatencyHistogram::percentile, within 0.8% of the recorded value)
// in milliseconds or microseconds. 0 when the histogram is empty. REQUIRES: 0 <= pct <= 100.
[[nodiscard]] double percentile_ms(const LatencyHistogram& histogram, double pct);
[[nodiscard]] double percentile_us(const LatencyHistogram& histogram, double pct);
[[nodiscard]] double max_ms(const LatencyHistogram& histogram);

// A histogram of durations given in milliseconds (as measured by a wall clock, for example).
// Negative values are recorded as 0.
[[nodiscard]] LatencyHistogram histogram_of_ms(const std::vector<double>& milliseconds);

}  // namespace strata::tools
