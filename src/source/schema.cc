#include "source/schema.h"

#include <charconv>
#include <string>
#include <unordered_set>

#include "strata/source/source.h"

namespace strata {

bool is_valid_identifier(std::string_view name) noexcept {
  if (name.empty() || name.size() > 63) return false;
  const auto letter = [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
  };
  if (!letter(name[0])) return false;
  for (const char c : name) {
    if (!letter(c) && !(c >= '0' && c <= '9')) return false;
  }
  return true;
}

void validate_identifier(std::string_view what, std::string_view name) {
  if (is_valid_identifier(name)) return;
  std::string shown;
  for (const char c : name) {  // show control bytes escaped, never raw
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      static constexpr char kHex[] = "0123456789abcdef";
      shown += "\\x";
      shown += kHex[u >> 4];
      shown += kHex[u & 0xf];
    } else {
      shown += c;
    }
  }
  throw InvalidArgumentError("invalid " + std::string(what) + " '" + shown +
                             "': identifiers must match ^[A-Za-z_][A-Za-z0-9_]{0,62}$");
}

std::string_view to_string(ColumnType type) noexcept {
  switch (type) {
    case ColumnType::kText:
      return "text";
    case ColumnType::kBytes:
      return "bytes";
    case ColumnType::kInt64:
      return "int64";
    case ColumnType::kDouble:
      return "double";
    case ColumnType::kJson:
      return "json";
  }
  return "unknown";
}

void TableSchema::validate() const {
  validate_identifier("table name", table);
  validate_identifier("key column name", key_column);
  if (key_type != ColumnType::kText && key_type != ColumnType::kInt64) {
    throw InvalidArgumentError("table '" + table + "' key column '" + key_column +
                               "': key_type is kText or kInt64, not " +
                               std::string(to_string(key_type)));
  }
  if (columns.empty()) throw InvalidArgumentError("table '" + table + "' maps no value column");
  std::unordered_set<std::string> seen{key_column};
  for (const auto& column : columns) {
    validate_identifier("column name", column.name);
    if (!seen.insert(column.name).second) {
      throw InvalidArgumentError("column '" + column.name + "' appears twice in table '" + table +
                                 "' (the key column counts)");
    }
  }
}

void TableSchema::check_key(std::string_view key) const {
  if (key_type != ColumnType::kInt64) return;
  std::int64_t value = 0;
  const char* const end = key.data() + key.size();
  const auto [ptr, error] = std::from_chars(key.data(), end, value);
  // Canonical only: "042" and "42" would be two cache keys for one row.
  if (key.empty() || error != std::errc() || ptr != end || std::to_string(value) != key) {
    std::string shown(key.substr(0, 64));
    for (char& c : shown) {
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
    }
    throw InvalidArgumentError("table '" + table + "' key column '" + key_column +
                               "' holds integers: key '" + shown +
                               "' is not one (canonical decimal, e.g. 42 or -7)");
  }
}

namespace source {

std::string quote(std::string_view identifier) {
  return "\"" + std::string(identifier) + "\"";
}

void check_value(const ColumnSpec& column, const SqlValue& value) {
  const bool ok = std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::monostate>) {
          return true;
        } else if constexpr (std::is_same_v<T, std::int64_t>) {
          return column.type == ColumnType::kInt64;
        } else if constexpr (std::is_same_v<T, double>) {
          return column.type == ColumnType::kDouble;
        } else {
          return column.type == ColumnType::kText || column.type == ColumnType::kBytes ||
                 column.type == ColumnType::kJson;
        }
      },
      value);
  if (!ok) {
    throw InvalidArgumentError("column '" + column.name + "' is declared " +
                               std::string(to_string(column.type)) +
                               " but the mapping produced a value of another type");
  }
}

}  // namespace source
}  // namespace strata
