#include "ops/json_value.h"

#include <cstdint>
#include <utility>
#include <variant>

#include "strata/codec/json.h"

namespace strata::ops {

ColumnType parse_column_type(std::string_view name) {
  for (ColumnType t : {ColumnType::kText, ColumnType::kBytes, ColumnType::kInt64,
                       ColumnType::kDouble, ColumnType::kJson}) {
    if (to_string(t) == name) return t;
  }
  throw InvalidArgumentError("unknown column type \"" + std::string(name) +
                             "\" (text, bytes, int64, double, json)");
}

Column<nlohmann::json> json_member_column(std::string name, ColumnType type) {
  Column<nlohmann::json> column;
  column.name = name;
  column.type = type;
  column.get = [name, type](const nlohmann::json& v) -> SqlValue {
    if (!v.is_object()) {
      throw InvalidArgumentError("a typed table mapping needs a JSON object value");
    }
    const auto it = v.find(name);
    if (it == v.end() || it->is_null()) return SqlValue{};
    switch (type) {
      case ColumnType::kInt64:
        if (!it->is_number_integer()) {
          throw InvalidArgumentError("member \"" + name + "\" must be an integer (int64 column)");
        }
        if (it->is_number_unsigned() &&
            it->get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX)) {
          throw InvalidArgumentError("member \"" + name + "\": " + it->dump() +
                                     " exceeds the int64 range of the column");
        }
        return SqlValue{it->get<std::int64_t>()};
      case ColumnType::kDouble:
        if (!it->is_number()) {
          throw InvalidArgumentError("member \"" + name + "\" must be a number (double column)");
        }
        return SqlValue{it->get<double>()};
      case ColumnType::kJson:
        return SqlValue{it->dump()};
      case ColumnType::kText:
      case ColumnType::kBytes:
        return SqlValue{it->is_string() ? it->get<std::string>() : it->dump()};
    }
    return SqlValue{};
  };
  column.set = [name, type](nlohmann::json& v, const SqlValue& value) {
    if (!v.is_object()) v = nlohmann::json::object();
    if (type == ColumnType::kJson) {
      if (const auto* text = std::get_if<std::string>(&value)) {
        internal::check_json_nesting(*text, internal::kDefaultMaxNestingDepth,
                                     "column \"" + name + "\"");
        nlohmann::json parsed = nlohmann::json::parse(*text, nullptr, false);
        if (parsed.is_discarded()) {
          throw CorruptedError("column \"" + name + "\" does not hold JSON text");
        }
        v[name] = std::move(parsed);
        return;
      }
    }
    v[name] = sql_value_to_json(value);
  };
  return column;
}

nlohmann::json sql_value_to_json(const SqlValue& value) {
  return std::visit(
      [](const auto& x) -> nlohmann::json {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::monostate>) {
          return nullptr;
        } else {
          return x;
        }
      },
      value);
}

}  // namespace strata::ops
