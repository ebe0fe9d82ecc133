// common/raw_db.h: the raw baselines' own database handles, on libpq and sqlite3 directly (the
// benches compare strata's sources against them, so they do not go through strata): run SQL,
// read a server setting (`SHOW fsync`), bulk-load with COPY, drop a table on scope exit.
//
//   strata::tools::RawPostgres pg(url);
//   pg.exec("TRUNCATE " + strata::tools::quote_identifier(table));
//   const std::string fsync = pg.show("fsync");   // "on" / "off"
#pragma once

#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

struct pg_conn;
struct sqlite3;

namespace strata::tools {

// "name" (double-quoted, embedded quotes doubled): safe in SQL for any name.
[[nodiscard]] std::string quote_identifier(std::string_view name);

// One libpq connection. Errors throw strata::UnavailableError (connect) or InternalError (SQL),
// with the server's message.
class RawPostgres {
 public:
  explicit RawPostgres(const std::string& url);
  RawPostgres(const RawPostgres&) = delete;
  RawPostgres& operator=(const RawPostgres&) = delete;
  ~RawPostgres();

  void exec(const std::string& sql);
  // The value of a server setting (SHOW name), for example show("fsync") == "off".
  [[nodiscard]] std::string show(const std::string& setting);
  // exec() that reports nothing (for destructors and cleanup): true when it succeeded.
  bool try_exec(const std::string& sql) noexcept;

  // COPY table (columns) FROM STDIN in the text format, every field escaped, streamed in
  // 256 KiB chunks: the bulk-load baseline. Throws on failure (nothing is committed then).
  void copy_rows(const std::string& table, const std::vector<std::string>& columns,
                 const std::vector<std::vector<std::string>>& rows);

 private:
  struct Closer {
    void operator()(pg_conn* c) const noexcept;
  };
  std::unique_ptr<pg_conn, Closer> conn_;
};

// One sqlite3 connection to a database file.
class RawSqlite {
 public:
  explicit RawSqlite(const std::string& path);
  RawSqlite(const RawSqlite&) = delete;
  RawSqlite& operator=(const RawSqlite&) = delete;
  ~RawSqlite();

  void exec(const std::string& sql);  // one or more statements without parameters

 private:
  struct Closer {
    void operator()(sqlite3* db) const noexcept;
  };
  std::unique_ptr<sqlite3, Closer> db_;
};

// Drops a PostgreSQL table when it goes out of scope (errors ignored).
class DropTableOnExit {
 public:
  DropTableOnExit(RawPostgres& pg, std::string table) : pg_(pg), table_(std::move(table)) {}
  DropTableOnExit(const DropTableOnExit&) = delete;
  DropTableOnExit& operator=(const DropTableOnExit&) = delete;
  ~DropTableOnExit() { (void)pg_.try_exec("DROP TABLE IF EXISTS " + quote_identifier(table_)); }

 private:
  RawPostgres& pg_;
  std::string table_;
};

}  // namespace strata::tools
