// A PostgreSQL restart in the middle of a source's life (SERIAL: it stops the shared server).
// During the outage calls fail with UnavailableError; once the server is back the same source
// object works again, without being recreated.
#include <gtest/gtest.h>

#include "source/source_fixtures.h"
#include "support/test_servers.h"

namespace strata {
namespace {

using testing::User;

// Brings the server back even when an assertion fails midway.
struct RestartGuard {
  bool stopped = false;
  ~RestartGuard() {
    if (stopped) strata::testing::control_servers("postgres-start");
  }
};

TEST(PostgresRestart, CallsFailTypedDuringTheOutageAndSucceedAfterIt) {
  STRATA_SERVER_URL(url, "STRATA_TEST_POSTGRES_URL");
  PostgresSource<User> source(
      {.url = url, .pool_size = 3, .connect_timeout = std::chrono::seconds(2)},
      testing::user_columns(testing::unique_name("strata_restart")));
  source.write("before", User{"b", {}, 1, 0, {}});
  // Open several pooled connections so that more than one is stale after the restart.
  {
    auto t1 = source.begin();
    auto t2 = source.begin();
    t1.commit();
    t2.commit();
  }
  ASSERT_TRUE(source.load("before"));

  RestartGuard guard;
  strata::testing::control_servers("postgres-stop");
  guard.stopped = true;
  EXPECT_THROW((void)source.load("before"), UnavailableError);
  EXPECT_THROW(source.write("during", User{}), UnavailableError);
  const std::vector<std::string> keys{"before"};
  EXPECT_THROW((void)source.load_many(keys), UnavailableError);
  EXPECT_THROW((void)source.begin(), UnavailableError);

  strata::testing::control_servers("postgres-start");
  guard.stopped = false;
  const auto after = source.load("before");  // first call after the restart: no error
  ASSERT_TRUE(after);
  EXPECT_EQ(after->name, "b");
  source.write("after", User{"a", {}, 2, 0, {}});
  EXPECT_EQ(source.load("after")->version, 2);
  auto txn = source.begin();
  txn.write("txn", User{"t", {}, 3, 0, {}});
  txn.commit();
  EXPECT_EQ(source.load("txn")->version, 3);
}

// A restart while connections sit idle in the pool: the first write after it succeeds (the
// stale connection is discarded and the call retried once on a fresh one).
TEST(PostgresRestart, StaleIdleConnectionsAreDiscardedTransparently) {
  STRATA_SERVER_URL(url, "STRATA_TEST_POSTGRES_URL");
  PostgresSource<User> source({.url = url, .pool_size = 2},
                              testing::user_columns(testing::unique_name("strata_restart")));
  source.write("k", User{"v1", {}, 1, 0, {}});
  RestartGuard guard;
  strata::testing::control_servers("postgres-stop");
  guard.stopped = true;
  strata::testing::control_servers("postgres-start");
  guard.stopped = false;
  const std::vector<KeyValue<User>> batch{{"k", User{"v2", {}, 2, 0, {}}}};
  EXPECT_NO_THROW(source.write_batch(batch));
  EXPECT_EQ(source.load("k")->name, "v2");
}

}  // namespace
}  // namespace strata
