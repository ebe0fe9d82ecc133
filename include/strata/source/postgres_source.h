// strata/source/postgres_source.h: PostgresSource<V>, a source of record in a PostgreSQL table over
// libpq, mapped to V by a TableMapping<V>. Use it for data shared by several hosts.
//
//   strata::PostgresSource<User> users({.url = "postgresql://app@db/app"}, mapping);
//   users.write_batch(entries);  // one INSERT ... SELECT FROM unnest(...) ON CONFLICT statement
//
// Threading: a pool of up to `pool_size` connections; each call borrows one (waiting up to
// `acquire_timeout`, then ResourceExhaustedError) and every method may be called from any
// thread. Statements are prepared once per connection; parameters and results are binary.
// load_many is one round trip (`= ANY($1)`), write_batch one statement (unnest of arrays,
// ON CONFLICT DO UPDATE), erase_batch one statement.
//
// Reconnection: a connection found broken (PQstatus CONNECTION_BAD, or SQLSTATE class 08 /
// 57P01-57P03 after a server restart) is discarded with every idle connection of the pool, and
// the call is retried once on a fresh connection. If that fails too, the call throws
// UnavailableError; the next call tries again, so the source survives a server restart without
// being recreated. A write retried this way may already have been applied by the first attempt;
// upserts and deletes are idempotent, so applying it twice leaves the same row. A transaction is
// never retried: a broken connection inside it throws UnavailableError, and if that happens in
// commit() the transaction may or may not have been committed.
//
// Keys are `text`: valid UTF-8 without NUL bytes (others throw InvalidArgumentError).
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

struct PostgresOptions {
  std::string url{};                                  // libpq URI or "key=value" conninfo
  std::size_t pool_size = 4;                          // connections at most
  std::chrono::seconds connect_timeout{5};            // per connection attempt
  std::chrono::milliseconds acquire_timeout{10'000};  // wait for a free connection

  // Throws InvalidArgumentError naming the option.
  void validate() const;
};

// The row-level PostgreSQL table under PostgresSource<V>.
class PostgresTable {
 public:
  using Options = PostgresOptions;

  // BEGIN on a connection held for the transaction's lifetime; ROLLBACK unless commit() ran.
  class Transaction {
   public:
    Transaction(Transaction&&) noexcept;
    Transaction& operator=(Transaction&&) noexcept;
    ~Transaction();
    // Upserts `key` inside the transaction.
    void write(std::string_view key, const Row& row);
    // Deletes `key` inside the transaction.
    void erase(std::string_view key);
    // COMMIT. UnavailableError here means the outcome is unknown.
    void commit();

   private:
    friend class PostgresTable;
    struct Impl;
    explicit Transaction(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
  };

  // Validates, connects one connection (creating the table if the schema says so). Throws
  // InvalidArgumentError for a bad schema or options, UnavailableError when the server is down.
  PostgresTable(PostgresOptions options, TableSchema schema);
  PostgresTable(PostgresTable&&) noexcept;
  PostgresTable& operator=(PostgresTable&&) noexcept;
  ~PostgresTable();

  // The row under `key`, or std::nullopt.
  [[nodiscard]] std::optional<Row> load(std::string_view key);
  // One optional row per key, in request order, in one round trip.
  [[nodiscard]] std::vector<std::optional<Row>> load_many(std::span<const std::string> keys);
  // Upserts one row.
  void write(std::string_view key, const Row& row);
  // Upserts every row in one statement (the last row wins for a repeated key).
  void write_batch(std::span<const RowWrite> rows);
  // Deletes one key.
  void erase(std::string_view key);
  // Deletes every key in one statement.
  void erase_batch(std::span<const std::string> keys);
  // Starts a transaction on a connection of the pool.
  [[nodiscard]] Transaction begin();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A Source<V> over PostgreSQL.
template <typename V>
using PostgresSource = TableSource<V, PostgresTable>;

}  // namespace strata
