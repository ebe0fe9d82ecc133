// sqlite_db.h: RAII handles for SQLite connections and prepared statements.
// The SQLite source of record and strata's tools use these; errors become strata::Error.
#pragma once

#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace strata::sqlite {

// A prepared statement. Bind parameters by 1-based index, step() until it returns false, then
// reset() to run it again. Columns are 0-based; views are valid until the next step/reset.
class Statement {
 public:
  Statement(sqlite3* db, std::string_view sql);

  Statement& bind(int index, std::int64_t value);
  Statement& bind(int index, double value);
  Statement& bind_text(int index, std::string_view value);  // copied by SQLite
  Statement& bind_blob(int index, std::string_view value);  // copied by SQLite
  Statement& bind_null(int index);

  // Runs one step: true when a row is ready, false when the statement is done.
  [[nodiscard]] bool step();
  // Runs a statement that returns no rows.
  void run() {
    while (step()) {
    }
  }
  void reset() noexcept;

  [[nodiscard]] bool is_null(int column) const noexcept;
  // SQLITE_INTEGER, SQLITE_FLOAT, SQLITE_TEXT, SQLITE_BLOB or SQLITE_NULL: what the row holds.
  [[nodiscard]] int column_type(int column) const noexcept;
  [[nodiscard]] std::int64_t column_int64(int column) const noexcept;
  [[nodiscard]] double column_double(int column) const noexcept;
  [[nodiscard]] std::string_view column_text(int column) const noexcept;
  [[nodiscard]] std::string_view column_blob(int column) const noexcept;

 private:
  struct Finalizer {
    void operator()(sqlite3_stmt* stmt) const noexcept { sqlite3_finalize(stmt); }
  };
  sqlite3* db_;
  std::unique_ptr<sqlite3_stmt, Finalizer> stmt_;
};

struct OpenOptions {
  bool wal = true;                               // journal_mode=WAL, synchronous=NORMAL
  std::chrono::milliseconds busy_timeout{5000};  // wait for a lock this long
  bool create = true;                            // create the file when missing
};

// One connection. Not thread-safe: give each thread its own, or guard it.
class Database {
 public:
  explicit Database(const std::string& path, const OpenOptions& options = {});

  void exec(std::string_view sql);  // one or more statements without parameters
  [[nodiscard]] Statement prepare(std::string_view sql) { return Statement(db_.get(), sql); }
  [[nodiscard]] std::string journal_mode();
  [[nodiscard]] sqlite3* handle() const noexcept { return db_.get(); }

 private:
  struct Closer {
    void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
  };
  std::unique_ptr<sqlite3, Closer> db_;
};

// Throws the strata::Error matching a SQLite result code, with SQLite's message.
[[noreturn]] void throw_sqlite_error(sqlite3* db, int rc, std::string_view context);

// RAII transaction: BEGIN IMMEDIATE on construction, ROLLBACK unless commit() ran.
class Transaction {
 public:
  explicit Transaction(Database& db);
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();
  void commit();

 private:
  Database& db_;
  bool done_ = false;
};

}  // namespace strata::sqlite
