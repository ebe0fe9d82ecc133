// strata/source/table_mapping.h: how a value type V maps onto a SQL table for SqliteSource and
// PostgresSource: one key column plus either several typed columns, or one document column
// holding the value encoded by a codec (JSON text / jsonb, or bytes).
//
//   auto mapping = strata::TableMapping<User>::columns("users", "id",
//       {strata::column("name", &User::name), strata::column("version", &User::version)});
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "strata/codec/codec.h"
#include "strata/codec/json.h"
#include "strata/error.h"
#include "strata/source/source.h"

namespace strata {

// The SQL types a column can have:
//   type     SQLite    PostgreSQL   SqlValue alternative
//   kText    TEXT      text         std::string (PostgreSQL: valid UTF-8, no NUL byte)
//   kBytes   BLOB      bytea        std::string (any bytes)
//   kInt64   INTEGER   bigint       std::int64_t
//   kDouble  REAL      float8       double
//   kJson    TEXT      jsonb        std::string holding JSON text (jsonb rejects \u0000 and
//                                   normalises whitespace and key order)
enum class ColumnType { kText, kBytes, kInt64, kDouble, kJson };

[[nodiscard]] std::string_view to_string(ColumnType type) noexcept;

// One column's value; std::monostate is SQL NULL.
using SqlValue = std::variant<std::monostate, std::int64_t, double, std::string>;
// A row's value columns, in the mapping's column order (the key is not part of it).
using Row = std::vector<SqlValue>;

struct ColumnSpec {
  std::string name;
  ColumnType type = ColumnType::kText;
};

// The table a mapping describes, without the value type: what SqliteTable and PostgresTable see.
struct TableSchema {
  std::string table;
  std::string key_column;
  std::vector<ColumnSpec> columns;
  bool create_if_missing = false;  // CREATE TABLE IF NOT EXISTS when the source opens
  // The key column's type: kText (text/varchar; SQLite TEXT) or kInt64 (bigint, integer or
  // smallint; SQLite INTEGER). Cache keys are strings: with kInt64 a key must be the canonical
  // decimal form of an integer ("42", "-7"; not "042", "+7" or "4x"), else InvalidArgumentError.
  ColumnType key_type = ColumnType::kText;

  // Throws InvalidArgumentError naming the bad identifier, a duplicate or a missing column.
  void validate() const;
  // Throws InvalidArgumentError when `key` cannot be a value of the key column (see key_type).
  void check_key(std::string_view key) const;
};

// A typed column of V: its name, SQL type, and how to read it from / write it into a V.
template <typename V>
struct Column {
  std::string name;
  ColumnType type = ColumnType::kText;
  std::function<SqlValue(const V&)> get;
  std::function<void(V&, const SqlValue&)> set;  // receives std::monostate for NULL
};

namespace detail {

template <typename T>
struct IsOptional : std::false_type {};
template <typename T>
struct IsOptional<std::optional<T>> : std::true_type {};

template <typename M>
constexpr ColumnType default_column_type() {
  if constexpr (IsOptional<M>::value) {
    return default_column_type<typename M::value_type>();
  } else if constexpr (std::is_same_v<M, std::string>) {
    return ColumnType::kText;
  } else if constexpr (std::is_floating_point_v<M>) {
    return ColumnType::kDouble;
  } else {
    static_assert(std::is_integral_v<M> && !std::is_same_v<M, bool>,
                  "column members are std::string, integers, floating point, or optionals");
    return ColumnType::kInt64;
  }
}

template <typename M>
SqlValue to_sql(const M& member, const std::string& column) {
  if constexpr (IsOptional<M>::value) {
    return member ? to_sql(*member, column) : SqlValue{};
  } else if constexpr (std::is_same_v<M, std::string>) {
    return SqlValue{member};
  } else if constexpr (std::is_floating_point_v<M>) {
    return SqlValue{static_cast<double>(member)};
  } else {
    if (!std::in_range<std::int64_t>(member)) {  // an unsigned member above INT64_MAX
      throw InvalidArgumentError("column \"" + column + "\": " + std::to_string(member) +
                                 " exceeds the int64 range of the column");
    }
    return SqlValue{static_cast<std::int64_t>(member)};
  }
}

template <typename M>
void from_sql(const SqlValue& value, M& member, const std::string& column) {
  if (std::holds_alternative<std::monostate>(value)) {
    member = M{};  // NULL: an empty optional, or a default value for a plain member
    return;
  }
  if constexpr (IsOptional<M>::value) {
    typename M::value_type inner{};
    from_sql(value, inner, column);
    member = std::move(inner);
  } else {
    using Want =
        std::conditional_t<std::is_same_v<M, std::string>, std::string,
                           std::conditional_t<std::is_floating_point_v<M>, double, std::int64_t>>;
    const Want* got = std::get_if<Want>(&value);
    if (got == nullptr) {
      throw CorruptedError("column \"" + column + "\" holds a value of another type");
    }
    if constexpr (std::is_integral_v<M>) {
      if (!std::in_range<M>(*got)) {  // e.g. a negative number for an unsigned member
        throw CorruptedError("column \"" + column + "\" holds " + std::to_string(*got) +
                             ", out of range for its member");
      }
    }
    member = static_cast<M>(*got);
  }
}

}  // namespace detail

// A column bound to a data member; the SQL type follows the member's type (std::string ->
// kText, integers -> kInt64, floating point -> kDouble, std::optional<T> -> nullable T). For a
// non-optional member, NULL reads back as the member's default value.
template <typename V, typename M>
[[nodiscard]] Column<V> column(std::string name, M V::*member) {
  return column(std::move(name), detail::default_column_type<M>(), member);
}

// The same with an explicit SQL type, e.g. ColumnType::kBytes for a std::string of raw bytes.
template <typename V, typename M>
[[nodiscard]] Column<V> column(std::string name, ColumnType type, M V::*member) {
  std::string column_name = name;
  return Column<V>{
      std::move(name), type,
      [member, column_name](const V& v) { return detail::to_sql(v.*member, column_name); },
      [member, column_name](V& v, const SqlValue& value) {
        detail::from_sql(value, v.*member, column_name);
      }};
}

// The names of a document mapping's columns and the document column's type (by default kJson
// for the JSON codec, kBytes for any other codec).
struct DocumentColumns {
  std::string key_column = "key";
  std::string value_column = "value";
  std::optional<ColumnType> type{};
};

// How V maps onto a table. Immutable once built; validated on construction (identifiers are
// checked against ^[A-Za-z_][A-Za-z0-9_]{0,62}$ and rejected with InvalidArgumentError).
// V must be default-constructible for the column mapping (setters fill a V{}).
template <typename V>
class TableMapping {
 public:
  // Several typed columns, each declared with column(...) or as a Column<V> with lambdas.
  [[nodiscard]] static TableMapping columns(std::string table, std::string key_column,
                                            std::vector<Column<V>> columns) {
    TableMapping mapping;
    mapping.schema_.table = std::move(table);
    mapping.schema_.key_column = std::move(key_column);
    for (const auto& c : columns) {
      if (!c.get || !c.set) {
        throw InvalidArgumentError("column \"" + c.name + "\" needs both a getter and a setter");
      }
      mapping.schema_.columns.push_back({c.name, c.type});
    }
    mapping.columns_ = std::move(columns);
    mapping.schema_.validate();
    return mapping;
  }

  // One document column holding codec.encode(value).
  template <typename C = JsonCodec<V>>
  requires Codec<C, V>
  [[nodiscard]] static TableMapping document(std::string table, C codec = {},
                                             DocumentColumns names = {}) {
    const ColumnType type =
        names.type.value_or(C::id == kJsonCodecId ? ColumnType::kJson : ColumnType::kBytes);
    if (type == ColumnType::kInt64 || type == ColumnType::kDouble) {
      throw InvalidArgumentError("a document column is kText, kBytes or kJson");
    }
    Column<V> doc{std::move(names.value_column), type,
                  [codec](const V& v) { return SqlValue{codec.encode(v)}; },
                  [codec](V& v, const SqlValue& value) {
                    const auto* text = std::get_if<std::string>(&value);
                    if (text == nullptr) throw CorruptedError("document column is NULL");
                    v = codec.decode(*text);
                  }};
    std::vector<Column<V>> columns;
    columns.push_back(std::move(doc));
    return TableMapping::columns(std::move(table), std::move(names.key_column), std::move(columns));
  }

  // The key column's SQL type (TableSchema::key_type): kText (the default) or kInt64, for tables
  // keyed by an integer id: TableMapping<User>::columns("users", "id", {...}).key_type(kInt64).
  TableMapping& key_type(ColumnType type) {
    schema_.key_type = type;
    schema_.validate();
    return *this;
  }

  // Creates the table (CREATE TABLE IF NOT EXISTS) when the source opens.
  TableMapping& create_table_if_missing(bool create = true) {
    schema_.create_if_missing = create;
    return *this;
  }

  // The table, key and columns, without V.
  [[nodiscard]] const TableSchema& schema() const noexcept { return schema_; }

  // The value's columns, in column order.
  [[nodiscard]] Row to_row(const V& value) const {
    Row row;
    row.reserve(columns_.size());
    for (const auto& c : columns_) row.push_back(c.get(value));
    return row;
  }

  // A value filled from a row's columns; throws CorruptedError when a column cannot be read.
  [[nodiscard]] V from_row(const Row& row) const {
    if (row.size() != columns_.size()) throw InternalError("row has the wrong number of columns");
    V value{};
    for (std::size_t i = 0; i < columns_.size(); ++i) columns_[i].set(value, row[i]);
    return value;
  }

 private:
  TableMapping() = default;
  TableSchema schema_;
  std::vector<Column<V>> columns_;
};

}  // namespace strata
