#include "common/raw_db.h"

#include <libpq-fe.h>
#include <sqlite3.h>

#include "strata/error.h"

namespace strata::tools {
namespace {

struct ResultDeleter {
  void operator()(PGresult* r) const noexcept { PQclear(r); }
};
using PgResult = std::unique_ptr<PGresult, ResultDeleter>;

void append_escaped(std::string& out, std::string_view field) {
  for (const char c : field) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        out += c;
    }
  }
}

}  // namespace

std::string quote_identifier(std::string_view name) {
  std::string out = "\"";
  for (const char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

void RawPostgres::Closer::operator()(pg_conn* c) const noexcept {
  PQfinish(c);
}

RawPostgres::RawPostgres(const std::string& url) : conn_(PQconnectdb(url.c_str())) {
  if (!conn_) throw UnavailableError("PostgreSQL: out of memory connecting");
  if (PQstatus(conn_.get()) != CONNECTION_OK) {
    throw UnavailableError(std::string("PostgreSQL: cannot connect: ") +
                           PQerrorMessage(conn_.get()));
  }
}

RawPostgres::~RawPostgres() = default;

void RawPostgres::exec(const std::string& sql) {
  PgResult r(PQexec(conn_.get(), sql.c_str()));
  const auto status = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    throw InternalError("PostgreSQL: " + sql + ": " + PQerrorMessage(conn_.get()));
  }
}

bool RawPostgres::try_exec(const std::string& sql) noexcept {
  PgResult r(PQexec(conn_.get(), sql.c_str()));
  return r && PQresultStatus(r.get()) == PGRES_COMMAND_OK;
}

std::string RawPostgres::show(const std::string& setting) {
  const std::string sql = "SHOW " + setting;
  PgResult r(PQexec(conn_.get(), sql.c_str()));
  if (!r || PQresultStatus(r.get()) != PGRES_TUPLES_OK || PQntuples(r.get()) != 1) {
    throw InternalError("PostgreSQL: " + sql + ": " + PQerrorMessage(conn_.get()));
  }
  return PQgetvalue(r.get(), 0, 0);
}

void RawPostgres::copy_rows(const std::string& table, const std::vector<std::string>& columns,
                            const std::vector<std::vector<std::string>>& rows) {
  std::string sql = "COPY " + quote_identifier(table) + " (";
  for (std::size_t i = 0; i < columns.size(); ++i) {
    sql += (i > 0 ? ", " : "") + quote_identifier(columns[i]);
  }
  sql += ") FROM STDIN";
  {
    PgResult r(PQexec(conn_.get(), sql.c_str()));
    if (!r || PQresultStatus(r.get()) != PGRES_COPY_IN) {
      throw InternalError("PostgreSQL: " + sql + ": " + PQerrorMessage(conn_.get()));
    }
  }
  PGconn* conn = conn_.get();
  // Ends the COPY: aborted (rolled back) unless `error` is null; drains every result.
  const auto end = [conn](const char* error) {
    const bool sent = PQputCopyEnd(conn, error) == 1;
    PgResult result(PQgetResult(conn));
    const bool ok = sent && result && PQresultStatus(result.get()) == PGRES_COMMAND_OK;
    while (PgResult extra{PQgetResult(conn)}) {
    }
    return ok;
  };
  std::string chunk;
  const auto send = [&] {
    if (PQputCopyData(conn, chunk.data(), static_cast<int>(chunk.size())) != 1) {
      const std::string message = PQerrorMessage(conn);
      (void)end("copy data failed");
      throw InternalError("PostgreSQL: COPY data: " + message);
    }
    chunk.clear();
  };
  for (const auto& row : rows) {
    for (std::size_t i = 0; i < row.size(); ++i) {
      if (i > 0) chunk += '\t';
      append_escaped(chunk, row[i]);
    }
    chunk += '\n';
    if (chunk.size() >= (256u << 10)) send();
  }
  if (!chunk.empty()) send();
  if (!end(nullptr)) throw InternalError(std::string("PostgreSQL: COPY: ") + PQerrorMessage(conn));
}

void RawSqlite::Closer::operator()(sqlite3* db) const noexcept {
  sqlite3_close_v2(db);
}

RawSqlite::RawSqlite(const std::string& path) {
  sqlite3* db = nullptr;
  const int rc =
      sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  db_.reset(db);
  if (rc != SQLITE_OK) {
    throw UnavailableError("SQLite: cannot open " + path + ": " +
                           (db != nullptr ? sqlite3_errmsg(db) : "out of memory"));
  }
  sqlite3_busy_timeout(db, 5000);
}

RawSqlite::~RawSqlite() = default;

void RawSqlite::exec(const std::string& sql) {
  char* error = nullptr;
  if (sqlite3_exec(db_.get(), sql.c_str(), nullptr, nullptr, &error) != SQLITE_OK) {
    std::string message = error != nullptr ? error : sqlite3_errmsg(db_.get());
    sqlite3_free(error);
    throw InternalError("SQLite: " + sql + ": " + message);
  }
}

}  // namespace strata::tools
