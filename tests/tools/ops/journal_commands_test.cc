// `strata dead-letters list|replay|drop` and `strata journal verify|replay` run as processes on
// write-behind directories that a WriteBehind<Account> (the application) wrote, over SQLite and
// PostgreSQL: dead letters listed with their error, replayed once the cause is fixed, dropped; a
// journal's damaged tail reported with its offset, then recovered into the source.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>

#include "common/temp_dir.h"
#include "source/pg_connection.h"
#include "source/sqlite_db.h"
#include "strata/codec/json.h"
#include "strata/source/function_source.h"
#include "strata/source/postgres_source.h"
#include "strata/source/sqlite_source.h"
#include "strata/write_behind/write_behind.h"
#include "support/test_servers.h"
#include "tools/ops/ops_test_support.h"

namespace strata::testing {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

WriteBehindOptions fast_options(const fs::path& dir) {
  WriteBehindOptions o;
  o.directory = dir;
  o.initial_backoff = std::chrono::milliseconds(1);
  o.max_backoff = std::chrono::milliseconds(2);
  return o;
}

// A source whose table refuses negative versions until guard(false).
class DeadLetters : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    table_ = unique_name("ops_dl");
    if (sqlite()) {
      const std::string path = (dir_.path() / "app.db").string();
      sqlite::Database db(path);
      db.exec("CREATE TABLE " + table_ +
              " (id TEXT PRIMARY KEY, name TEXT, version INTEGER, balance REAL)");
      sqlite_path_ = path;
      source_flags_ = " --sqlite " + path;
    } else {
      STRATA_SERVER_URL(pg, "STRATA_TEST_POSTGRES_URL");
      pg_url_ = pg;
      pg::Connection(pg, std::chrono::seconds(5))
          .exec("CREATE TABLE " + table_ +
                " (id text PRIMARY KEY, name text, version bigint, balance float8)");
      source_flags_ = " --postgres " + pg;
    }
    source_flags_ += account_flags(table_);
    guard(true);
  }
  [[nodiscard]] bool sqlite() const { return std::string(GetParam()) == "sqlite"; }
  void guard(bool on) {
    if (sqlite()) {
      sqlite::Database db(sqlite_path_);
      db.exec(on ? "CREATE TRIGGER " + table_ + "_guard BEFORE INSERT ON " + table_ +
                       " WHEN NEW.version < 0 BEGIN SELECT RAISE(ABORT, 'negative version'); END"
                 : "DROP TRIGGER " + table_ + "_guard");
    } else {
      pg::Connection(pg_url_, std::chrono::seconds(5))
          .exec(on ? "ALTER TABLE " + table_ + " ADD CONSTRAINT " + table_ +
                         "_guard CHECK (version >= 0)"
                   : "ALTER TABLE " + table_ + " DROP CONSTRAINT " + table_ + "_guard");
    }
  }
  // Writes good and bad accounts through a WriteBehind over the table, closes it; the bad ones
  // end up dead-lettered.
  void write_behind(const std::vector<std::pair<std::string, Account>>& writes) {
    auto run = [&](auto source) {
      WriteBehind<Account> wb(fast_options(journal_), source);
      for (const auto& [k, v] : writes) wb.put(k, v);
      wb.flush();
      wb.close();
    };
    if (sqlite()) {
      run(std::make_shared<SqliteSource<Account>>(SqliteOptions{.path = sqlite_path_},
                                                  account_mapping(table_)));
    } else {
      run(std::make_shared<PostgresSource<Account>>(PostgresOptions{.url = pg_url_},
                                                    account_mapping(table_)));
    }
  }
  std::optional<Account> load(const std::string& key) {
    if (sqlite()) {
      return SqliteSource<Account>(SqliteOptions{.path = sqlite_path_}, account_mapping(table_))
          .load(key);
    }
    return PostgresSource<Account>(PostgresOptions{.url = pg_url_}, account_mapping(table_))
        .load(key);
  }

  tools::TempDir dir_{"strata-ops-dl"};
  fs::path journal_ = dir_.path() / "wb";
  std::string table_, sqlite_path_, pg_url_, source_flags_;
};

TEST_P(DeadLetters, ListReplayAfterTheFix) {
  write_behind({{"good", Account{"gus", 1, 1}}, {"bad", Account{"bad", -1, 2}}});
  EXPECT_EQ(load("good"), (Account{"gus", 1, 1}));
  EXPECT_EQ(load("bad"), std::nullopt);

  const json list = strata_json("dead-letters list --journal " + journal_.string());
  ASSERT_EQ(list["count"], 1);
  const json& letter = list["letters"][0];
  EXPECT_EQ(letter["key"], "bad");
  EXPECT_EQ(letter["op"], "put");
  EXPECT_EQ(letter["value"], json(Account{"bad", -1, 2}));
  EXPECT_GT(letter["sequence"].get<int>(), 0);
  const std::string why = sqlite() ? "negative version" : "check constraint";
  EXPECT_NE(letter["error"].get<std::string>().find(why), std::string::npos) << letter["error"];
  const auto text = strata_run("dead-letters list --journal " + journal_.string());
  EXPECT_NE(text.output.find("1 dead letter(s)"), std::string::npos) << text.output;
  EXPECT_NE(text.output.find("put bad = "), std::string::npos) << text.output;

  // The cause is still there: the letter stays, with its new error (exit status 1).
  const json again =
      strata_json("dead-letters replay --journal " + journal_.string() + source_flags_, 1);
  EXPECT_EQ(again["replayed"], 0);
  EXPECT_EQ(again["still_failing"], 1);
  ASSERT_EQ(again["remaining"].size(), 1u);
  EXPECT_EQ(again["remaining"][0]["key"], "bad");

  guard(false);
  const json replay =
      strata_json("dead-letters replay --journal " + journal_.string() + source_flags_);
  EXPECT_EQ(replay["replayed"], 1);
  EXPECT_EQ(replay["still_failing"], 0);
  EXPECT_EQ(load("bad"), (Account{"bad", -1, 2}));
  EXPECT_EQ(strata_json("dead-letters list --journal " + journal_.string())["count"], 0);
}

TEST_P(DeadLetters, Drop) {
  write_behind({{"b1", Account{"x", -1, 0}}, {"b2", Account{"y", -2, 0}}});
  ASSERT_EQ(strata_json("dead-letters list --journal " + journal_.string())["count"], 2);
  const auto drop = strata_run("dead-letters drop --journal " + journal_.string() + source_flags_);
  ASSERT_EQ(drop.exit_code, 0) << drop.output;
  EXPECT_EQ(drop.output, "dropped 2 dead letter(s)\n");
  EXPECT_EQ(strata_json("dead-letters list --journal " + journal_.string())["count"], 0);
  EXPECT_EQ(load("b1"), std::nullopt);
  // replay and drop write to the source, so they need one.
  const auto no_source = strata_run("dead-letters drop --journal " + journal_.string() + " 2>&1");
  EXPECT_EQ(no_source.exit_code, 2);
  EXPECT_NE(no_source.output.find("--sqlite or --postgres"), std::string::npos) << no_source.output;
}

INSTANTIATE_TEST_SUITE_P(Sources, DeadLetters, ::testing::Values("sqlite", "postgres"),
                         [](const auto& p) { return std::string(p.param); });

// A journal holding three unflushed writes: the application's source was down, and close()
// gave up at its deadline, leaving them for the next start.
class JournalCommands : public ::testing::Test {
 protected:
  void SetUp() override {
    SourceFunctions<Account> down;
    down.load = [](std::string_view) -> std::optional<Account> { return std::nullopt; };
    down.write_batch = [](std::span<const KeyValue<Account>>) {
      throw UnavailableError("source down");
    };
    auto source = std::make_shared<FunctionSource<Account>>(std::move(down));
    WriteBehind<Account> wb(fast_options(journal_), source);
    for (const auto& [k, v] : writes_) wb.put(k, v);
    EXPECT_THROW(wb.close(std::chrono::milliseconds(20)), TimeoutError);
    const auto segments = segment_files();
    ASSERT_EQ(segments.size(), 1u);
    segment_ = segments[0];
    intact_size_ = fs::file_size(segment_);
    table_ = unique_name("ops_journal");
    db_ = (dir_.path() / "app.db").string();
    // The table the replay writes into.
    (void)SqliteSource<Account>(SqliteOptions{.path = db_}, account_mapping(table_));
  }
  [[nodiscard]] std::vector<fs::path> segment_files() const {
    std::vector<fs::path> out;
    for (const auto& e : fs::directory_iterator(journal_)) {
      if (e.path().filename().string().rfind("journal-", 0) == 0) out.push_back(e.path());
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  // The size of a journal record of this key and value (docs/write-behind.md).
  static std::size_t record_size(const std::string& key, const Account& a) {
    return 8 + 17 + key.size() + JsonCodec<Account>{}.encode(a).size();
  }

  tools::TempDir dir_{"strata-ops-journal"};
  fs::path journal_ = dir_.path() / "wb";
  const std::vector<std::pair<std::string, Account>> writes_{
      {"j1", Account{"one", 1, 1}}, {"j2", Account{"two", 2, 2}}, {"j3", Account{"three", 3, 3}}};
  fs::path segment_;
  std::uintmax_t intact_size_ = 0;
  std::string table_, db_;
};

TEST_F(JournalCommands, VerifyAnIntactJournal) {
  const json r = strata_json("journal verify " + journal_.string());
  EXPECT_EQ(r["ok"], true);
  EXPECT_EQ(r["records"], 3);
  EXPECT_EQ(r["pending"], 3);
  EXPECT_EQ(r["checkpoint"]["sequence"], 0);
  ASSERT_EQ(r["segments"].size(), 1u);
  EXPECT_EQ(r["segments"][0]["file"], segment_.filename().string());
  EXPECT_EQ(r["segments"][0]["bytes"], intact_size_);
  EXPECT_EQ(r["segments"][0]["valid_bytes"], intact_size_);
  const auto text = strata_run("journal verify " + journal_.string());
  EXPECT_EQ(text.exit_code, 0);
  EXPECT_NE(text.output.find("3 records (#1..#3), 3 pending"), std::string::npos) << text.output;
  EXPECT_NE(text.output.find("checksums ok"), std::string::npos);
  EXPECT_NE(text.output.find("OK: 3 records"), std::string::npos);
}

TEST_F(JournalCommands, ATornTailIsReportedWithItsOffsetThenRecovered) {
  {
    std::ofstream out(segment_, std::ios::binary | std::ios::app);
    out << std::string("\x40\x00\x00\x00\x12\x34", 6);  // a record header cut short
  }
  const json r = strata_json("journal verify " + journal_.string(), 1);
  EXPECT_EQ(r["ok"], false);
  EXPECT_EQ(r["records"], 3);  // every record before the tail is still read
  const json& tail = r["segments"][0]["damaged_tail"];
  EXPECT_EQ(tail["offset"], intact_size_);
  EXPECT_EQ(tail["bytes_after"], 6);
  EXPECT_FALSE(tail["reason"].get<std::string>().empty());
  const auto text = strata_run("journal verify " + journal_.string());
  EXPECT_EQ(text.exit_code, 1);
  EXPECT_NE(text.output.find("DAMAGED TAIL at offset " + std::to_string(intact_size_)),
            std::string::npos)
      << text.output;
  EXPECT_EQ(fs::file_size(segment_), intact_size_ + 6);  // verify changes nothing

  // Replay: recovery truncates the tail and writes the three records into the source.
  const json replay = strata_json("journal replay " + journal_.string() + " --sqlite " + db_ +
                                  account_flags(table_));
  EXPECT_EQ(replay["records_replayed"], 3);
  ASSERT_EQ(replay["truncations"].size(), 1u);
  EXPECT_EQ(replay["truncations"][0]["offset"], intact_size_);
  EXPECT_EQ(replay["flushed"], 3);
  EXPECT_EQ(replay["checkpoint_after"], 3);
  SqliteSource<Account> source(SqliteOptions{.path = db_}, account_mapping(table_));
  for (const auto& [k, v] : writes_) EXPECT_EQ(source.load(k), v) << k;
  const json after = strata_json("journal verify " + journal_.string());
  EXPECT_EQ(after["ok"], true);
  EXPECT_EQ(after["pending"], 0);
}

// One damaged byte in the middle: verify reports the damaged record and still reads the records
// after it; replay quarantines it, writes every intact record and exits 1; the next verify is
// clean and lists the quarantine file.
TEST_F(JournalCommands, AChecksumMismatchInTheMiddleLosesOnlyTheBadRecord) {
  const std::size_t second = 8 + record_size("j1", writes_[0].second);
  const std::size_t second_size = record_size("j2", writes_[1].second);
  {
    std::fstream f(segment_, std::ios::binary | std::ios::in | std::ios::out);
    f.seekp(static_cast<std::streamoff>(second + 30));  // inside j2's value
    f.put('#');
  }
  const json r = strata_json("journal verify " + journal_.string(), 1);
  EXPECT_EQ(r["ok"], false);
  EXPECT_EQ(r["records"], 2);  // j1 and j3
  EXPECT_FALSE(r["segments"][0].contains("damaged_tail"));
  const json& bad = r["segments"][0]["damaged"][0];
  EXPECT_EQ(bad["offset"], second);
  EXPECT_EQ(bad["bytes"], second_size);
  EXPECT_NE(bad["reason"].get<std::string>().find("checksum"), std::string::npos) << bad;
  const auto text = strata_run("journal verify " + journal_.string());
  EXPECT_EQ(text.exit_code, 1);
  EXPECT_NE(text.output.find("DAMAGED at offset " + std::to_string(second)), std::string::npos)
      << text.output;

  const json replay = strata_json(
      "journal replay " + journal_.string() + " --sqlite " + db_ + account_flags(table_), 1);
  EXPECT_EQ(replay["records_replayed"], 2);
  ASSERT_EQ(replay["damaged"].size(), 1u);
  EXPECT_EQ(replay["damaged"][0]["offset"], second);
  const fs::path quarantine = replay["damaged"][0]["quarantine"].get<std::string>();
  EXPECT_EQ(fs::file_size(quarantine), second_size);
  SqliteSource<Account> source(SqliteOptions{.path = db_}, account_mapping(table_));
  EXPECT_EQ(source.load("j1"), writes_[0].second);
  EXPECT_EQ(source.load("j2"), std::nullopt);
  EXPECT_EQ(source.load("j3"), writes_[2].second);
  const json after = strata_json("journal verify " + journal_.string());
  EXPECT_EQ(after["ok"], true);
  ASSERT_EQ(after["quarantine"].size(), 1u);
  EXPECT_EQ(after["quarantine"][0], quarantine.filename().string());
}

// Every file of the journal directory: name -> contents.
std::map<std::string, std::string> snapshot(const fs::path& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    std::ifstream in(e.path(), std::ios::binary);
    out[e.path().filename().string()] =
        std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  return out;
}

// The application (this process) owns the directory: `journal verify` and `dead-letters list`
// work beside it and change no byte; `journal replay` and `dead-letters replay|drop` are refused
// with exit status 1 naming this process's pid, and change nothing either.
TEST_F(JournalCommands, BesideALiveOwnerReadersChangeNothingAndWritersAreRefused) {
  SourceFunctions<Account> down;
  down.load = [](std::string_view) -> std::optional<Account> { return std::nullopt; };
  down.write_batch = [](std::span<const KeyValue<Account>>) {
    throw UnavailableError("source down");
  };
  WriteBehind<Account> owner(fast_options(journal_),
                             std::make_shared<FunctionSource<Account>>(std::move(down)));
  const auto before = snapshot(journal_);
  const json r = strata_json("journal verify " + journal_.string());
  EXPECT_EQ(r["ok"], true);
  EXPECT_EQ(r["records"], 3);
  EXPECT_EQ(r["lock_pid"], ::getpid());
  EXPECT_EQ(strata_json("dead-letters list --journal " + journal_.string())["count"], 0);
  const std::string pid = "pid " + std::to_string(::getpid());
  for (const std::string& cmd :
       {"journal replay " + journal_.string(), "dead-letters replay --journal " + journal_.string(),
        "dead-letters drop --journal " + journal_.string()}) {
    const auto refused = strata_run(cmd + " --sqlite " + db_ + account_flags(table_) + " 2>&1");
    EXPECT_EQ(refused.exit_code, 1) << cmd << "\n" << refused.output;
    EXPECT_NE(refused.output.find(pid), std::string::npos) << cmd << "\n" << refused.output;
    EXPECT_NE(refused.output.find("in use by another writer"), std::string::npos) << refused.output;
  }
  EXPECT_EQ(snapshot(journal_), before);
  SqliteSource<Account> source(SqliteOptions{.path = db_}, account_mapping(table_));
  EXPECT_EQ(source.load("j1"), std::nullopt);  // nothing was replayed behind the owner's back
}

TEST_F(JournalCommands, ADamagedCheckpointAndAMissingDirectoryAreReported) {
  {
    std::ofstream out(journal_ / "checkpoint", std::ios::binary | std::ios::trunc);
    out << "garbage";
  }
  const json r = strata_json("journal verify " + journal_.string(), 1);
  EXPECT_EQ(r["checkpoint"]["ok"], false);
  const auto missing = strata_run("journal verify " + (dir_.path() / "nope").string() + " 2>&1");
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.output.find("not a journal directory"), std::string::npos) << missing.output;
}

}  // namespace
}  // namespace strata::testing
