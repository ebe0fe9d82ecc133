#include "source/sqlite_db.h"

#include "strata/error.h"

namespace strata::sqlite {

void throw_sqlite_error(sqlite3* db, int rc, std::string_view context) {
  const std::string message = std::string(context) + ": " +
                              (db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc)) +
                              " (sqlite code " + std::to_string(rc) + ")";
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      throw TimeoutError("sqlite " + message);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      throw CorruptedError("sqlite " + message);
    case SQLITE_ERROR:
    case SQLITE_MISUSE:
    case SQLITE_RANGE:
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH:
    case SQLITE_TOOBIG:
      throw InvalidArgumentError("sqlite " + message);
    default:
      throw UnavailableError("sqlite " + message);
  }
}

Statement::Statement(sqlite3* db, std::string_view sql) : db_(db) {
  sqlite3_stmt* raw = nullptr;
  const int rc = sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()),
                                    SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
  stmt_.reset(raw);
  if (rc != SQLITE_OK) throw_sqlite_error(db, rc, "prepare");
}

Statement& Statement::bind(int index, std::int64_t value) {
  if (const int rc = sqlite3_bind_int64(stmt_.get(), index, value); rc != SQLITE_OK) {
    throw_sqlite_error(db_, rc, "bind");
  }
  return *this;
}

Statement& Statement::bind(int index, double value) {
  if (const int rc = sqlite3_bind_double(stmt_.get(), index, value); rc != SQLITE_OK) {
    throw_sqlite_error(db_, rc, "bind");
  }
  return *this;
}

Statement& Statement::bind_text(int index, std::string_view value) {
  const int rc = sqlite3_bind_text64(stmt_.get(), index, value.data(), value.size(),
                                     SQLITE_TRANSIENT, SQLITE_UTF8);
  if (rc != SQLITE_OK) throw_sqlite_error(db_, rc, "bind");
  return *this;
}

Statement& Statement::bind_blob(int index, std::string_view value) {
  // A zero-length blob is still a blob, not NULL: SQLite needs a non-null pointer for that.
  static const char kEmpty = 0;
  const int rc = sqlite3_bind_blob64(stmt_.get(), index, value.empty() ? &kEmpty : value.data(),
                                     value.size(), SQLITE_TRANSIENT);
  if (rc != SQLITE_OK) throw_sqlite_error(db_, rc, "bind");
  return *this;
}

Statement& Statement::bind_null(int index) {
  if (const int rc = sqlite3_bind_null(stmt_.get(), index); rc != SQLITE_OK) {
    throw_sqlite_error(db_, rc, "bind");
  }
  return *this;
}

bool Statement::step() {
  const int rc = sqlite3_step(stmt_.get());
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  sqlite3_reset(stmt_.get());
  throw_sqlite_error(db_, rc, "step");
}

void Statement::reset() noexcept {
  sqlite3_reset(stmt_.get());
  sqlite3_clear_bindings(stmt_.get());
}

bool Statement::is_null(int column) const noexcept {
  return sqlite3_column_type(stmt_.get(), column) == SQLITE_NULL;
}

int Statement::column_type(int column) const noexcept {
  return sqlite3_column_type(stmt_.get(), column);
}

std::int64_t Statement::column_int64(int column) const noexcept {
  return sqlite3_column_int64(stmt_.get(), column);
}

double Statement::column_double(int column) const noexcept {
  return sqlite3_column_double(stmt_.get(), column);
}

std::string_view Statement::column_text(int column) const noexcept {
  const auto* text = sqlite3_column_text(stmt_.get(), column);
  const int size = sqlite3_column_bytes(stmt_.get(), column);
  return text == nullptr ? std::string_view{}
                         : std::string_view(reinterpret_cast<const char*>(text),
                                            static_cast<std::size_t>(size));
}

std::string_view Statement::column_blob(int column) const noexcept {
  const void* blob = sqlite3_column_blob(stmt_.get(), column);
  const int size = sqlite3_column_bytes(stmt_.get(), column);
  return blob == nullptr
             ? std::string_view{}
             : std::string_view(static_cast<const char*>(blob), static_cast<std::size_t>(size));
}

Database::Database(const std::string& path, const OpenOptions& options) {
  sqlite3* raw = nullptr;
  const int flags =
      SQLITE_OPEN_READWRITE | (options.create ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_NOMUTEX;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  db_.reset(raw);
  if (rc != SQLITE_OK) throw_sqlite_error(raw, rc, "open '" + path + "'");
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, static_cast<int>(options.busy_timeout.count()));
  if (options.wal) {
    exec("PRAGMA journal_mode=WAL");
    exec("PRAGMA synchronous=NORMAL");
  }
}

void Database::exec(std::string_view sql) {
  const std::string text(sql);
  char* error = nullptr;
  const int rc = sqlite3_exec(db_.get(), text.c_str(), nullptr, nullptr, &error);
  if (rc != SQLITE_OK) {
    const std::string message = error != nullptr ? error : sqlite3_errstr(rc);
    sqlite3_free(error);
    throw_sqlite_error(nullptr, rc, "exec: " + message);
  }
}

std::string Database::journal_mode() {
  auto stmt = prepare("PRAGMA journal_mode");
  return stmt.step() ? std::string(stmt.column_text(0)) : std::string();
}

Transaction::Transaction(Database& db) : db_(db) {
  db_.exec("BEGIN IMMEDIATE");
}

Transaction::~Transaction() {
  if (!done_) {
    // ROLLBACK can only fail when no transaction is open; nothing to do then.
    sqlite3_exec(db_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
  }
}

void Transaction::commit() {
  db_.exec("COMMIT");
  done_ = true;
}

}  // namespace strata::sqlite
