// common/text_table.h: the one plain-text table printer of the `strata` commands (`strata sim`
// and every `strata bench X`): columns sized to their contents, text columns left-aligned, the
// others right-aligned; and the number formats the tables share.
//
//   TextTable t({"trace", "hits"}, {true, false});  t.add({"gli", fixed(67.4, 1)});
//   t.print(std::cout);
#pragma once

#include <algorithm>
#include <cstdio>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace strata::tools {

class TextTable {
 public:
  TextTable(std::vector<std::string> header, std::vector<bool> left_aligned)
      : left_(std::move(left_aligned)) {
    rows_.push_back(std::move(header));
  }
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  void print(std::ostream& out) const {
    std::vector<std::size_t> width;
    for (const auto& row : rows_) {
      if (width.size() < row.size()) width.resize(row.size(), 0);
      for (std::size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
    }
    for (const auto& row : rows_) {
      std::string line;
      for (std::size_t i = 0; i < row.size(); ++i) {
        const bool left = i < left_.size() && left_[i];
        const std::string pad(width[i] - row[i].size(), ' ');
        if (i > 0) line += "  ";
        line += left ? row[i] + (i + 1 < row.size() ? pad : "") : pad + row[i];
      }
      while (!line.empty() && line.back() == ' ') line.pop_back();
      out << line << '\n';
    }
  }

 private:
  std::vector<bool> left_;
  std::vector<std::vector<std::string>> rows_;
};

// `value` with `decimals` decimals ("1234" for fixed(1234.4, 0)); "-" for a missing value.
inline std::string fixed(double value, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, value);
  return buf;
}
inline std::string fixed(std::optional<double> value, int decimals) {
  return value ? fixed(*value, decimals) : std::string("-");
}

// A ratio as "0.98x" (two decimals); "-" when missing.
inline std::string times(std::optional<double> value) {
  return value ? fixed(*value, 2) + "x" : std::string("-");
}

// "12.35" for a percentage with two decimals.
inline std::string percent(double value) {
  char buf[32];
  // No "-0.00" for a difference that rounds to zero.
  std::snprintf(buf, sizeof buf, "%.2f", value > -0.005 && value < 0.005 ? 0.0 : value);
  return buf;
}

}  // namespace strata::tools
