// PostgreSQL stopped for several seconds under write-behind (SERIAL: it stops the shared server).
// Writes keep being acknowledged from the journal during the outage, the flusher retries with
// backoff (counted, never dead-lettered: unavailable is transient), and once the server is back
// everything is flushed and every row reads back with its last value. Transient SQLSTATEs
// (read-only standby, lock timeouts, serialization failures, statement timeouts) are retried the
// same way, while constraint and data errors are still dead-lettered.
#include <gtest/gtest.h>

#include <random>
#include <thread>

#include "source/pg_connection.h"
#include "source/schema.h"
#include "strata/source/postgres_source.h"
#include "support/test_servers.h"
#include "write_behind/crash_ops.h"
#include "write_behind/wb_fixtures.h"

namespace strata {
namespace {

using namespace std::chrono_literals;

struct RestartGuard {
  bool stopped = false;
  ~RestartGuard() {
    if (stopped) strata::testing::control_servers("postgres-start");
  }
};

TEST(WriteBehindPostgresOutage, NothingIsLostAndEverythingFlushesAfterTheServerReturns) {
  STRATA_SERVER_URL(url, "STRATA_TEST_POSTGRES_URL");
  const std::string table = "strata_wb_outage_" + std::to_string(::getpid()) + "_" +
                            std::to_string(std::random_device{}() % 100000);
  auto source = std::make_shared<PostgresSource<std::string>>(
      PostgresOptions{.url = url, .pool_size = 2, .connect_timeout = std::chrono::seconds(2)},
      testing::crash_mapping(table));
  tools::TempDir dir("strata-wb-outage");
  WriteBehindOptions options;
  options.directory = dir.path();
  options.fsync = FsyncPolicy::kInterval(5ms);
  options.flush_interval = 5ms;
  options.batch_size = 100;
  options.initial_backoff = 20ms;
  options.max_backoff = 500ms;
  WriteBehind<std::string, BytesCodec> wb(options, source);
  std::map<std::string, std::string> truth;
  std::size_t acknowledged_during_outage = 0;
  auto write = [&](int from, int to, const std::string& tag) {
    std::vector<KeyValue<std::string>> batch;
    for (int i = from; i < to; ++i) {
      batch.emplace_back("k" + std::to_string(i % 700), tag + std::to_string(i));
      truth[batch.back().first] = batch.back().second;
    }
    wb.put_many(batch);
  };
  write(0, 300, "before");
  wb.flush(30s);

  RestartGuard guard;
  strata::testing::control_servers("postgres-stop");
  guard.stopped = true;
  // Acknowledged from the journal while it is down: each round waits until the flusher has
  // observably failed against the stopped server again (one more retried attempt), so every
  // round's writes are acknowledged while the source is refusing them.
  for (int round = 0; round < 10; ++round) {
    const auto retried = wb.stats().retried;
    write(300 + round * 100, 400 + round * 100, "during");
    acknowledged_during_outage += 100;
    ASSERT_TRUE(testing::eventually([&] { return wb.stats().retried > retried; }))
        << "the flusher did not retry against the stopped server";
  }
  EXPECT_GT(wb.stats().retried, 0u);
  EXPECT_GT(wb.stats().queue_depth, 0u);
  EXPECT_THROW(wb.flush(50ms), TimeoutError);
  strata::testing::control_servers("postgres-start");
  guard.stopped = false;

  write(1300, 1400, "after");
  wb.flush(60s);
  const auto s = wb.stats();
  EXPECT_EQ(s.dead_lettered, 0u);
  EXPECT_EQ(s.queue_depth, 0u);
  EXPECT_EQ(s.acknowledged, 1400u);
  // Row by row: every key holds the last value written to it.
  std::size_t rows_found = 0;
  for (const auto& [key, value] : truth) {
    const auto row = source->load(key);
    if (row == value) ++rows_found;
    EXPECT_EQ(row, value) << key;
  }
  std::cout << "fault postgres-outage: writes acknowledged " << s.acknowledged << " ("
            << acknowledged_during_outage << " while PostgreSQL was down), keys " << truth.size()
            << ", rows holding the last acknowledged value " << rows_found << "; " << s.retried
            << " flush retries, " << s.flushed << " entries flushed, " << s.coalesced
            << " coalesced, " << s.dead_lettered << " dead-lettered\n";
  EXPECT_EQ(rows_found, truth.size());
  wb.close(10s);
  pg::Connection admin(url, std::chrono::seconds(5));
  (void)admin.exec("DROP TABLE IF EXISTS " + source::quote(table));
}

// A table whose writes fail with the SQLSTATE held in a control table (NULL: they succeed), by a
// trigger that raises it: the server answers exactly what a standby, a lock wait or a deadlock
// would answer, and the test decides when the condition ends.
struct FailingTable {
  std::string url;
  std::string table;
  std::string control;
  pg::Connection admin;
  std::shared_ptr<PostgresSource<std::string>> source;

  explicit FailingTable(const std::string& u, const std::string& name)
      : url(u),
        table(name + "_" + std::to_string(::getpid()) + "_" +
              std::to_string(std::random_device{}() % 100000)),
        control(table + "_ctl"),
        admin(u, std::chrono::seconds(5)) {
    source = std::make_shared<PostgresSource<std::string>>(
        PostgresOptions{.url = url, .pool_size = 1, .connect_timeout = std::chrono::seconds(2)},
        testing::crash_mapping(table));
    (void)admin.exec("CREATE TABLE " + source::quote(control) + " (state text)");
    (void)admin.exec("INSERT INTO " + source::quote(control) + " VALUES (NULL)");
    (void)admin.exec("CREATE FUNCTION " + source::quote(table + "_fail") +
                     "() RETURNS trigger LANGUAGE plpgsql AS $$ DECLARE s text; BEGIN "
                     "SELECT state INTO s FROM " +
                     source::quote(control) +
                     "; IF s IS NOT NULL THEN RAISE EXCEPTION 'injected %', s USING ERRCODE = s; "
                     "END IF; RETURN NEW; END $$");
    (void)admin.exec("CREATE TRIGGER " + source::quote(table + "_trg") +
                     " BEFORE INSERT OR UPDATE ON " + source::quote(table) +
                     " FOR EACH ROW EXECUTE FUNCTION " + source::quote(table + "_fail") + "()");
  }
  ~FailingTable() {
    try {
      (void)admin.exec("DROP TABLE IF EXISTS " + source::quote(table));
      (void)admin.exec("DROP TABLE IF EXISTS " + source::quote(control));
      (void)admin.exec("DROP FUNCTION IF EXISTS " + source::quote(table + "_fail") + "()");
    } catch (const std::exception&) {
    }
  }
  void fail_with(const std::string& state) {
    (void)admin.exec("UPDATE " + source::quote(control) +
                     " SET state = " + (state.empty() ? std::string("NULL") : "'" + state + "'"));
  }
};

WriteBehindOptions transient_options(const std::filesystem::path& dir) {
  WriteBehindOptions options;
  options.directory = dir;
  options.flush_interval = 1ms;
  options.max_attempts = 2;  // a permanent error is dead-lettered after 2 attempts
  options.initial_backoff = 1ms;
  options.max_backoff = 20ms;
  return options;
}

// Waits (liveness bound 60 s) until `done` holds.
template <typename F>
bool eventually(F done) {
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

class WriteBehindPostgresTransient : public ::testing::TestWithParam<const char*> {};

TEST_P(WriteBehindPostgresTransient, IsRetriedWithBackoffAndFlushedOnceItEnds) {
  STRATA_SERVER_URL(url, "STRATA_TEST_POSTGRES_URL");
  FailingTable t(url, "strata_wb_transient");
  tools::TempDir dir("strata-wb-transient");
  WriteBehind<std::string, BytesCodec> wb(transient_options(dir.path()), t.source);
  t.fail_with(GetParam());
  wb.put("k", "v1");
  // Far more attempts than max_attempts: a permanent error would have been dead-lettered.
  ASSERT_TRUE(eventually([&] { return wb.stats().retried >= 6; }));
  EXPECT_EQ(wb.stats().dead_lettered, 0u);
  EXPECT_EQ(wb.stats().queue_depth, 1u);
  t.fail_with("");
  wb.flush(60s);
  EXPECT_EQ(wb.stats().dead_lettered, 0u);
  EXPECT_EQ(t.source->load("k"), "v1");
  EXPECT_TRUE(wb.dead_letters().empty());
  wb.close(10s);
}

// 25006 read-only transaction (a standby during a failover), 55P03 lock not available
// (lock_timeout), 55006 object in use, 57014 statement/lock timeout, 40001 serialization
// failure, 40P01 deadlock, 57P03 cannot connect now.
INSTANTIATE_TEST_SUITE_P(States, WriteBehindPostgresTransient,
                         ::testing::Values("25006", "55P03", "55006", "57014", "40001", "40P01"),
                         [](const auto& p) { return std::string(p.param); });

class WriteBehindPostgresPermanent : public ::testing::TestWithParam<const char*> {};

TEST_P(WriteBehindPostgresPermanent, IsDeadLetteredAfterMaxAttempts) {
  STRATA_SERVER_URL(url, "STRATA_TEST_POSTGRES_URL");
  FailingTable t(url, "strata_wb_permanent");
  tools::TempDir dir("strata-wb-permanent");
  WriteBehind<std::string, BytesCodec> wb(transient_options(dir.path()), t.source);
  t.fail_with(GetParam());
  wb.put("k", "v1");
  ASSERT_TRUE(eventually([&] { return wb.stats().dead_lettered == 1; }));
  EXPECT_EQ(wb.stats().retried, 1u);  // max_attempts = 2: one retry, then the dead letter
  const auto letters = wb.dead_letters();
  ASSERT_EQ(letters.size(), 1u);
  EXPECT_NE(letters[0].error.find(GetParam()), std::string::npos) << letters[0].error;
  wb.close(10s);
}

// 23514 check violation, 23505 unique violation, 22P02 invalid text representation,
// 25P02 in failed transaction (class 25 other than 25006 stays permanent).
INSTANTIATE_TEST_SUITE_P(States, WriteBehindPostgresPermanent,
                         ::testing::Values("23514", "23505", "22P02", "25P02"),
                         [](const auto& p) { return std::string(p.param); });

// The genuine articles: a session holding a lock while the writer runs with lock_timeout, and a
// writer whose sessions are read-only (default_transaction_read_only, as on a hot standby).
std::string with_options(const std::string& url, const std::string& options) {
  return url + (url.find('?') == std::string::npos ? "?" : "&") + "options=" + options;
}

TEST(WriteBehindPostgresTransientReal, ALockTimeoutIsRetriedUntilTheLockIsReleased) {
  STRATA_SERVER_URL(url, "STRATA_TEST_POSTGRES_URL");
  FailingTable t(url, "strata_wb_lock");
  auto source = std::make_shared<PostgresSource<std::string>>(
      PostgresOptions{.url = with_options(url, "-c%20lock_timeout%3D50"), .pool_size = 1},
      testing::crash_mapping(t.table));
  tools::TempDir dir("strata-wb-lock");
  WriteBehind<std::string, BytesCodec> wb(transient_options(dir.path()), source);
  pg::Connection holder(url, std::chrono::seconds(5));
  (void)holder.exec("BEGIN");
  (void)holder.exec("LOCK TABLE " + source::quote(t.table) + " IN ACCESS EXCLUSIVE MODE");
  wb.put("k", "v1");
  ASSERT_TRUE(eventually([&] { return wb.stats().retried >= 4; }));
  EXPECT_EQ(wb.stats().dead_lettered, 0u);
  (void)holder.exec("COMMIT");
  wb.flush(60s);
  EXPECT_EQ(wb.stats().dead_lettered, 0u);
  EXPECT_EQ(source->load("k"), "v1");
  wb.close(10s);
}

TEST(WriteBehindPostgresTransientReal, AReadOnlySessionIsUnavailableNotInvalid) {
  STRATA_SERVER_URL(url, "STRATA_TEST_POSTGRES_URL");
  FailingTable t(url, "strata_wb_ro");
  PostgresSource<std::string> read_only(
      PostgresOptions{.url = with_options(url, "-c%20default_transaction_read_only%3Don"),
                      .pool_size = 1},
      TableMapping<std::string>::document<BytesCodec>(t.table, {}));  // no CREATE TABLE
  try {
    read_only.write("k", "v");
    FAIL() << "a read-only session accepted a write";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnavailable) << e.what();
    EXPECT_NE(std::string(e.what()).find("25006"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace strata
