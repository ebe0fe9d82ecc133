// The table mapping against the real schema (issue 16, item 10): a source refuses at open a
// table whose columns do not have the mapping's types (the error names the table, the column,
// the expected and the actual type), an unsigned member above INT64_MAX is refused instead of
// wrapping, and a SQLite integer column holding text is a typed error, not 0. SQLite in a temp
// dir and the PostgreSQL of `make test`.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>

#include "common/temp_dir.h"
#include "source/pg_connection.h"
#include "source/source_fixtures.h"
#include "source/sqlite_db.h"
#include "strata/source/postgres_source.h"
#include "strata/source/sqlite_source.h"
#include "support/test_servers.h"
#include "support/unique.h"

namespace strata {
namespace {

struct Counter {
  std::string name;
  std::int64_t hits = 0;
  std::uint64_t total = 0;
  friend bool operator==(const Counter&, const Counter&) = default;
};

TableMapping<Counter> counter_mapping(const std::string& table) {
  return TableMapping<Counter>::columns(
      table, "id",
      {column("name", &Counter::name), column("hits", &Counter::hits),
       column("total", &Counter::total)});
}

// Runs `open`, expects InvalidArgumentError whose message holds every one of `parts`.
template <typename F>
void expect_refused(F&& open, std::initializer_list<std::string> parts) {
  try {
    open();
    ADD_FAILURE() << "expected InvalidArgumentError";
  } catch (const InvalidArgumentError& e) {
    for (const auto& part : parts) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
  }
}

TEST(SchemaCheck, SqliteRefusesAMappingThatDisagreesWithTheTable) {
  tools::TempDir dir("strata-schema");
  const std::string path = (dir.path() / "t.db").string();
  sqlite::Database db(path);
  db.exec("CREATE TABLE wrong_type (id TEXT PRIMARY KEY, name TEXT, hits TEXT, total INTEGER)");
  db.exec("CREATE TABLE missing (id TEXT PRIMARY KEY, name TEXT, hits INTEGER)");
  db.exec("CREATE TABLE good (id TEXT PRIMARY KEY, name TEXT, hits INTEGER, total NUMERIC)");
  expect_refused(
      [&] { (void)SqliteSource<Counter>({.path = path}, counter_mapping("wrong_type")); },
      {"wrong_type", "'hits'", "int64", "TEXT"});
  expect_refused([&] { (void)SqliteSource<Counter>({.path = path}, counter_mapping("missing")); },
                 {"missing", "'total'", "int64"});
  expect_refused(
      [&] {
        (void)SqliteSource<nlohmann::json>(
            {.path = path}, TableMapping<nlohmann::json>::document(
                                "good", {}, {.key_column = "id", .value_column = "hits"}));
      },
      {"good", "'hits'", "json", "INTEGER"});
  SqliteSource<Counter> good({.path = path}, counter_mapping("good"));
  good.write("a", Counter{"a", 1, 2});
  EXPECT_EQ(good.load("a"), (Counter{"a", 1, 2}));
}

TEST(SchemaCheck, SqliteIntegerColumnHoldingTextIsCorruptedNotZero) {
  tools::TempDir dir("strata-schema");
  const std::string path = (dir.path() / "t.db").string();
  SqliteSource<Counter> source({.path = path}, counter_mapping("c").create_table_if_missing());
  sqlite::Database(path).exec("INSERT INTO c (id, name, hits, total) VALUES ('x', 'x', 'abc', 1)");
  try {
    (void)source.load("x");
    ADD_FAILURE() << "expected CorruptedError";
  } catch (const CorruptedError& e) {
    EXPECT_NE(std::string(e.what()).find("'hits'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("text"), std::string::npos) << e.what();
  }
}

TEST(SchemaCheck, UnsignedAboveInt64MaxIsRefusedNotWrapped) {
  tools::TempDir dir("strata-schema");
  const std::string path = (dir.path() / "t.db").string();
  SqliteSource<Counter> source({.path = path}, counter_mapping("c").create_table_if_missing());
  const std::uint64_t too_big = std::uint64_t{std::numeric_limits<std::int64_t>::max()} + 1;
  EXPECT_THROW(source.write("big", Counter{"big", 1, too_big}), InvalidArgumentError);
  EXPECT_EQ(source.load("big"), std::nullopt);
  source.write("max", Counter{"max", 1, std::numeric_limits<std::int64_t>::max()});
  EXPECT_EQ(source.load("max")->total, std::uint64_t{std::numeric_limits<std::int64_t>::max()});
  // A negative number in the column does not wrap into the unsigned member either.
  sqlite::Database(path).exec("UPDATE c SET total = -1 WHERE id = 'max'");
  EXPECT_THROW((void)source.load("max"), CorruptedError);
}

TEST(SchemaCheck, PostgresRefusesWrongTypesAndADocumentOverText) {
  STRATA_SERVER_URL(url, "STRATA_TEST_POSTGRES_URL");
  pg::Connection conn(url, std::chrono::seconds(5));
  const std::string wrong = testing::unique_name("strata_schema_wrong");
  const std::string text_doc = testing::unique_name("strata_schema_doc");
  const std::string good = testing::unique_name("strata_schema_good");
  (void)conn.exec("CREATE TABLE " + wrong +
                  " (id text PRIMARY KEY, name text, hits int4, total int8)");
  (void)conn.exec("CREATE TABLE " + text_doc + " (key text PRIMARY KEY, value text)");
  (void)conn.exec("CREATE TABLE " + good +
                  " (id text PRIMARY KEY, name varchar(20), hits int8, total int8)");
  const PostgresOptions options{.url = url};
  expect_refused([&] { (void)PostgresSource<Counter>(options, counter_mapping(wrong)); },
                 {wrong, "'hits'", "int64", "int4"});
  expect_refused(
      [&] {
        (void)PostgresSource<nlohmann::json>(options,
                                             TableMapping<nlohmann::json>::document(text_doc));
      },
      {text_doc, "'value'", "json", "jsonb", "text"});
  PostgresSource<Counter> ok(options, counter_mapping(good));
  ok.write("a", Counter{"a", 1, 2});
  EXPECT_EQ(ok.load("a"), (Counter{"a", 1, 2}));
  const std::uint64_t too_big = std::uint64_t{std::numeric_limits<std::int64_t>::max()} + 1;
  EXPECT_THROW(ok.write("big", Counter{"big", 1, too_big}), InvalidArgumentError);
  for (const auto& t : {wrong, text_doc, good}) (void)conn.exec("DROP TABLE " + t);
}

// An integer key column (TableMapping::key_type(kInt64)): cache keys are the integers' canonical
// decimal text; everything else is a typed error, never a wrong row. The same body runs on
// SQLite and PostgreSQL.
template <typename S>
void check_integer_keys(S& source) {
  source.write("42", Counter{"a", 1, 2});
  source.write("-7", Counter{"b", 3, 4});
  EXPECT_EQ(source.load("42"), (Counter{"a", 1, 2}));
  const std::vector<std::string> keys = {"-7", "42", "43"};
  const auto many = source.load_many(keys);
  ASSERT_EQ(many.size(), 3u);
  EXPECT_EQ(many[0], (Counter{"b", 3, 4}));
  EXPECT_EQ(many[1], (Counter{"a", 1, 2}));
  EXPECT_EQ(many[2], std::nullopt);
  const KeyValue<Counter> batch[] = {{"9223372036854775807", Counter{"max", 5, 6}}};
  source.write_batch(batch);
  EXPECT_EQ(source.load("9223372036854775807"), (Counter{"max", 5, 6}));
  for (const std::string bad : {"042", "+42", "4x", "", " 42", "9223372036854775808", "0x10"}) {
    SCOPED_TRACE(bad);
    expect_refused([&] { (void)source.load(bad); }, {"holds integers", "canonical"});
    expect_refused([&] { source.write(bad, Counter{}); }, {"holds integers"});
    expect_refused([&] { source.erase(bad); }, {"holds integers"});
  }
  source.erase("42");
  EXPECT_EQ(source.load("42"), std::nullopt);
  const std::vector<std::string> gone = {"-7", "9223372036854775807"};
  source.erase_batch(gone);
  EXPECT_EQ(source.load("-7"), std::nullopt);
}

TEST(SchemaCheck, SqliteIntegerKeyColumn) {
  tools::TempDir dir("strata-schema");
  const std::string path = (dir.path() / "t.db").string();
  sqlite::Database(path).exec(
      "CREATE TABLE numbered (id INTEGER PRIMARY KEY, name TEXT, hits INTEGER, total INTEGER)");
  SqliteSource<Counter> source({.path = path},
                               counter_mapping("numbered").key_type(ColumnType::kInt64));
  check_integer_keys(source);
  // Created by strata: an INTEGER key.
  SqliteSource<Counter> created(
      {.path = path},
      counter_mapping("made").key_type(ColumnType::kInt64).create_table_if_missing());
  created.write("5", Counter{"c", 1, 1});
  sqlite::Database db(path);
  auto type = db.prepare("SELECT typeof(id) FROM made");
  ASSERT_TRUE(type.step());
  EXPECT_EQ(type.column_text(0), "integer");
}

TEST(SchemaCheck, PostgresIntegerKeyColumn) {
  STRATA_SERVER_URL(url, "STRATA_TEST_POSTGRES_URL");
  pg::Connection conn(url, std::chrono::seconds(5));
  const std::string table = testing::unique_name("strata_int_key");
  const std::string made = testing::unique_name("strata_int_made");
  (void)conn.exec("CREATE TABLE " + table + " (id bigint PRIMARY KEY, name text, hits int8, " +
                  "total int8)");
  const PostgresOptions options{.url = url};
  PostgresSource<Counter> source(options, counter_mapping(table).key_type(ColumnType::kInt64));
  check_integer_keys(source);
  // A text mapping over an integer key column is refused at open, and the other way round.
  expect_refused([&] { (void)PostgresSource<Counter>(options, counter_mapping(table)); },
                 {table, "'id'", "expected text", "int8"});
  PostgresSource<Counter> created(
      options, counter_mapping(made).key_type(ColumnType::kInt64).create_table_if_missing());
  created.write("5", Counter{"c", 1, 1});
  expect_refused([&] { (void)PostgresSource<Counter>(options, counter_mapping(made)); },
                 {made, "expected text", "int8"});
  for (const auto& t : {table, made}) (void)conn.exec("DROP TABLE " + t);
}

}  // namespace
}  // namespace strata
