// strata/source/sqlite_source.h: SqliteSource<V>, the embedded default source of record: a SQLite
// table in WAL mode, mapped to V by a TableMapping<V>. Use it when the data lives on this host.
//
//   strata::SqliteSource<User> users({.path = "app.db"}, mapping);
//   users.write("42", user);  auto again = users.load("42");
//
// Threading: one writer connection guarded by a mutex (SQLite allows one writer at a time
// anyway), plus a pool of reader connections that WAL lets run concurrently with the writer and
// each other. Every method may be called from any thread. A Transaction holds the writer for its
// lifetime: other threads' writes wait for it, and a write through the source (not the
// transaction) on the thread holding one throws InvalidArgumentError instead of deadlocking.
// Commit or destroy a Transaction on the thread that began it (it holds the writer's mutex).
// Keys are stored as TEXT bound with their length: any bytes, NUL included, round-trip.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "strata/source/table_source.h"

namespace strata {

struct SqliteOptions {
  std::string path{};                            // the database file (created when missing)
  std::size_t max_idle_readers = 4;              // reader connections kept open between calls
  std::chrono::milliseconds busy_timeout{5000};  // wait this long for another process's lock

  // Throws InvalidArgumentError naming the option.
  void validate() const;
};

// The row-level SQLite table under SqliteSource<V> (values are Rows of SqlValues).
class SqliteTable {
 public:
  using Options = SqliteOptions;

  // BEGIN IMMEDIATE on the writer connection; ROLLBACK unless commit() ran.
  class Transaction {
   public:
    Transaction(Transaction&&) noexcept;
    Transaction& operator=(Transaction&&) noexcept;
    ~Transaction();
    // Inserts or replaces `key` inside the transaction.
    void write(std::string_view key, const Row& row);
    // Deletes `key` inside the transaction.
    void erase(std::string_view key);
    // COMMIT; afterwards the object only releases the writer.
    void commit();

   private:
    friend class SqliteTable;
    struct Impl;
    explicit Transaction(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
  };

  // Opens (and creates, if the schema says so) the table. Throws InvalidArgumentError for a bad
  // schema or options, UnavailableError when the file cannot be opened.
  SqliteTable(SqliteOptions options, TableSchema schema);
  SqliteTable(SqliteTable&&) noexcept;
  SqliteTable& operator=(SqliteTable&&) noexcept;
  ~SqliteTable();

  // The row under `key`, or std::nullopt.
  [[nodiscard]] std::optional<Row> load(std::string_view key);
  // One optional row per key, in request order, read from one snapshot.
  [[nodiscard]] std::vector<std::optional<Row>> load_many(std::span<const std::string> keys);
  // Upserts one row (its own transaction).
  void write(std::string_view key, const Row& row);
  // Upserts every row in one transaction.
  void write_batch(std::span<const RowWrite> rows);
  // Deletes one key.
  void erase(std::string_view key);
  // Deletes every key in one transaction.
  void erase_batch(std::span<const std::string> keys);
  // Starts a transaction on the writer connection.
  [[nodiscard]] Transaction begin();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A Source<V> over SQLite.
template <typename V>
using SqliteSource = TableSource<V, SqliteTable>;

}  // namespace strata
