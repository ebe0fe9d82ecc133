#include "ops/prometheus_text.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <set>

namespace strata::ops {

namespace {

bool name_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}
bool name_char(char c) {
  return name_start(c) || (c >= '0' && c <= '9');
}
bool blank(char c) {
  return c == ' ' || c == '\t';
}

// A cursor over one line.
struct Cursor {
  std::string_view s;
  std::size_t i = 0;
  void skip_blanks() {
    while (i < s.size() && blank(s[i])) ++i;
  }
  [[nodiscard]] bool done() const { return i >= s.size(); }
  [[nodiscard]] char peek() const { return s[i]; }
  std::string name() {
    const std::size_t start = i;
    if (i < s.size() && name_start(s[i])) {
      ++i;
      while (i < s.size() && name_char(s[i])) ++i;
    }
    return std::string(s.substr(start, i - start));
  }
  std::string token() {
    const std::size_t start = i;
    while (i < s.size() && !blank(s[i])) ++i;
    return std::string(s.substr(start, i - start));
  }
};

bool parse_value(const std::string& token, double& out) {
  if (token == "NaN") {
    out = std::numeric_limits<double>::quiet_NaN();
    return true;
  }
  if (token == "+Inf" || token == "Inf") {
    out = std::numeric_limits<double>::infinity();
    return true;
  }
  if (token == "-Inf") {
    out = -std::numeric_limits<double>::infinity();
    return true;
  }
  if (token.empty()) return false;
  char* end = nullptr;
  errno = 0;
  out = std::strtod(token.c_str(), &end);
  return end == token.c_str() + token.size() && errno != ERANGE;
}

// Parses `{name="value",...}`; the cursor is on '{'. Returns an error message or "".
std::string parse_labels(Cursor& c, Labels& labels) {
  ++c.i;  // '{'
  while (true) {
    c.skip_blanks();
    if (c.done()) return "unterminated label set";
    if (c.peek() == '}') {
      ++c.i;
      return "";
    }
    std::string label = c.name();
    if (label.empty()) return "bad label name";
    c.skip_blanks();
    if (c.done() || c.peek() != '=') return "expected '=' after label " + label;
    ++c.i;
    c.skip_blanks();
    if (c.done() || c.peek() != '"') return "expected '\"' for label " + label;
    ++c.i;
    std::string value;
    bool closed = false;
    while (!c.done()) {
      const char ch = c.s[c.i++];
      if (ch == '"') {
        closed = true;
        break;
      }
      if (ch == '\\') {
        if (c.done()) break;
        const char e = c.s[c.i++];
        if (e == 'n') {
          value += '\n';
        } else if (e == '\\' || e == '"') {
          value += e;
        } else {
          value += '\\';  // unknown escape: kept as written
          value += e;
        }
      } else {
        value += ch;
      }
    }
    if (!closed) return "unterminated value of label " + label;
    labels[label] = std::move(value);
    c.skip_blanks();
    if (!c.done() && c.peek() == ',') ++c.i;
  }
}

}  // namespace

std::optional<double> Exposition::value(std::string_view name, const Labels& match) const {
  for (const auto& s : samples) {
    if (s.name != name) continue;
    const bool all = std::all_of(match.begin(), match.end(), [&](const auto& kv) {
      const auto it = s.labels.find(kv.first);
      return it != s.labels.end() && it->second == kv.second;
    });
    if (all) return s.value;
  }
  return std::nullopt;
}

std::vector<std::string> Exposition::label_values(std::string_view name,
                                                  std::string_view label) const {
  std::set<std::string> seen;
  for (const auto& s : samples) {
    if (s.name != name) continue;
    const auto it = s.labels.find(std::string(label));
    if (it != s.labels.end()) seen.insert(it->second);
  }
  return {seen.begin(), seen.end()};
}

Exposition parse_exposition(std::string_view text) {
  Exposition e;
  std::size_t line_no = 0;
  auto skip = [&](const std::string& why) {
    ++e.skipped_lines;
    if (e.first_error.empty()) e.first_error = "line " + std::to_string(line_no) + ": " + why;
  };
  std::size_t pos = 0;
  while (pos <= text.size()) {
    const std::size_t nl = text.find('\n', pos);
    std::string_view line =
        text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() + 1 : nl + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    Cursor c{line};
    c.skip_blanks();
    if (c.done()) continue;
    if (c.peek() == '#') {
      ++c.i;
      c.skip_blanks();
      const std::string keyword = c.token();
      if (keyword == "TYPE") {
        c.skip_blanks();
        std::string name = c.name();
        c.skip_blanks();
        std::string type = c.token();
        if (!name.empty()) e.types[name] = type;
      }
      continue;  // HELP and other comments
    }
    Sample sample;
    sample.name = c.name();
    if (sample.name.empty()) {
      skip("not a metric name");
      continue;
    }
    c.skip_blanks();
    if (!c.done() && c.peek() == '{') {
      const std::string error = parse_labels(c, sample.labels);
      if (!error.empty()) {
        skip(error);
        continue;
      }
    }
    c.skip_blanks();
    if (!parse_value(c.token(), sample.value)) {
      skip("bad value for " + sample.name);
      continue;
    }
    c.skip_blanks();
    if (!c.done()) {
      double timestamp = 0;
      if (!parse_value(c.token(), timestamp)) {
        skip("bad timestamp for " + sample.name);
        continue;
      }
      c.skip_blanks();
      if (!c.done()) {
        skip("trailing text after " + sample.name);
        continue;
      }
    }
    e.samples.push_back(std::move(sample));
  }
  return e;
}

}  // namespace strata::ops
