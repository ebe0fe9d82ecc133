// PostgreSQL stopped for several seconds under write-behind (SERIAL: it stops the shared server).
// Writes keep being acknowledged from the journal during the outage, the flusher retries with
// backoff (counted, never dead-lettered: unavailable is transient), and once the server is back
// everything is flushed and every row reads back with its last value.
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

}  // namespace
}  // namespace strata
