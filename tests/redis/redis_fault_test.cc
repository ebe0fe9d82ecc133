// Faults on private servers (never the shared ones): a server stopped mid-test and brought
// back on the same port, a server that stops answering (timeouts), a client shared by many
// threads on a tiny pool.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "redis/redis_test_util.h"
#include "strata/error.h"
#include "strata/redis/redis_client.h"
#include "strata/redis/redis_subscriber.h"
#include "support/redis_process.h"

namespace strata {
namespace {

using namespace std::chrono_literals;
using testing::eventually;

bool is_unavailable_or_timeout(const Error& e) {
  return e.code() == ErrorCode::kUnavailable || e.code() == ErrorCode::kTimeout;
}

TEST(RedisFaults, StoppedServerGivesTypedErrorsThenPoolAndSubscriberRecover) {
  testing::RedisProcess server;
  const std::string options = "?connect_timeout=500ms&command_timeout=500ms&pool_size=2&retries=1";
  RedisClient redis(server.url() + options);
  ASSERT_TRUE(redis.set("k", "v"));

  std::mutex mutex;
  std::vector<std::string> losses;
  std::vector<std::int64_t> connections;
  std::vector<std::string> received;
  SubscriberOptions subscriber_options;
  subscriber_options.keepalive_interval = 500ms;
  subscriber_options.on_connected = [&](std::int64_t id) {
    std::lock_guard lock(mutex);
    connections.push_back(id);
  };
  subscriber_options.on_connection_lost = [&](std::string_view reason) {
    std::lock_guard lock(mutex);
    losses.emplace_back(reason);
  };
  RedisSubscriber subscriber(server.url() + options, subscriber_options);
  ASSERT_TRUE(subscriber.subscribe("events", [&](std::string_view, std::string_view message) {
    std::lock_guard lock(mutex);
    received.emplace_back(message);
  }));

  server.stop();
  for (int i = 0; i < 3; ++i) {  // each call fails with a typed error, promptly
    const auto start = std::chrono::steady_clock::now();
    try {
      (void)redis.get("k");
      FAIL() << "expected an error from a stopped server";
    } catch (const Error& e) {
      EXPECT_TRUE(is_unavailable_or_timeout(e)) << e.what();
    }
    EXPECT_LT(std::chrono::steady_clock::now() - start, 10s) << "must not hang";
  }
  ASSERT_TRUE(eventually(10s, [&] {
    std::lock_guard lock(mutex);
    return !losses.empty();
  })) << "the subscriber reports the lost connection";
  EXPECT_FALSE(subscriber.connected());
  EXPECT_EQ(subscriber.client_id(), -1);

  server.start();  // same port, empty data
  ASSERT_TRUE(eventually(15s, [&] {
    try {
      return redis.set("k2", "back") && redis.get("k2") == "back";
    } catch (const Error& e) {
      EXPECT_TRUE(is_unavailable_or_timeout(e)) << e.what();
      return false;
    }
  })) << "the pool reconnects";
  ASSERT_TRUE(subscriber.wait_connected(15s)) << "the subscriber reconnects";
  ASSERT_TRUE(eventually(15s, [&] {
    (void)redis.publish("events", "after restart");
    std::lock_guard lock(mutex);
    return !received.empty();
  })) << "and resubscribes";
  std::lock_guard lock(mutex);
  EXPECT_EQ(received.front(), "after restart");
  EXPECT_GE(connections.size(), 2u);
  EXPECT_GE(subscriber.connection_losses(), 1u);
  EXPECT_GT(subscriber.client_id(), 0);
}

TEST(RedisFaults, SilentServerTimesOutAndTheConnectionIsReplaced) {
  testing::RedisProcess server;
  RedisClient redis(server.url() + "?command_timeout=300ms&pool_size=1");
  RedisClient admin(server.url());
  ASSERT_TRUE(redis.set("k", "v"));
  (void)admin.command({"CLIENT", "PAUSE", "1500", "ALL"});
  EXPECT_THROW((void)redis.get("k"), TimeoutError);
  // After the pause, the timed-out connection (with a reply still in flight) must not be
  // reused: the next call gets a fresh connection and the right reply.
  ASSERT_TRUE(eventually(10s, [&] {
    try {
      return redis.set("k3", "x") && redis.get("k") == "v" && redis.get("k3") == "x";
    } catch (const TimeoutError&) {
      return false;
    }
  }));
}

TEST(RedisFaults, TinyPoolSharedByManyThreads) {
  testing::RedisProcess server;
  RedisClient redis(server.url() + "?pool_size=1");
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        try {
          const std::string k = "t" + std::to_string(t);
          redis.set(k, std::to_string(i));
          if (redis.get(k) != std::to_string(i)) ++errors;
        } catch (const Error&) {
          ++errors;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(errors.load(), 0);
}

TEST(RedisFaults, UnreachableServerFailsFast) {
  const auto port = testing::free_port();  // nobody listens there
  RedisClient redis("redis://127.0.0.1:" + std::to_string(port) + "?connect_timeout=300ms");
  EXPECT_THROW((void)redis.get("k"), UnavailableError);
  RedisSubscriber subscriber("redis://127.0.0.1:" + std::to_string(port));
  EXPECT_FALSE(subscriber.subscribe("c", [](std::string_view, std::string_view) {}));
  EXPECT_FALSE(subscriber.connected());
}

}  // namespace
}  // namespace strata
