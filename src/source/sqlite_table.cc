// SqliteTable: the embedded source of record.
//
// Concurrency model. SQLite allows one writer at a time per database; in WAL mode readers never
// block the writer nor each other. So the table keeps one writer connection behind a mutex
// (every write, batch and transaction goes through it) and a pool of reader connections (a
// reader is taken from the pool for one call and returned after, at most max_idle_readers are
// kept). Connections are opened with SQLITE_OPEN_NOMUTEX: each is used by one thread at a time,
// which the mutex and the pool guarantee. Statements are prepared once per connection and reset
// right after each use so no read transaction stays open (an open one would stall checkpoints).
#include <atomic>
#include <cctype>
#include <charconv>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "source/schema.h"
#include "source/sqlite_db.h"
#include "strata/source/sqlite_source.h"

namespace strata {
namespace {

using source::check_value;
using source::quote;

struct Sql {
  std::string create, select, upsert, erase;

  explicit Sql(const TableSchema& s) {
    const std::string table = quote(s.table);
    const std::string key = quote(s.key_column);
    std::string columns, values, updates, defs;
    for (std::size_t i = 0; i < s.columns.size(); ++i) {
      const auto& c = s.columns[i];
      const std::string name = quote(c.name);
      columns += (i > 0 ? ", " : "") + name;
      values += ", ?" + std::to_string(i + 2);
      updates += (i > 0 ? ", " : "") + name + " = excluded." + name;
      defs += ", " + name + " " + sql_type(c.type);
    }
    create = "CREATE TABLE IF NOT EXISTS " + table + " (" + key +
             (s.key_type == ColumnType::kInt64 ? " INTEGER PRIMARY KEY NOT NULL"
                                               : " TEXT PRIMARY KEY NOT NULL") +
             defs + ")";
    select = "SELECT " + columns + " FROM " + table + " WHERE " + key + " = ?1";
    upsert = "INSERT INTO " + table + " (" + key + ", " + columns + ") VALUES (?1" + values +
             ") ON CONFLICT (" + key + ") DO UPDATE SET " + updates;
    erase = "DELETE FROM " + table + " WHERE " + key + " = ?1";
  }

  static std::string sql_type(ColumnType type) {
    switch (type) {
      case ColumnType::kText:
      case ColumnType::kJson:
        return "TEXT";
      case ColumnType::kBytes:
        return "BLOB";
      case ColumnType::kInt64:
        return "INTEGER";
      case ColumnType::kDouble:
        return "REAL";
    }
    return "BLOB";
  }
};

// The affinity SQLite gives a declared column type (https://sqlite.org/datatype3.html, 3.1).
std::string affinity(std::string declared) {
  for (auto& c : declared) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  const auto has = [&](const char* part) { return declared.find(part) != std::string::npos; };
  if (has("INT")) return "INTEGER";
  if (has("CHAR") || has("CLOB") || has("TEXT")) return "TEXT";
  if (has("BLOB") || declared.empty()) return "BLOB";
  if (has("REAL") || has("FLOA") || has("DOUB")) return "REAL";
  return "NUMERIC";
}

// Checks the mapping against the table as declared (PRAGMA table_info): every mapped column
// exists, with an affinity that keeps its values as they were written. Throws
// InvalidArgumentError naming the table, the column, the mapping's type and the declared one.
// A table that does not exist is left to the statements (they name it).
void check_columns(sqlite::Database& db, const TableSchema& schema) {
  sqlite::Statement info = db.prepare("SELECT name, type FROM pragma_table_info(?1)");
  info.bind_text(1, schema.table);
  std::vector<std::pair<std::string, std::string>> declared;
  while (info.step()) {
    declared.emplace_back(std::string(info.column_text(0)), std::string(info.column_text(1)));
  }
  if (declared.empty()) return;
  const auto find = [&](const std::string& name) -> const std::string* {
    for (const auto& [n, type] : declared) {
      if (sqlite3_stricmp(n.c_str(), name.c_str()) == 0) return &type;
    }
    return nullptr;
  };
  if (find(schema.key_column) == nullptr) {
    throw InvalidArgumentError("table '" + schema.table + "' has no key column '" +
                               schema.key_column + "'");
  }
  for (const auto& c : schema.columns) {
    const std::string* type = find(c.name);
    if (type == nullptr) {
      throw InvalidArgumentError("table '" + schema.table + "' has no column '" + c.name +
                                 "' (mapped as " + std::string(to_string(c.type)) + ")");
    }
    // What keeps each value as written: integers in INTEGER or NUMERIC; reals in REAL or
    // NUMERIC; text and blobs in TEXT or an untyped (BLOB affinity) column. Text in an INTEGER
    // column would lose "0042", an integer in a TEXT column come back as text.
    const std::string actual = affinity(*type);
    bool ok = false;
    switch (c.type) {
      case ColumnType::kInt64:
        ok = actual == "INTEGER" || actual == "NUMERIC";
        break;
      case ColumnType::kDouble:
        ok = actual == "REAL" || actual == "NUMERIC";
        break;
      case ColumnType::kText:
      case ColumnType::kJson:
      case ColumnType::kBytes:
        ok = actual == "TEXT" || actual == "BLOB";
        break;
    }
    if (!ok) {
      throw InvalidArgumentError("table '" + schema.table + "' column '" + c.name +
                                 "': mapped as " + std::string(to_string(c.type)) + " (SQLite " +
                                 Sql::sql_type(c.type) + "), but declared '" + *type + "' (" +
                                 actual + " affinity)");
    }
  }
}

sqlite::OpenOptions open_options(const SqliteOptions& options) {
  sqlite::OpenOptions open;
  open.wal = true;
  open.busy_timeout = options.busy_timeout;
  return open;
}

// Resets a statement when the scope ends, releasing its read lock.
class ResetOnExit {
 public:
  explicit ResetOnExit(sqlite::Statement& stmt) : stmt_(stmt) { stmt_.reset(); }
  ResetOnExit(const ResetOnExit&) = delete;
  ResetOnExit& operator=(const ResetOnExit&) = delete;
  ~ResetOnExit() { stmt_.reset(); }

 private:
  sqlite::Statement& stmt_;
};

const char* storage_class(int type) {
  switch (type) {
    case SQLITE_INTEGER:
      return "an integer";
    case SQLITE_FLOAT:
      return "a real";
    case SQLITE_TEXT:
      return "text";
    case SQLITE_BLOB:
      return "a blob";
  }
  return "NULL";
}

// SQLite converts what a column holds to what it is asked for: text "abc" read as an integer is
// 0. A typed column holding another storage class is corrupted data, not a value.
[[noreturn]] void wrong_storage(const TableSchema& schema, const ColumnSpec& column, int type) {
  throw CorruptedError("table '" + schema.table + "' column '" + column.name + "': mapped as " +
                       std::string(to_string(column.type)) + " but the row holds " +
                       storage_class(type));
}

Row read_row(const sqlite::Statement& stmt, const TableSchema& schema) {
  Row row;
  row.reserve(schema.columns.size());
  for (std::size_t i = 0; i < schema.columns.size(); ++i) {
    const int col = static_cast<int>(i);
    if (stmt.is_null(col)) {
      row.emplace_back();
      continue;
    }
    switch (schema.columns[i].type) {
      case ColumnType::kInt64:
        if (stmt.column_type(col) != SQLITE_INTEGER) {
          wrong_storage(schema, schema.columns[i], stmt.column_type(col));
        }
        row.emplace_back(stmt.column_int64(col));
        break;
      case ColumnType::kDouble:
        if (stmt.column_type(col) != SQLITE_FLOAT && stmt.column_type(col) != SQLITE_INTEGER) {
          wrong_storage(schema, schema.columns[i], stmt.column_type(col));
        }
        row.emplace_back(stmt.column_double(col));
        break;
      case ColumnType::kBytes:
        row.emplace_back(std::string(stmt.column_blob(col)));
        break;
      case ColumnType::kText:
      case ColumnType::kJson:
        row.emplace_back(std::string(stmt.column_text(col)));
        break;
    }
  }
  return row;
}

// The key as the key column's type: text, or (TableSchema::key_type kInt64) the integer it
// spells, checked canonical first.
void bind_key(sqlite::Statement& stmt, const TableSchema& schema, std::string_view key) {
  schema.check_key(key);
  if (schema.key_type == ColumnType::kInt64) {
    std::int64_t value = 0;
    (void)std::from_chars(key.data(), key.data() + key.size(), value);
    stmt.bind(1, value);
  } else {
    stmt.bind_text(1, key);
  }
}

void bind_row(sqlite::Statement& stmt, const TableSchema& schema, std::string_view key,
              const Row& row) {
  if (row.size() != schema.columns.size()) {
    throw InvalidArgumentError("row has " + std::to_string(row.size()) + " columns, table '" +
                               schema.table + "' maps " + std::to_string(schema.columns.size()));
  }
  bind_key(stmt, schema, key);
  for (std::size_t i = 0; i < row.size(); ++i) {
    const auto& column = schema.columns[i];
    check_value(column, row[i]);
    const int index = static_cast<int>(i) + 2;
    if (std::holds_alternative<std::monostate>(row[i])) {
      stmt.bind_null(index);
    } else if (const auto* n = std::get_if<std::int64_t>(&row[i])) {
      stmt.bind(index, *n);
    } else if (const auto* d = std::get_if<double>(&row[i])) {
      stmt.bind(index, *d);
    } else if (column.type == ColumnType::kBytes) {
      stmt.bind_blob(index, std::get<std::string>(row[i]));
    } else {
      stmt.bind_text(index, std::get<std::string>(row[i]));
    }
  }
}

struct Reader {
  Reader(const std::string& path, const SqliteOptions& options, const Sql& sql)
      : db(path, open_options(options)), select(db.prepare(sql.select)) {}
  sqlite::Database db;
  sqlite::Statement select;
};

struct Writer {
  Writer(const std::string& path, const SqliteOptions& options, const Sql& sql,
         const TableSchema& schema)
      : db(path, open_options(options)),
        created(schema.create_if_missing ? (db.exec(sql.create), true) : false),
        checked((check_columns(db, schema), true)),
        upsert(db.prepare(sql.upsert)),
        erase(db.prepare(sql.erase)) {}
  sqlite::Database db;
  bool created;
  bool checked;
  sqlite::Statement upsert;
  sqlite::Statement erase;
};

}  // namespace

void SqliteOptions::validate() const {
  if (path.empty()) throw InvalidArgumentError("sqlite.path must not be empty");
  if (path == ":memory:" || path.starts_with("file::memory:")) {
    throw InvalidArgumentError(
        "sqlite.path: an in-memory database is private to one connection; use a file");
  }
  if (busy_timeout.count() < 0) throw InvalidArgumentError("sqlite.busy_timeout must be >= 0");
}

struct SqliteTable::Impl {
  Impl(SqliteOptions opts, TableSchema s)
      : options(std::move(opts)), schema(std::move(s)), sql((schema.validate(), schema)) {
    options.validate();
    writer = std::make_unique<Writer>(options.path, options, sql, schema);
  }

  // Throws instead of deadlocking when this thread holds a Transaction of this table.
  std::unique_lock<std::mutex> lock_writer() {
    if (writer_owner.load(std::memory_order_relaxed) == std::this_thread::get_id()) {
      throw InvalidArgumentError("table '" + schema.table +
                                 "': this thread holds an open transaction; write through it");
    }
    return std::unique_lock(writer_mutex);
  }

  std::unique_ptr<Reader> take_reader() {
    {
      std::lock_guard lock(readers_mutex);
      if (!idle_readers.empty()) {
        auto reader = std::move(idle_readers.back());
        idle_readers.pop_back();
        return reader;
      }
    }
    return std::make_unique<Reader>(options.path, options, sql);
  }

  void return_reader(std::unique_ptr<Reader> reader) noexcept {
    std::lock_guard lock(readers_mutex);
    if (idle_readers.size() < options.max_idle_readers) {
      try {
        idle_readers.push_back(std::move(reader));
      } catch (...) {  // out of memory: close the connection instead
      }
    }
  }

  // A reader connection borrowed from the pool for one call.
  class ReaderLease {
   public:
    explicit ReaderLease(Impl& table) : table_(table), reader_(table.take_reader()) {}
    ReaderLease(const ReaderLease&) = delete;
    ReaderLease& operator=(const ReaderLease&) = delete;
    ~ReaderLease() { table_.return_reader(std::move(reader_)); }
    Reader* operator->() const noexcept { return reader_.get(); }

   private:
    Impl& table_;
    std::unique_ptr<Reader> reader_;
  };

  SqliteOptions options;
  TableSchema schema;
  Sql sql;
  std::mutex writer_mutex;
  std::unique_ptr<Writer> writer;
  std::atomic<std::thread::id> writer_owner{};
  std::mutex readers_mutex;
  std::vector<std::unique_ptr<Reader>> idle_readers;
};

namespace {

// BEGIN (deferred) for a consistent snapshot across several reads; ROLLBACK unless finished.
class ReadSnapshot {
 public:
  explicit ReadSnapshot(sqlite::Database& db) : db_(db) { db_.exec("BEGIN"); }
  ReadSnapshot(const ReadSnapshot&) = delete;
  ReadSnapshot& operator=(const ReadSnapshot&) = delete;
  ~ReadSnapshot() {
    if (!done_) sqlite3_exec(db_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
  }
  void finish() {
    db_.exec("COMMIT");
    done_ = true;
  }

 private:
  sqlite::Database& db_;
  bool done_ = false;
};

}  // namespace

struct SqliteTable::Transaction::Impl {
  Impl(SqliteTable::Impl& t, std::unique_lock<std::mutex> l)
      : table(t), lock(std::move(l)), txn(std::in_place, table.writer->db) {
    table.writer_owner.store(std::this_thread::get_id(), std::memory_order_relaxed);
  }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
  ~Impl() {
    txn.reset();  // ROLLBACK unless committed; never throws
    table.writer_owner.store(std::thread::id{}, std::memory_order_relaxed);
  }

  void check_open() const {
    if (!txn) throw InvalidArgumentError("transaction already committed");
  }

  SqliteTable::Impl& table;
  std::unique_lock<std::mutex> lock;
  std::optional<sqlite::Transaction> txn;
};

SqliteTable::Transaction::Transaction(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SqliteTable::Transaction::Transaction(Transaction&&) noexcept = default;
SqliteTable::Transaction& SqliteTable::Transaction::operator=(Transaction&&) noexcept = default;
SqliteTable::Transaction::~Transaction() = default;

void SqliteTable::Transaction::write(std::string_view key, const Row& row) {
  impl_->check_open();
  auto& upsert = impl_->table.writer->upsert;
  ResetOnExit reset(upsert);
  bind_row(upsert, impl_->table.schema, key, row);
  upsert.run();
}

void SqliteTable::Transaction::erase(std::string_view key) {
  impl_->check_open();
  auto& erase = impl_->table.writer->erase;
  ResetOnExit reset(erase);
  bind_key(erase, impl_->table.schema, key);
  erase.run();
}

void SqliteTable::Transaction::commit() {
  impl_->check_open();
  impl_->txn->commit();
  impl_->txn.reset();
}

SqliteTable::SqliteTable(SqliteOptions options, TableSchema schema)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(schema))) {}
SqliteTable::SqliteTable(SqliteTable&&) noexcept = default;
SqliteTable& SqliteTable::operator=(SqliteTable&&) noexcept = default;
SqliteTable::~SqliteTable() = default;

std::optional<Row> SqliteTable::load(std::string_view key) {
  Impl::ReaderLease reader(*impl_);
  ResetOnExit reset(reader->select);
  bind_key(reader->select, impl_->schema, key);
  if (!reader->select.step()) return std::nullopt;
  return read_row(reader->select, impl_->schema);
}

std::vector<std::optional<Row>> SqliteTable::load_many(std::span<const std::string> keys) {
  std::vector<std::optional<Row>> rows;
  rows.reserve(keys.size());
  if (keys.empty()) return rows;
  Impl::ReaderLease reader(*impl_);
  ReadSnapshot snapshot(reader->db);
  for (const auto& key : keys) {
    ResetOnExit reset(reader->select);
    bind_key(reader->select, impl_->schema, key);
    rows.push_back(reader->select.step()
                       ? std::optional<Row>(read_row(reader->select, impl_->schema))
                       : std::nullopt);
  }
  snapshot.finish();
  return rows;
}

void SqliteTable::write(std::string_view key, const Row& row) {
  auto lock = impl_->lock_writer();
  auto& upsert = impl_->writer->upsert;
  ResetOnExit reset(upsert);
  bind_row(upsert, impl_->schema, key, row);
  upsert.run();
}

void SqliteTable::write_batch(std::span<const RowWrite> rows) {
  if (rows.empty()) return;
  auto lock = impl_->lock_writer();
  sqlite::Transaction txn(impl_->writer->db);
  auto& upsert = impl_->writer->upsert;
  for (const auto& write : rows) {
    ResetOnExit reset(upsert);
    bind_row(upsert, impl_->schema, write.key, *write.row);
    upsert.run();
  }
  txn.commit();
}

void SqliteTable::erase(std::string_view key) {
  auto lock = impl_->lock_writer();
  auto& erase = impl_->writer->erase;
  ResetOnExit reset(erase);
  bind_key(erase, impl_->schema, key);
  erase.run();
}

void SqliteTable::erase_batch(std::span<const std::string> keys) {
  if (keys.empty()) return;
  auto lock = impl_->lock_writer();
  sqlite::Transaction txn(impl_->writer->db);
  auto& erase = impl_->writer->erase;
  for (const auto& key : keys) {
    ResetOnExit reset(erase);
    bind_key(erase, impl_->schema, key);
    erase.run();
  }
  txn.commit();
}

SqliteTable::Transaction SqliteTable::begin() {
  auto lock = impl_->lock_writer();
  return Transaction(std::make_unique<Transaction::Impl>(*impl_, std::move(lock)));
}

}  // namespace strata
