// strata/source/table_source.h: TableSource<V, Table>, a Source of V over a SQL table (SqliteTable
// or PostgresTable) through a TableMapping<V>. Use it through its aliases SqliteSource<V>
// (strata/source/sqlite_source.h) and PostgresSource<V> (strata/source/postgres_source.h).
//
//   strata::SqliteSource<User> users({.path = "app.db"}, mapping);  // users.load("42")
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "strata/source/source.h"
#include "strata/source/table_mapping.h"

namespace strata {

// One row to write, for the row-level tables: a key and its value columns (not owned).
struct RowWrite {
  std::string_view key;
  const Row* row = nullptr;
};

// A Source<V> over a row-level table. Thread-safety is the table's (both strata tables may be
// shared by any number of threads). Keys: see the table's header for what each backend accepts.
template <typename V, typename Table>
class TableSource {
 public:
  using value_type = V;
  using Options = typename Table::Options;

  // A write-through transaction (see SourceTransaction in strata/source/source.h).
  class Transaction {
   public:
    // Inserts or replaces `key` inside the transaction.
    void write(std::string_view key, const V& value) { txn_.write(key, mapping_->to_row(value)); }
    // Deletes `key` inside the transaction (a missing key is not an error).
    void erase(std::string_view key) { txn_.erase(key); }
    // Makes the transaction's writes visible; without it they are rolled back.
    void commit() { txn_.commit(); }

   private:
    friend class TableSource;
    Transaction(typename Table::Transaction txn, std::shared_ptr<const TableMapping<V>> mapping)
        : txn_(std::move(txn)), mapping_(std::move(mapping)) {}
    typename Table::Transaction txn_;
    std::shared_ptr<const TableMapping<V>> mapping_;
  };

  // Opens the table (creating it when the mapping asks for it). Throws InvalidArgumentError for
  // bad options, UnavailableError when the database cannot be reached.
  TableSource(Options options, TableMapping<V> mapping)
      : mapping_(std::make_shared<const TableMapping<V>>(std::move(mapping))),
        table_(std::move(options), mapping_->schema()) {}

  // The value under `key`, or std::nullopt.
  [[nodiscard]] std::optional<V> load(std::string_view key) {
    auto row = table_.load(key);
    if (!row) return std::nullopt;
    return mapping_->from_row(*row);
  }

  // One optional per key, in request order.
  [[nodiscard]] std::vector<std::optional<V>> load_many(std::span<const std::string> keys) {
    auto rows = table_.load_many(keys);
    std::vector<std::optional<V>> values;
    values.reserve(rows.size());
    for (auto& row : rows) {
      values.push_back(row ? std::optional<V>(mapping_->from_row(*row)) : std::nullopt);
    }
    return values;
  }

  // Inserts or replaces one value.
  void write(std::string_view key, const V& value) { table_.write(key, mapping_->to_row(value)); }

  // Inserts or replaces all entries atomically (the last entry wins for a repeated key).
  void write_batch(std::span<const KeyValue<V>> entries) {
    std::vector<Row> rows;
    rows.reserve(entries.size());
    std::vector<RowWrite> writes;
    writes.reserve(entries.size());
    for (const auto& [key, value] : entries) rows.push_back(mapping_->to_row(value));
    for (std::size_t i = 0; i < entries.size(); ++i) writes.push_back({entries[i].first, &rows[i]});
    table_.write_batch(writes);
  }

  // Deletes one key (a missing key is not an error).
  void erase(std::string_view key) { table_.erase(key); }

  // Deletes all keys atomically.
  void erase_batch(std::span<const std::string> keys) { table_.erase_batch(keys); }

  // Starts a write-through transaction.
  [[nodiscard]] Transaction begin() { return Transaction(table_.begin(), mapping_); }

  // The mapping and the row-level table underneath.
  [[nodiscard]] const TableMapping<V>& mapping() const noexcept { return *mapping_; }
  [[nodiscard]] Table& table() noexcept { return table_; }

 private:
  std::shared_ptr<const TableMapping<V>> mapping_;
  Table table_;
};

}  // namespace strata
