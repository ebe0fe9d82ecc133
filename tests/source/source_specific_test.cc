// What is particular to each source: identifier validation, key limits, SQLite's threading
// guard, PostgreSQL's error mapping, the function source's defaults.
#include <gtest/gtest.h>

#include <thread>

#include "common/temp_dir.h"
#include "source/pg_connection.h"
#include "source/source_fixtures.h"
#include "source/sqlite_db.h"
#include "strata/codec/json.h"
#include "support/test_servers.h"

namespace strata {
namespace {

using testing::unique_name;
using testing::User;

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const InvalidArgumentError& e) {
    return e.what();
  }
  return "(no InvalidArgumentError)";
}

TEST(Identifiers, PatternAcceptsPlainNamesOnly) {
  EXPECT_TRUE(is_valid_identifier("users"));
  EXPECT_TRUE(is_valid_identifier("_T1"));
  EXPECT_TRUE(is_valid_identifier(std::string(63, 'a')));
  EXPECT_TRUE(is_valid_identifier("select"));  // quoted in SQL, so reserved words are fine
  for (const std::string& bad : std::vector<std::string>{
           "", "1users", "my table", "users\"", "users'", "users;", "users; DROP TABLE x; --",
           "a-b", "naïve", "tab\tle", std::string(64, 'a'), std::string("a\0b", 3)}) {
    EXPECT_FALSE(is_valid_identifier(bad)) << bad;
  }
}

TEST(Identifiers, BadTableAndColumnNamesAreRejectedNamingThem) {
  const std::string table_message =
      error_of([] { (void)TableMapping<User>::document("users\"; DROP TABLE x; --"); });
  EXPECT_NE(table_message.find("table name"), std::string::npos) << table_message;
  EXPECT_NE(table_message.find("users\"; DROP TABLE x; --"), std::string::npos) << table_message;

  const std::string column_message = error_of(
      [] { (void)TableMapping<User>::columns("users", "id", {column("my name", &User::name)}); });
  EXPECT_NE(column_message.find("column name 'my name'"), std::string::npos) << column_message;

  const std::string key_message = error_of([] {
    (void)TableMapping<User>::document("users", JsonCodec<User>{}, {.key_column = "id'"});
  });
  EXPECT_NE(key_message.find("key column name 'id''"), std::string::npos) << key_message;

  const std::string dup = error_of([] {
    (void)TableMapping<User>::columns("users", "id",
                                      {column("name", &User::name), column("name", &User::email)});
  });
  EXPECT_NE(dup.find("appears twice"), std::string::npos) << dup;
  EXPECT_NE(error_of([] { (void)TableMapping<User>::columns("users", "id", {}); }),
            "(no InvalidArgumentError)");
}

TEST(SqliteSource, BadTableNameNeverReachesTheDatabase) {
  tools::TempDir dir("strata-source");
  TableSchema schema{"x\" (a); DROP TABLE y; --", "id", {{"v", ColumnType::kText}}, true};
  EXPECT_THROW(SqliteTable({.path = (dir.path() / "a.db").string()}, schema), InvalidArgumentError);
  EXPECT_THROW(
      SqliteTable({.path = ":memory:"}, TableSchema{"t", "id", {{"v", ColumnType::kText}}}),
      InvalidArgumentError);
}

TEST(SqliteSource, KeysAreBinarySafeAndTheFileIsInWalMode) {
  tools::TempDir dir("strata-source");
  const std::string path = (dir.path() / "s.db").string();
  SqliteSource<std::string> source(
      {.path = path},
      TableMapping<std::string>::document("blobs", BytesCodec{}).create_table_if_missing());
  const std::string key("k\0ey\xff", 5);
  source.write(key, std::string("v\0", 2));
  EXPECT_EQ(source.load(key), std::string("v\0", 2));
  EXPECT_EQ(source.load("k"), std::nullopt);  // the NUL is part of the key
  sqlite::Database check(path);
  EXPECT_EQ(check.journal_mode(), "wal");
}

TEST(SqliteSource, WritingAroundAnOpenTransactionOnItsThreadThrowsInsteadOfDeadlocking) {
  tools::TempDir dir("strata-source");
  SqliteSource<User> source({.path = (dir.path() / "s.db").string()}, testing::user_columns("u"));
  auto txn = source.begin();
  EXPECT_THROW(source.write("x", User{}), InvalidArgumentError);
  EXPECT_THROW((void)source.begin(), InvalidArgumentError);
  EXPECT_EQ(source.load("x"), std::nullopt);  // reads still work
  txn.write("x", User{});
  txn.commit();
  EXPECT_TRUE(source.load("x"));
}

TEST(SqliteSource, MissingTableIsAnInvalidArgument) {
  tools::TempDir dir("strata-source");
  EXPECT_THROW(SqliteSource<User>({.path = (dir.path() / "s.db").string()},
                                  TableMapping<User>::document("nope")),
               InvalidArgumentError);
}

TEST(PostgresSource, BadTableNameIsRejectedBeforeConnecting) {
  // No server needed: validation happens first.
  EXPECT_THROW(PostgresTable({.url = "postgresql://127.0.0.1:1/none"},
                             TableSchema{"t; DROP TABLE users", "id", {{"v", ColumnType::kText}}}),
               InvalidArgumentError);
  EXPECT_THROW(PostgresTable({.url = "", .pool_size = 1}, TableSchema{"t", "id", {{"v"}}}),
               InvalidArgumentError);
}

// pg::CopyIn (the benchmarks' bulk baseline) escapes what COPY's text format gives meaning to.
TEST(PostgresCopyIn, EscapesTabsNewlinesAndBackslashes) {
  STRATA_SERVER_URL(url, "STRATA_TEST_POSTGRES_URL");
  pg::Connection conn(url, std::chrono::seconds(5));
  const std::string table = unique_name("strata_copy");
  (void)conn.exec("CREATE TABLE " + table + " (id text PRIMARY KEY, v text)");
  const std::string tricky = "tab\there\nnew line\\back\rslash";
  {
    pg::CopyIn copy(conn, "COPY " + table + " (id, v) FROM STDIN");
    copy.row({"a", tricky});
    copy.row({"b", ""});
    copy.finish();
  }
  {
    pg::CopyIn aborted(conn, "COPY " + table + " (id, v) FROM STDIN");
    aborted.row({"c", "never committed"});
  }  // destroyed unfinished: aborted
  auto result = conn.exec("SELECT id, v FROM " + table + " ORDER BY id", PGRES_TUPLES_OK);
  ASSERT_EQ(PQntuples(result.get()), 2);
  EXPECT_EQ(std::string(PQgetvalue(result.get(), 0, 1)), tricky);
  EXPECT_EQ(std::string(PQgetvalue(result.get(), 1, 1)), "");
  (void)conn.exec("DROP TABLE " + table);
}

TEST(PostgresSource, UnreachableServerIsUnavailable) {
  EXPECT_THROW(PostgresTable({.url = "postgresql://postgres@127.0.0.1:1/none"},
                             TableSchema{"t", "id", {{"v", ColumnType::kText}}}),
               UnavailableError);
}

TEST(PostgresSource, KeyLimitsAreInvalidArguments) {
  STRATA_SERVER_URL(url, "STRATA_TEST_POSTGRES_URL");
  PostgresSource<User> source({.url = url}, testing::user_columns(unique_name("strata_keys")));
  EXPECT_THROW(source.write(std::string("a\0b", 3), User{}), InvalidArgumentError);
  EXPECT_THROW((void)source.load(std::string("a\0b", 3)), InvalidArgumentError);
  EXPECT_THROW(source.write("bad utf8 \xff", User{}), InvalidArgumentError);
  User bad_text;
  bad_text.name = std::string("nul\0inside", 10);
  EXPECT_THROW(source.write("k", bad_text), InvalidArgumentError);
  source.write("k", User{"ok", {}, 1, 0, {}});  // the pool is still healthy
  EXPECT_EQ(source.load("k")->name, "ok");
}

TEST(PostgresSource, ATransactionWithAFailedStatementDoesNotCommit) {
  STRATA_SERVER_URL(url, "STRATA_TEST_POSTGRES_URL");
  PostgresSource<User> source({.url = url}, testing::user_columns(unique_name("strata_txn")));
  auto txn = source.begin();
  txn.write("good", User{"g", {}, 1, 0, {}});
  EXPECT_THROW(txn.write("bad \xff", User{}), InvalidArgumentError);
  EXPECT_THROW(txn.commit(), InvalidArgumentError);
  EXPECT_EQ(source.load("good"), std::nullopt);
}

TEST(PostgresSource, MissingTableIsAnInvalidArgument) {
  STRATA_SERVER_URL(url, "STRATA_TEST_POSTGRES_URL");
  PostgresSource<User> source({.url = url},
                              TableMapping<User>::document(unique_name("strata_missing")));
  EXPECT_THROW((void)source.load("k"), InvalidArgumentError);
}

TEST(PostgresSource, PoolSizeOneServesSeveralThreads) {
  STRATA_SERVER_URL(url, "STRATA_TEST_POSTGRES_URL");
  PostgresSource<User> source({.url = url, .pool_size = 1},
                              testing::user_columns(unique_name("strata_pool")));
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&source, t] {
      for (int i = 0; i < 20; ++i) source.write("k" + std::to_string(t), User{"n", {}, i, 0, {}});
    });
  }
  for (auto& thread : threads) thread.join();
  for (int t = 0; t < 3; ++t) EXPECT_EQ(source.load("k" + std::to_string(t))->version, 19);
}

// The batch upsert at the write-behind flusher's sizes (issue 22 item 4 measured a COPY into a
// staging table against it and kept the one statement, docs/benchmarks.md): integer keys,
// every column type, NULLs, binary-safe values, the last write of a repeated key, upserts over
// existing rows, and server errors classified by SQLSTATE with nothing written.
constexpr std::size_t kLargeBatch = 300;

TableSchema every_type_schema(const std::string& table) {
  return TableSchema{table,
                     "id",
                     {{"t", ColumnType::kText},
                      {"b", ColumnType::kBytes},
                      {"n", ColumnType::kInt64},
                      {"d", ColumnType::kDouble},
                      {"j", ColumnType::kJson}},
                     /*create_if_missing=*/true,
                     ColumnType::kInt64};
}

Row every_type_row(int i) {
  using namespace std::string_literals;
  return Row{"tab\there\nnew \\ line \xc3\xa9 " + std::to_string(i),
             "\0\xff\x01bytes\r\n"s + std::to_string(i), std::int64_t{-i},
             i * 0.5 - 1e300 * (i % 2), "{\"i\": " + std::to_string(i) + "}"};
}

TEST(PostgresBatchUpsert, ALargeBatchReadsBackExactly) {
  STRATA_SERVER_URL(url, "STRATA_TEST_POSTGRES_URL");
  const std::string table = unique_name("strata_copy");
  PostgresTable source({.url = url, .pool_size = 1}, every_type_schema(table));
  pg::Connection admin(url, std::chrono::seconds(5));
  const auto drop = [&] { (void)admin.exec("DROP TABLE IF EXISTS \"" + table + "\""); };

  // A small batch first: the large one upserts over its rows.
  std::vector<std::string> keys;
  std::vector<Row> rows;
  for (int i = 0; i < 3; ++i) {
    keys.push_back(std::to_string(i - 1));  // -1, 0, 1
    rows.push_back(every_type_row(i));
  }
  std::vector<RowWrite> small;
  for (std::size_t i = 0; i < keys.size(); ++i) small.push_back({keys[i], &rows[i]});
  source.write_batch(small);

  // A large one over the same keys and new ones, a NULL in every column, a repeated key.
  const int n = static_cast<int>(kLargeBatch);
  keys.clear();
  rows.clear();
  for (int i = 0; i < n; ++i) {
    keys.push_back(std::to_string(i - 1));
    rows.push_back(every_type_row(i + 1000));
  }
  rows[5] = Row{SqlValue{}, SqlValue{}, SqlValue{}, SqlValue{}, SqlValue{}};
  keys.push_back("7");
  rows.push_back(every_type_row(7777));  // the last write of key 7 wins
  std::vector<RowWrite> large;
  for (std::size_t i = 0; i < keys.size(); ++i) large.push_back({keys[i], &rows[i]});
  source.write_batch(large);

  std::vector<std::string> wanted(keys.begin(), keys.begin() + n);
  const auto back = source.load_many(wanted);
  ASSERT_EQ(back.size(), wanted.size());
  for (int i = 0; i < n; ++i) {
    SCOPED_TRACE(wanted[static_cast<std::size_t>(i)]);
    ASSERT_TRUE(back[static_cast<std::size_t>(i)].has_value());
    const Row expected = i == 8 ? every_type_row(7777) : rows[static_cast<std::size_t>(i)];
    EXPECT_EQ(*back[static_cast<std::size_t>(i)], expected);
  }
  // A second large batch over the same keys upserts the same way.
  rows[0] = every_type_row(42);
  source.write_batch(large);
  EXPECT_EQ(source.load("-1"), every_type_row(42));
  const auto count = admin.exec("SELECT count(*) FROM \"" + table + "\"", PGRES_TUPLES_OK);
  EXPECT_EQ(std::stoll(PQgetvalue(count.get(), 0, 0)), n);
  drop();
}

TEST(PostgresBatchUpsert, ALargeBatchFailingOnTheServerWritesNothingAndIsClassified) {
  STRATA_SERVER_URL(url, "STRATA_TEST_POSTGRES_URL");
  const std::string table = unique_name("strata_copy_fail");
  pg::Connection admin(url, std::chrono::seconds(5));
  (void)admin.exec("CREATE TABLE \"" + table + "\" (id text PRIMARY KEY, v text)");
  (void)admin.exec("CREATE TABLE \"" + table + "_ctl\" (state text)");
  (void)admin.exec("INSERT INTO \"" + table + "_ctl\" VALUES (NULL)");
  (void)admin.exec("CREATE FUNCTION \"" + table +
                   "_fail\"() RETURNS trigger LANGUAGE plpgsql AS $$ DECLARE s text; BEGIN "
                   "SELECT state INTO s FROM \"" +
                   table +
                   "_ctl\"; IF s IS NOT NULL AND NEW.v = 'poison' THEN RAISE EXCEPTION "
                   "'injected %', s USING ERRCODE = s; END IF; RETURN NEW; END $$");
  (void)admin.exec("CREATE TRIGGER \"" + table + "_trg\" BEFORE INSERT OR UPDATE ON \"" + table +
                   "\" FOR EACH ROW EXECUTE FUNCTION \"" + table + "_fail\"()");
  const auto fail_with = [&](const std::string& state) {
    (void)admin.exec("UPDATE \"" + table + "_ctl\" SET state = '" + state + "'");
  };
  PostgresTable source({.url = url, .pool_size = 1},
                       TableSchema{table, "id", {{"v", ColumnType::kText}}});
  std::vector<std::string> keys;
  std::vector<Row> rows;
  for (std::size_t i = 0; i < kLargeBatch; ++i) {
    keys.push_back("k" + std::to_string(i));
    rows.push_back(Row{std::string(i == 50 ? "poison" : "ok")});
  }
  std::vector<RowWrite> batch;
  for (std::size_t i = 0; i < keys.size(); ++i) batch.push_back({keys[i], &rows[i]});

  fail_with("23514");  // check violation: permanent (the write-behind dead-letters it)
  try {
    source.write_batch(batch);
    ADD_FAILURE() << "the batch should have failed";
  } catch (const InvalidArgumentError& e) {
    EXPECT_NE(std::string(e.what()).find("23514"), std::string::npos) << e.what();
  }
  EXPECT_EQ(source.load("k0"), std::nullopt) << "nothing of a failed batch is written";
  fail_with("40001");  // serialization failure: transient (retried with backoff)
  EXPECT_THROW(source.write_batch(batch), UnavailableError);
  fail_with("22P02");
  EXPECT_THROW(source.write_batch(batch), InvalidArgumentError);
  EXPECT_EQ(source.load("k0"), std::nullopt);

  // The pool's one connection was rolled back and is reused: the next batch goes through.
  rows[50] = Row{std::string("fine")};
  source.write_batch(batch);
  EXPECT_EQ(source.load("k0"), Row{std::string("ok")});
  EXPECT_EQ(source.load("k50"), Row{std::string("fine")});
  (void)admin.exec("DROP TABLE IF EXISTS \"" + table + "\"");
  (void)admin.exec("DROP TABLE IF EXISTS \"" + table + "_ctl\"");
  (void)admin.exec("DROP FUNCTION IF EXISTS \"" + table + "_fail\"()");
}

TEST(FunctionSource, NeedsALoadAndReportsMissingFunctions) {
  EXPECT_THROW(FunctionSource<User>(SourceFunctions<User>{}), InvalidArgumentError);
  FunctionSource<User> read_only(
      SourceFunctions<User>{.load = [](std::string_view) { return std::optional<User>(); }});
  EXPECT_THROW(read_only.write("k", User{}), InvalidArgumentError);
  EXPECT_THROW(read_only.erase("k"), InvalidArgumentError);
  FunctionSource<User> wrong_many(SourceFunctions<User>{
      .load = [](std::string_view) { return std::optional<User>(); },
      .load_many =
          [](std::span<const std::string>) { return std::vector<std::optional<User>>(); }});
  const std::vector<std::string> keys{"a"};
  EXPECT_THROW((void)wrong_many.load_many(keys), InvalidArgumentError);
}

}  // namespace
}  // namespace strata
