// The Source conformance suite: one set of tests, instantiated for every implementation
// (SQLite and PostgreSQL, each with typed columns and with a document column; the function
// source). PostgreSQL is the real server `make test` starts.
#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <mutex>
#include <random>
#include <thread>

#include "common/temp_dir.h"
#include "source/source_fixtures.h"
#include "strata/codec/msgpack.h"
#include "support/test_servers.h"

namespace strata {
namespace {

using testing::AnySource;
using testing::SourceModel;
using testing::unique_name;
using testing::User;

static_assert(Source<SqliteSource<User>>);
static_assert(Source<PostgresSource<User>>);
static_assert(Source<FunctionSource<User>>);
static_assert(!Source<User>);

struct Backend {
  std::string name;
  bool postgres = false;
  // Builds the source on a fresh table; `where` is the PostgreSQL URL or a SQLite file path.
  std::function<std::unique_ptr<AnySource>(const std::string& where, const std::string& table)>
      make;
};

// Shows the backend's name (not its bytes) in CTest's test list.
void PrintTo(const Backend& backend, std::ostream* out) {
  *out << backend.name;
}

template <typename S>
std::unique_ptr<AnySource> erase_type(S source) {
  return std::make_unique<SourceModel<S>>(std::move(source));
}

std::vector<Backend> backends() {
  return {
      {"sqlite_columns", false,
       [](const std::string& path, const std::string& table) {
         return erase_type(SqliteSource<User>({.path = path}, testing::user_columns(table)));
       }},
      {"sqlite_json_document", false,
       [](const std::string& path, const std::string& table) {
         return erase_type(SqliteSource<User>(
             {.path = path}, TableMapping<User>::document(table).create_table_if_missing()));
       }},
      {"postgres_columns", true,
       [](const std::string& url, const std::string& table) {
         return erase_type(PostgresSource<User>({.url = url}, testing::user_columns(table)));
       }},
      {"postgres_jsonb_document", true,
       [](const std::string& url, const std::string& table) {
         return erase_type(PostgresSource<User>(
             {.url = url}, TableMapping<User>::document(table).create_table_if_missing()));
       }},
      {"postgres_msgpack_document", true,
       [](const std::string& url, const std::string& table) {
         return erase_type(PostgresSource<User>(
             {.url = url}, TableMapping<User>::document(table, MsgpackCodec<User>{},
                                                        {.key_column = "k", .value_column = "doc"})
                               .create_table_if_missing()));
       }},
      {"function", false,
       [](const std::string&, const std::string&) {
         return erase_type(testing::map_function_source(
             std::make_shared<std::map<std::string, User>>(), std::make_shared<std::mutex>()));
       }},
  };
}

User sample(int i) {
  return User{"user " + std::to_string(i) + " Zoë ✓", "u" + std::to_string(i) + "@example.com", i,
              i * 0.5, std::string("\x00\xff", 2) + std::to_string(i)};
}

class SourceConformance : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (GetParam().postgres) {
      STRATA_SERVER_URL(url, "STRATA_TEST_POSTGRES_URL");
      where_ = url;
    } else {
      dir_.emplace("strata-source");
      where_ = (dir_->path() / "source.db").string();
    }
    table_ = unique_name("strata_conf");
    source_ = GetParam().make(where_, table_);
  }

  std::optional<tools::TempDir> dir_;
  std::string where_;
  std::string table_;
  std::unique_ptr<AnySource> source_;
};

TEST_P(SourceConformance, MissingKeyIsNullopt) {
  EXPECT_EQ(source_->load("nobody"), std::nullopt);
  EXPECT_EQ(source_->load(""), std::nullopt);
}

TEST_P(SourceConformance, WriteThenLoadRoundTripsUnicode) {
  const User u{"Zoë Ålberg 東京 🚀 — ünïcödé", "zoë@exämple.com", 7, -1.25, "a"};
  source_->write("user:é✓", u);
  EXPECT_EQ(source_->load("user:é✓"), u);
  const User empty{};
  source_->write("empty", empty);
  EXPECT_EQ(source_->load("empty"), empty);
}

TEST_P(SourceConformance, NullColumnsRoundTrip) {
  User u = sample(1);
  u.email.reset();
  source_->write("k", u);
  const auto got = source_->load("k");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->email, std::nullopt);
  EXPECT_EQ(*got, u);
}

TEST_P(SourceConformance, BinaryValuesRoundTrip) {
  User u = sample(2);
  u.avatar.clear();
  for (int i = 0; i < 256; ++i) u.avatar += static_cast<char>(i);
  u.avatar += std::string(3, '\0');
  source_->write("bin", u);
  EXPECT_EQ(source_->load("bin"), u);
}

TEST_P(SourceConformance, OneMebibyteValueRoundTrips) {
  User u = sample(3);
  std::mt19937_64 rng(3);
  u.avatar.resize(1 << 20);
  for (char& c : u.avatar) c = static_cast<char>(rng());
  source_->write("big", u);
  EXPECT_EQ(source_->load("big"), u);
  const std::vector<std::string> keys{"big"};
  EXPECT_EQ(source_->load_many(keys).at(0), u);
}

TEST_P(SourceConformance, TenThousandRowBatches) {
  constexpr int kRows = 10'000;
  std::vector<KeyValue<User>> entries;
  std::vector<std::string> keys;
  for (int i = 0; i < kRows; ++i) {
    keys.push_back("batch:" + std::to_string(i));
    entries.emplace_back(keys.back(), sample(i));
  }
  source_->write_batch(entries);
  const auto loaded = source_->load_many(keys);
  ASSERT_EQ(loaded.size(), keys.size());
  for (int i = 0; i < kRows; ++i) ASSERT_EQ(loaded[i], sample(i)) << keys[i];
  source_->erase_batch(keys);
  for (const auto& v : source_->load_many(keys)) ASSERT_EQ(v, std::nullopt);
}

TEST_P(SourceConformance, UpsertReplacesExistingKeys) {
  source_->write("u", sample(1));
  source_->write("u", sample(2));
  EXPECT_EQ(source_->load("u"), sample(2));
  // A batch over existing keys, with a key repeated: the last entry wins.
  const std::vector<KeyValue<User>> entries{{"u", sample(3)}, {"v", sample(4)}, {"u", sample(5)}};
  source_->write_batch(entries);
  EXPECT_EQ(source_->load("u"), sample(5));
  EXPECT_EQ(source_->load("v"), sample(4));
  source_->write_batch(std::span<const KeyValue<User>>{});  // empty batch is a no-op
}

TEST_P(SourceConformance, EraseOfMissingKeysIsNotAnError) {
  EXPECT_NO_THROW(source_->erase("missing"));
  source_->write("present", sample(1));
  const std::vector<std::string> keys{"missing", "present", "also-missing", "present"};
  EXPECT_NO_THROW(source_->erase_batch(keys));
  EXPECT_EQ(source_->load("present"), std::nullopt);
  EXPECT_NO_THROW(source_->erase_batch(std::span<const std::string>{}));
}

TEST_P(SourceConformance, LoadManyKeepsRequestOrderWithDuplicatesAndMisses) {
  source_->write("a", sample(1));
  source_->write("b", sample(2));
  const std::vector<std::string> keys{"b", "miss", "a", "b", "", "a", "miss2"};
  const auto got = source_->load_many(keys);
  ASSERT_EQ(got.size(), keys.size());
  EXPECT_EQ(got[0], sample(2));
  EXPECT_EQ(got[1], std::nullopt);
  EXPECT_EQ(got[2], sample(1));
  EXPECT_EQ(got[3], sample(2));
  EXPECT_EQ(got[4], std::nullopt);
  EXPECT_EQ(got[5], sample(1));
  EXPECT_EQ(got[6], std::nullopt);
  EXPECT_TRUE(source_->load_many(std::span<const std::string>{}).empty());
}

TEST_P(SourceConformance, TransactionCommitMakesWritesAndErasesVisible) {
  source_->write("gone", sample(9));
  {
    auto txn = source_->begin();
    txn->write("t1", sample(1));
    txn->write("t2", sample(2));
    txn->erase("gone");
    txn->write("t1", sample(3));
    txn->commit();
    EXPECT_THROW(txn->commit(), InvalidArgumentError);
  }
  EXPECT_EQ(source_->load("t1"), sample(3));
  EXPECT_EQ(source_->load("t2"), sample(2));
  EXPECT_EQ(source_->load("gone"), std::nullopt);
}

TEST_P(SourceConformance, TransactionWithoutCommitRollsBack) {
  source_->write("keep", sample(1));
  {
    auto txn = source_->begin();
    txn->write("new", sample(2));
    txn->write("keep", sample(3));
    txn->erase("keep");
  }  // destroyed without commit()
  EXPECT_EQ(source_->load("new"), std::nullopt);
  EXPECT_EQ(source_->load("keep"), sample(1));
  // The source is usable afterwards, including for another transaction.
  auto txn = source_->begin();
  txn->write("after", sample(4));
  txn->commit();
  EXPECT_EQ(source_->load("after"), sample(4));
}

TEST_P(SourceConformance, ValuesContainingSqlAreStoredVerbatim) {
  const std::string evil = "'); DROP TABLE " + table_ + "; --";
  User u = sample(1);
  u.name = evil;
  u.email = "\"; DELETE FROM x WHERE '1'='1";
  source_->write(evil, u);
  EXPECT_EQ(source_->load(evil), u);
  const std::vector<std::string> keys{evil};
  EXPECT_EQ(source_->load_many(keys).at(0), u);
  source_->erase(evil);
  EXPECT_EQ(source_->load(evil), std::nullopt);
  source_->write("still-there", u);  // the table survived
  EXPECT_EQ(source_->load("still-there"), u);
}

TEST_P(SourceConformance, ConcurrentUseFromSeveralThreads) {
  constexpr int kThreads = 4;
  constexpr int kKeys = 100;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      try {
        const std::string prefix = "t" + std::to_string(t) + ":";
        std::vector<KeyValue<User>> batch;
        std::vector<std::string> keys;
        for (int i = 0; i < kKeys; ++i) {
          keys.push_back(prefix + std::to_string(i));
          if (i % 2 == 0) {
            source_->write(keys.back(), sample(i));
          } else {
            batch.emplace_back(keys.back(), sample(i));
          }
          source_->write("shared", sample(t));
          if (!source_->load("shared")) ++failures;
        }
        source_->write_batch(batch);
        auto txn = source_->begin();
        txn->write(prefix + "txn", sample(t));
        txn->commit();
        const auto got = source_->load_many(keys);
        for (int i = 0; i < kKeys; ++i) {
          if (got[i] != sample(i)) ++failures;
        }
      } catch (const std::exception& e) {
        ADD_FAILURE() << e.what();
        ++failures;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(source_->load("t" + std::to_string(t) + ":txn"), sample(t));
  }
  const auto shared = source_->load("shared");
  ASSERT_TRUE(shared);
  EXPECT_GE(shared->version, 0);
  EXPECT_LT(shared->version, kThreads);
}

INSTANTIATE_TEST_SUITE_P(AllSources, SourceConformance, ::testing::ValuesIn(backends()),
                         [](const auto& param_info) { return param_info.param.name; });

}  // namespace
}  // namespace strata
