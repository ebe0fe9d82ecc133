// PostgresTable: a source of record in PostgreSQL over libpq (see strata/source/postgres_source.h
// for the contract, the threading model and the reconnection rules).
//
// Every statement is prepared once per connection with explicit casts on its parameters, so
// the server knows each parameter's type; parameters and results travel in binary format, which
// makes bytea, NUL-free text and numbers exact without escaping. Batches are arrays in the
// binary array format: load_many is `WHERE key = ANY($1::text[])`, write_batch one
// `INSERT ... SELECT * FROM unnest($1::text[], $2::<type>[], ...) ON CONFLICT (key) DO UPDATE`,
// erase_batch `DELETE ... WHERE key = ANY($1::text[])`.
#include <algorithm>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "source/pg_connection.h"
#include "source/schema.h"
#include "strata/source/postgres_source.h"

namespace strata {
namespace {

using source::check_value;
using source::quote;

std::string sql_type(ColumnType type) {
  switch (type) {
    case ColumnType::kText:
      return "text";
    case ColumnType::kBytes:
      return "bytea";
    case ColumnType::kInt64:
      return "int8";
    case ColumnType::kDouble:
      return "float8";
    case ColumnType::kJson:
      return "jsonb";
  }
  return "bytea";
}

std::uint32_t element_oid(ColumnType type) {
  switch (type) {
    case ColumnType::kText:
      return pg::kTextOid;
    case ColumnType::kBytes:
      return pg::kByteaOid;
    case ColumnType::kInt64:
      return pg::kInt8Oid;
    case ColumnType::kDouble:
      return pg::kFloat8Oid;
    case ColumnType::kJson:
      return pg::kJsonbOid;
  }
  return pg::kByteaOid;
}

struct Statements {
  std::string create, load, load_many, upsert, upsert_batch, erase, erase_batch;

  explicit Statements(const TableSchema& s) {
    const std::string table = quote(s.table);
    const std::string key = quote(s.key_column);
    std::string columns, values, arrays, updates, defs;
    for (std::size_t i = 0; i < s.columns.size(); ++i) {
      const auto& c = s.columns[i];
      const std::string name = quote(c.name);
      const std::string n = std::to_string(i + 2);
      columns += (i > 0 ? ", " : "") + name;
      values += ", $" + n + "::" + sql_type(c.type);
      arrays += ", $" + n + "::" + sql_type(c.type) + "[]";
      updates += (i > 0 ? ", " : "") + name + " = EXCLUDED." + name;
      defs += ", " + name + " " + sql_type(c.type);
    }
    // Keys travel as text; an integer key column gets them cast (they were checked canonical
    // by TableSchema::check_key) and gives them back as text.
    const bool integer = s.key_type == ColumnType::kInt64;
    const std::string one = integer ? "$1::text::int8" : "$1::text";
    const std::string many = integer ? "$1::text[]::int8[]" : "$1::text[]";
    const std::string key_out = integer ? key + "::text" : key;
    create = "CREATE TABLE IF NOT EXISTS " + table + " (" + key +
             (integer ? " bigint PRIMARY KEY" : " text PRIMARY KEY") + defs + ")";
    load = "SELECT " + columns + " FROM " + table + " WHERE " + key + " = " + one;
    load_many = "SELECT " + key_out + ", " + columns + " FROM " + table + " WHERE " + key +
                " = ANY(" + many + ")";
    const std::string conflict = " ON CONFLICT (" + key + ") DO UPDATE SET " + updates;
    upsert = "INSERT INTO " + table + " (" + key + ", " + columns + ") VALUES (" + one + values +
             ")" + conflict;
    upsert_batch = "INSERT INTO " + table + " (" + key + ", " + columns +
                   ") SELECT * FROM unnest(" + many + arrays + ")" + conflict;
    erase = "DELETE FROM " + table + " WHERE " + key + " = " + one;
    erase_batch = "DELETE FROM " + table + " WHERE " + key + " = ANY(" + many + ")";
  }
};

void check_key(const TableSchema& schema, std::string_view key) {
  if (key.find('\0') != std::string_view::npos) {
    throw InvalidArgumentError("postgres keys are text: a key may not contain a NUL byte");
  }
  schema.check_key(key);
}

// The binary encoding of one non-NULL value for its column's type.
std::string encode_value(const ColumnSpec& column, const SqlValue& value) {
  if (const auto* n = std::get_if<std::int64_t>(&value)) return pg::encode_int8(*n);
  if (const auto* d = std::get_if<double>(&value)) return pg::encode_float8(*d);
  const auto& s = std::get<std::string>(value);
  if (column.type == ColumnType::kJson) return "\x01" + s;  // jsonb binary format version 1
  return s;
}

SqlValue decode_value(const ColumnSpec& column, const PGresult* result, int row, int field) {
  if (PQgetisnull(result, row, field) != 0) return SqlValue{};
  const std::string_view bytes(PQgetvalue(result, row, field),
                               static_cast<std::size_t>(PQgetlength(result, row, field)));
  switch (column.type) {
    case ColumnType::kInt64:
      return pg::decode_int8(bytes);
    case ColumnType::kDouble:
      return pg::decode_float8(bytes);
    case ColumnType::kJson:
      if (bytes.empty() || bytes[0] != 1) throw ProtocolError("unknown jsonb binary version");
      return std::string(bytes.substr(1));
    case ColumnType::kText:
    case ColumnType::kBytes:
      return std::string(bytes);
  }
  return SqlValue{};
}

Row read_row(const TableSchema& schema, const PGresult* result, int row, int first_field) {
  Row out;
  out.reserve(schema.columns.size());
  for (std::size_t i = 0; i < schema.columns.size(); ++i) {
    out.push_back(decode_value(schema.columns[i], result, row, first_field + static_cast<int>(i)));
  }
  return out;
}

void add_row_params(pg::Params& params, const TableSchema& schema, std::string_view key,
                    const Row& row) {
  check_key(schema, key);
  if (row.size() != schema.columns.size()) {
    throw InvalidArgumentError("row has " + std::to_string(row.size()) + " columns, table '" +
                               schema.table + "' maps " + std::to_string(schema.columns.size()));
  }
  params.add(std::string(key));
  for (std::size_t i = 0; i < row.size(); ++i) {
    check_value(schema.columns[i], row[i]);
    if (std::holds_alternative<std::monostate>(row[i])) {
      params.add_null();
    } else {
      params.add(encode_value(schema.columns[i], row[i]));
    }
  }
}

std::string key_array(const TableSchema& schema, std::span<const std::string> keys) {
  pg::ArrayBuilder array(pg::kTextOid);
  for (const auto& key : keys) {
    check_key(schema, key);
    array.add(key);
  }
  return array.finish();
}

}  // namespace

void PostgresOptions::validate() const {
  if (url.empty()) throw InvalidArgumentError("postgres.url must not be empty");
  if (pool_size == 0) throw InvalidArgumentError("postgres.pool_size must be at least 1");
  if (connect_timeout.count() < 1) {
    throw InvalidArgumentError("postgres.connect_timeout must be at least 1 second");
  }
  if (acquire_timeout.count() < 0)
    throw InvalidArgumentError("postgres.acquire_timeout must be >= 0");
}

namespace {

// The column types a mapping reads and writes in binary format without loss: exactly the
// type of its statements' casts (text may also be varchar, whose binary form is text's).
bool column_type_ok(ColumnType type, const std::string& actual) {
  switch (type) {
    case ColumnType::kText:
      return actual == "text" || actual == "varchar";
    case ColumnType::kBytes:
      return actual == "bytea";
    case ColumnType::kInt64:
      return actual == "int8";
    case ColumnType::kDouble:
      return actual == "float8";
    case ColumnType::kJson:  // a text or json column would store the writes but never read back
      return actual == "jsonb";
  }
  return false;
}

// Checks the mapping against the table's columns (pg_attribute) when the source opens: every
// mapped column exists with the type the statements use. Throws InvalidArgumentError naming the
// table, the column, the mapping's type and the column's. A missing table is left to the
// statements (they name it). The table name is a validated identifier (no quotes).
void check_columns(pg::Connection& conn, const TableSchema& schema) {
  const pg::Result result = conn.exec(
      "SELECT a.attname, t.typname FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
      "WHERE a.attrelid = to_regclass('" +
          quote(schema.table) + "') AND a.attnum > 0 AND NOT a.attisdropped",
      PGRES_TUPLES_OK);
  const int rows = PQntuples(result.get());
  if (rows == 0) return;
  const auto find = [&](const std::string& name) -> std::optional<std::string> {
    for (int r = 0; r < rows; ++r) {
      if (name == PQgetvalue(result.get(), r, 0))
        return std::string(PQgetvalue(result.get(), r, 1));
    }
    return std::nullopt;
  };
  const auto key = find(schema.key_column);
  if (!key) {
    throw InvalidArgumentError("table '" + schema.table + "' has no key column '" +
                               schema.key_column + "'");
  }
  const bool integer = schema.key_type == ColumnType::kInt64;
  const bool key_ok = integer ? (*key == "int8" || *key == "int4" || *key == "int2")
                              : (*key == "text" || *key == "varchar");
  if (!key_ok) {
    throw InvalidArgumentError("table '" + schema.table + "' key column '" + schema.key_column +
                               "': expected " + (integer ? "an integer" : "text") +
                               " (TableMapping::key_type), the column is " + *key);
  }
  for (const auto& c : schema.columns) {
    const auto actual = find(c.name);
    if (!actual) {
      throw InvalidArgumentError("table '" + schema.table + "' has no column '" + c.name +
                                 "' (mapped as " + std::string(to_string(c.type)) + ")");
    }
    if (!column_type_ok(c.type, *actual)) {
      throw InvalidArgumentError("table '" + schema.table + "' column '" + c.name +
                                 "': mapped as " + std::string(to_string(c.type)) +
                                 " (PostgreSQL " + sql_type(c.type) + "), the column is " +
                                 *actual);
    }
  }
}

}  // namespace

struct PostgresTable::Impl {
  Impl(PostgresOptions opts, TableSchema s)
      : options((opts.validate(), std::move(opts))),
        schema((s.validate(), std::move(s))),
        sql(schema),
        pool(options.url, options.pool_size, options.connect_timeout, options.acquire_timeout) {
    pool.with_retry([&](pg::Connection& conn) {
      if (schema.create_if_missing) conn.exec(sql.create);
      check_columns(conn, schema);
      return 0;
    });
  }

  PostgresOptions options;
  TableSchema schema;
  Statements sql;
  pg::Pool pool;
};

struct PostgresTable::Transaction::Impl {
  explicit Impl(PostgresTable::Impl& t, pg::Pool::Lease l) : table(t), lease(std::move(l)) {}
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
  ~Impl() {
    if (!lease || done) return;
    if (!(*lease)->broken()) {
      pg::Result result(PQexec((*lease)->handle(), "ROLLBACK"));
      if (!result || PQresultStatus(result.get()) != PGRES_COMMAND_OK) (*lease)->mark_broken();
    }
  }

  // Runs `fn` on the transaction's connection; a lost connection ends the transaction.
  template <typename F>
  void run(F&& fn) {
    if (done || !lease) throw InvalidArgumentError("transaction already finished");
    try {
      fn(**lease);
    } catch (const pg::ConnectionLost& e) {
      throw UnavailableError(std::string(e.what()) + " (transaction rolled back by the server)");
    }
  }

  PostgresTable::Impl& table;
  std::optional<pg::Pool::Lease> lease;
  bool done = false;
};

PostgresTable::Transaction::Transaction(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PostgresTable::Transaction::Transaction(Transaction&&) noexcept = default;
PostgresTable::Transaction& PostgresTable::Transaction::operator=(Transaction&&) noexcept = default;
PostgresTable::Transaction::~Transaction() = default;

void PostgresTable::Transaction::write(std::string_view key, const Row& row) {
  impl_->run([&](pg::Connection& conn) {
    pg::Params params;
    add_row_params(params, impl_->table.schema, key, row);
    (void)conn.exec_prepared("strata_upsert", impl_->table.sql.upsert, params, PGRES_COMMAND_OK);
  });
}

void PostgresTable::Transaction::erase(std::string_view key) {
  impl_->run([&](pg::Connection& conn) {
    check_key(impl_->table.schema, key);
    pg::Params params;
    params.add(std::string(key));
    (void)conn.exec_prepared("strata_erase", impl_->table.sql.erase, params, PGRES_COMMAND_OK);
  });
}

void PostgresTable::Transaction::commit() {
  if (impl_->done || !impl_->lease) throw InvalidArgumentError("transaction already finished");
  pg::Connection& conn = **impl_->lease;
  pg::Result result;
  try {
    result = conn.exec("COMMIT");
  } catch (const pg::ConnectionLost& e) {
    throw UnavailableError(std::string(e.what()) + " (the commit may or may not have happened)");
  }
  impl_->done = true;
  impl_->lease.reset();  // back to the pool now
  if (std::string_view(PQcmdStatus(result.get())) == "ROLLBACK") {
    throw InvalidArgumentError(
        "postgres commit: the transaction was rolled back because a statement in it failed");
  }
}

PostgresTable::PostgresTable(PostgresOptions options, TableSchema schema)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(schema))) {}
PostgresTable::PostgresTable(PostgresTable&&) noexcept = default;
PostgresTable& PostgresTable::operator=(PostgresTable&&) noexcept = default;
PostgresTable::~PostgresTable() = default;

std::optional<Row> PostgresTable::load(std::string_view key) {
  check_key(impl_->schema, key);
  return impl_->pool.with_retry([&](pg::Connection& conn) -> std::optional<Row> {
    pg::Params params;
    params.add(std::string(key));
    auto result = conn.exec_prepared("strata_load", impl_->sql.load, params, PGRES_TUPLES_OK);
    if (PQntuples(result.get()) == 0) return std::nullopt;
    return read_row(impl_->schema, result.get(), 0, 0);
  });
}

std::vector<std::optional<Row>> PostgresTable::load_many(std::span<const std::string> keys) {
  std::vector<std::optional<Row>> rows(keys.size());
  if (keys.empty()) return rows;
  const std::string array = key_array(impl_->schema, keys);
  std::unordered_map<std::string, Row> found;
  impl_->pool.with_retry([&](pg::Connection& conn) {
    pg::Params params;
    params.add(array);
    auto result =
        conn.exec_prepared("strata_load_many", impl_->sql.load_many, params, PGRES_TUPLES_OK);
    found.clear();
    const int n = PQntuples(result.get());
    for (int r = 0; r < n; ++r) {
      std::string key(PQgetvalue(result.get(), r, 0),
                      static_cast<std::size_t>(PQgetlength(result.get(), r, 0)));
      found.emplace(std::move(key), read_row(impl_->schema, result.get(), r, 1));
    }
    return 0;
  });
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (const auto it = found.find(keys[i]); it != found.end()) rows[i] = it->second;
  }
  return rows;
}

void PostgresTable::write(std::string_view key, const Row& row) {
  pg::Params params;
  add_row_params(params, impl_->schema, key, row);
  impl_->pool.with_retry([&](pg::Connection& conn) {
    return conn.exec_prepared("strata_upsert", impl_->sql.upsert, params, PGRES_COMMAND_OK);
  });
}

void PostgresTable::write_batch(std::span<const RowWrite> rows) {
  if (rows.empty()) return;
  // ON CONFLICT DO UPDATE cannot touch a row twice in one statement: keep each key's last write.
  std::vector<std::size_t> keep;
  keep.reserve(rows.size());
  {
    std::unordered_set<std::string_view> seen;
    seen.reserve(rows.size());
    for (std::size_t i = rows.size(); i-- > 0;) {
      if (seen.insert(rows[i].key).second) keep.push_back(i);
    }
    // Key order: concurrent batches over overlapping keys then lock rows in the same order (no
    // deadlock), and the primary-key index is filled with better locality.
    std::sort(keep.begin(), keep.end(),
              [&](std::size_t a, std::size_t b) { return rows[a].key < rows[b].key; });
  }
  const auto& columns = impl_->schema.columns;
  pg::ArrayBuilder keys(pg::kTextOid);
  std::vector<pg::ArrayBuilder> arrays;
  arrays.reserve(columns.size());
  for (const auto& c : columns) arrays.emplace_back(element_oid(c.type));
  for (const std::size_t i : keep) {
    const auto& [key, row] = rows[i];
    check_key(impl_->schema, key);
    keys.add(key);
    if (row->size() != columns.size()) {
      throw InvalidArgumentError("row has " + std::to_string(row->size()) + " columns, table '" +
                                 impl_->schema.table + "' maps " + std::to_string(columns.size()));
    }
    for (std::size_t c = 0; c < columns.size(); ++c) {
      const SqlValue& value = (*row)[c];
      check_value(columns[c], value);
      if (std::holds_alternative<std::monostate>(value)) {
        arrays[c].add_null();
      } else {
        arrays[c].add(encode_value(columns[c], value));
      }
    }
  }
  pg::Params params;
  params.add(keys.finish());
  for (const auto& array : arrays) params.add(array.finish());
  impl_->pool.with_retry([&](pg::Connection& conn) {
    return conn.exec_prepared("strata_upsert_batch", impl_->sql.upsert_batch, params,
                              PGRES_COMMAND_OK);
  });
}

void PostgresTable::erase(std::string_view key) {
  check_key(impl_->schema, key);
  pg::Params params;
  params.add(std::string(key));
  impl_->pool.with_retry([&](pg::Connection& conn) {
    return conn.exec_prepared("strata_erase", impl_->sql.erase, params, PGRES_COMMAND_OK);
  });
}

void PostgresTable::erase_batch(std::span<const std::string> keys) {
  if (keys.empty()) return;
  pg::Params params;
  params.add(key_array(impl_->schema, keys));
  impl_->pool.with_retry([&](pg::Connection& conn) {
    return conn.exec_prepared("strata_erase_batch", impl_->sql.erase_batch, params,
                              PGRES_COMMAND_OK);
  });
}

PostgresTable::Transaction PostgresTable::begin() {
  for (int attempt = 0;; ++attempt) {
    pg::Pool::Lease lease = impl_->pool.acquire();
    try {
      (void)lease->exec("BEGIN");
      return Transaction(std::make_unique<Transaction::Impl>(*impl_, std::move(lease)));
    } catch (const pg::ConnectionLost& e) {
      lease->mark_broken();
      if (attempt >= 1) throw UnavailableError(e.what());
    }
  }
}

}  // namespace strata
