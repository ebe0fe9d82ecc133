// The multiplexed transport (src/redis/multiplexer.h) against real servers: many threads on one
// connection each get their own replies, in plaintext and over TLS; a connection killed with
// many calls waiting fails each of them with a typed error and is replaced; a server that stops
// answering fails every waiter with TimeoutError; blocking commands keep connections of their
// own. Private servers (tests/support/redis_process.h), except the TLS server of `make test`.
// Labelled `concurrency`: `make test` also runs it under ThreadSanitizer.
#include "redis/multiplexer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "redis/node_pool.h"
#include "redis/redis_test_util.h"
#include "strata/error.h"
#include "strata/redis/redis_client.h"
#include "support/redis_process.h"
#include "support/test_servers.h"

namespace strata {
namespace {

using namespace std::chrono_literals;
using redis::Argv;
using redis::NodePool;
using testing::eventually;

std::shared_ptr<const redis::ConnectOptions> options(std::chrono::milliseconds timeout = 2000ms,
                                                     bool multiplex = true) {
  auto o = std::make_shared<redis::ConnectOptions>();
  o->command_timeout = timeout;
  o->multiplex = multiplex;
  return o;
}

RedisEndpoint endpoint(const testing::RedisProcess& server) {
  return RedisEndpoint{"127.0.0.1", server.port()};
}

// A field of INFO's text ("total_connections_received:12").
long long info_field(const testing::RedisProcess& server, const std::string& field) {
  const std::string info = server.cli("INFO stats");
  const auto at = info.find(field + ":");
  if (at == std::string::npos) return -1;
  return std::stoll(info.substr(at + field.size() + 1));
}

TEST(Multiplexer, WhichCommandsShareTheConnection) {
  using V = std::vector<std::string_view>;
  for (const V& shared : {V{"GET", "k"}, V{"set", "k", "v"}, V{"MGET", "a", "b"}, V{"EVALSHA", "x"},
                          V{"XREAD", "COUNT", "1", "STREAMS", "block", "0"}, V{"PING"},
                          V{"client", "id"}, V{"CLIENT", "KILL", "ID", "7"}}) {
    EXPECT_TRUE(redis::may_multiplex(shared)) << shared[0];
  }
  for (const V& own : {V{"BLPOP", "k", "1"}, V{"multi"}, V{"EXEC"}, V{"WATCH", "k"},
                       V{"SELECT", "1"}, V{"CLIENT", "TRACKING", "on"}, V{"CLIENT", "REPLY", "OFF"},
                       V{"CLIENT", "SETNAME", "n"}, V{"CLIENT"}, V{"SUBSCRIBE", "c"},
                       V{"WAIT", "1", "0"}, V{"XREAD", "BLOCK", "0", "STREAMS", "s", "$"}, V{}}) {
    EXPECT_FALSE(redis::may_multiplex(own)) << (own.empty() ? "(empty)" : own[0]);
  }
}

TEST(Multiplexer, ManyThreadsShareOneConnectionAndEachGetsItsOwnReplies) {
  testing::RedisProcess server;
  NodePool pool(endpoint(server), options(), 4);
  const long long before = info_field(server, "total_connections_received");
  constexpr int kThreads = 16;
  constexpr int kRounds = 300;
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRounds; ++i) {
        const std::string key = "k" + std::to_string(t);
        const std::string value = std::to_string(t) + ":" + std::to_string(i);
        const std::vector<std::string_view> get{"GET", key};
        const std::vector<std::string_view> echo{"ECHO", value};
        // One command, and a group of two whose replies must come back together and in order.
        if (pool.command(std::vector<std::string_view>{"SET", key, value}).str != "OK") ++wrong;
        const Argv group[] = {get, echo};
        auto replies = pool.send(group).replies();
        if (replies.size() != 2 || replies[0].str != value || replies[1].str != value) ++wrong;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(wrong.load(), 0);
  // One connection carried all of it (the INFO of redis-cli is the other one counted).
  EXPECT_EQ(info_field(server, "total_connections_received") - before, 2);
  EXPECT_EQ(pool.multiplexed_in_flight(), 0u);
}

TEST(Multiplexer, WithMultiplexingOffEveryCallerBorrowsAConnection) {
  testing::RedisProcess server;
  NodePool pool(endpoint(server), options(2000ms, /*multiplex=*/false), 4);
  const long long before = info_field(server, "total_connections_received");
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) (void)pool.command(std::vector<std::string_view>{"PING"});
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_GT(info_field(server, "total_connections_received") - before, 2);  // the pool's, up to 4
  EXPECT_EQ(pool.multiplexed_in_flight(), 0u);
}

// CLIENT PAUSE WRITE holds every SET unanswered (reads and CLIENT KILL still run), so all the
// threads' calls are queued on the one connection when it is killed.
TEST(Multiplexer, AConnectionKilledWithManyWaitersFailsEachWithATypedErrorAndIsReplaced) {
  testing::RedisProcess server;
  NodePool pool(endpoint(server), options(10000ms), 4);
  ASSERT_EQ(pool.command(std::vector<std::string_view>{"PING"}).str, "PONG");
  ASSERT_EQ(server.cli("CLIENT PAUSE 20000 WRITE"), "OK");
  constexpr int kThreads = 16;
  std::atomic<int> unavailable{0}, other{0}, answered{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string key = "paused" + std::to_string(t);
      try {
        (void)pool.command(std::vector<std::string_view>{"SET", key, "v"});
        ++answered;
      } catch (const UnavailableError&) {
        ++unavailable;
      } catch (...) {
        ++other;
      }
    });
  }
  ASSERT_TRUE(eventually([&] { return pool.multiplexed_in_flight() == kThreads; }));
  std::this_thread::sleep_for(100ms);  // the commands reach the server (they wait there)
  // The kill comes from redis-cli: the pool's own CLIENT would borrow one of its connections.
  EXPECT_EQ(server.cli("CLIENT KILL TYPE normal SKIPME yes"), "1");  // the shared connection
  for (auto& thread : threads) thread.join();
  (void)server.cli("CLIENT UNPAUSE");
  EXPECT_EQ(unavailable.load(), kThreads);
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(answered.load(), 0);
  // The broken connection is replaced: the next calls are answered.
  pool.on_io_error();
  EXPECT_EQ(pool.command(std::vector<std::string_view>{"SET", "after", "v"}).str, "OK");
  EXPECT_EQ(pool.command(std::vector<std::string_view>{"GET", "after"}).str, "v");
}

TEST(Multiplexer, AServerThatStopsAnsweringFailsEveryWaiterWithTimeoutError) {
  testing::RedisProcess server;
  NodePool pool(endpoint(server), options(300ms), 4);
  ASSERT_EQ(pool.command(std::vector<std::string_view>{"PING"}).str, "PONG");
  ASSERT_EQ(server.cli("CLIENT PAUSE 20000 WRITE"), "OK");
  constexpr int kThreads = 8;
  std::atomic<int> timeouts{0}, other{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      try {
        (void)pool.command(std::vector<std::string_view>{"SET", "k", "v"});
      } catch (const TimeoutError&) {
        ++timeouts;
      } catch (...) {
        ++other;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  (void)server.cli("CLIENT UNPAUSE");
  EXPECT_EQ(timeouts.load(), kThreads);
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(pool.command(std::vector<std::string_view>{"GET", "k"}).type, RedisReply::Type::kNil);
}

TEST(Multiplexer, ABlockingCommandTakesAConnectionOfItsOwn) {
  testing::RedisProcess server;
  RedisClient client(server.url() + "?command_timeout=10s");
  std::atomic<bool> popped{false};
  std::atomic<bool> nil{false};
  std::thread blocker([&] {
    try {
      nil = client.command({"BLPOP", "empty-list", "2"}).is_nil();  // nil after 2 s
    } catch (const Error&) {
    }
    popped = true;
  });
  ASSERT_TRUE(eventually(
      [&] { return server.cli("INFO clients").find("blocked_clients:1") != std::string::npos; }));
  // Served while the BLPOP still blocks its own connection.
  for (int i = 0; i < 50; ++i) {
    EXPECT_TRUE(client.set("k" + std::to_string(i), "v"));
    EXPECT_EQ(client.get("k" + std::to_string(i)), "v");
  }
  EXPECT_FALSE(popped.load());
  blocker.join();
  EXPECT_TRUE(nil.load());
}

TEST(Multiplexer, ThreadsOverTlsEachGetTheirOwnReplies) {
  STRATA_SERVER_URL(url, "STRATA_TEST_REDIS_TLS_URL");
  RedisClient client(url);
  const std::string prefix = testing::unique_prefix();
  constexpr int kThreads = 8;
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string key = prefix + std::to_string(t);
      for (int i = 0; i < 200; ++i) {
        const std::string value(static_cast<std::size_t>(i * 37 % 5000),
                                static_cast<char>('a' + t));
        if (!client.set(key, value) || client.get(key) != value) ++wrong;
      }
      (void)client.del(key);
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(wrong.load(), 0);
}

}  // namespace
}  // namespace strata
