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
