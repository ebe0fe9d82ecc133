// ops/prometheus_text.h: a reader for the Prometheus text exposition format 0.0.4, the format
// strata's metrics endpoint serves and `strata stats` reads. Tolerant, as a scraper must be:
// comments and unknown lines are skipped (and counted), label values may hold the \\ \" \n
// escapes, values may be NaN/+Inf/-Inf, an optional timestamp follows the value.
//
//   strata::ops::Exposition e = strata::ops::parse_exposition(body);
//   std::optional<double> v = e.value("strata_cache_l1_entries", {{"cache", "users"}});
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace strata::ops {

using Labels = std::map<std::string, std::string>;

struct Sample {
  std::string name;
  Labels labels;
  double value = 0;
};

struct Exposition {
  std::vector<Sample> samples;
  std::map<std::string, std::string> types;  // # TYPE name counter|gauge|summary|...
  std::size_t skipped_lines = 0;             // malformed lines ignored
  std::string first_error;                   // "line N: why" for the first of them

  // The value of the first sample named `name` whose labels include every pair of `match`.
  [[nodiscard]] std::optional<double> value(std::string_view name, const Labels& match) const;
  // The distinct values of label `label` across samples named `name`.
  [[nodiscard]] std::vector<std::string> label_values(std::string_view name,
                                                      std::string_view label) const;
};

// Parses an exposition body. Never throws: a line it cannot read is skipped and counted.
[[nodiscard]] Exposition parse_exposition(std::string_view text);

}  // namespace strata::ops
