#include "common/stats.h"

#include <algorithm>
#include <cmath>

namespace strata::tools {

double median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

double min_of(const std::vector<double>& values) {
  return values.empty() ? 0 : *std::min_element(values.begin(), values.end());
}

double max_of(const std::vector<double>& values) {
  return values.empty() ? 0 : *std::max_element(values.begin(), values.end());
}

std::optional<double> ratio(std::optional<double> a, std::optional<double> b) {
  if (!a || !b || !(*b > 0)) return std::nullopt;
  return *a / *b;
}

double percentile_ms(const LatencyHistogram& histogram, double pct) {
  return std::chrono::duration<double, std::milli>(histogram.percentile(pct)).count();
}

double percentile_us(const LatencyHistogram& histogram, double pct) {
  return std::chrono::duration<double, std::micro>(histogram.percentile(pct)).count();
}

double max_ms(const LatencyHistogram& histogram) {
  return histogram.count() == 0
             ? 0
             : std::chrono::duration<double, std::milli>(histogram.max()).count();
}

LatencyHistogram histogram_of_ms(const std::vector<double>& milliseconds) {
  LatencyHistogram h;
  for (const double ms : milliseconds) {
    h.record(
        std::chrono::nanoseconds(static_cast<std::int64_t>(std::llround(std::max(0.0, ms) * 1e6))));
  }
  return h;
}

}  // namespace strata::tools
