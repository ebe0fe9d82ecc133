// strata/redis/redis_client.h: RedisClient, strata's client for a Redis server or a Redis Cluster.
// Use it for everything but subscriptions (RedisSubscriber): strings, hashes, sorted sets,
// counters, TTLs, scripts, pipelines, SCAN; the URL scheme picks standalone or cluster.
//
//   strata::RedisClient redis("redis://127.0.0.1:6379?command_timeout=50ms");
//   redis.set("user:1", "{...}", {.ttl = std::chrono::minutes(5)});
//   std::optional<std::string> v = redis.get("user:1");  // nullopt on a miss
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "strata/redis/redis_reply.h"
#include "strata/redis/redis_script.h"
#include "strata/redis/redis_url.h"
#include "strata/redis/remote_tier.h"

namespace strata {

namespace redis {
class CommandRouter;  // src/redis/command_router.h
}  // namespace redis

// A member of a sorted set with its score.
using ScoredMember = std::pair<std::string, double>;
// A score and a member, as views, for zadd.
using ScoreMemberView = std::pair<double, std::string_view>;

// A batch of commands sent together (pipelined) and answered in order. Get one from
// RedisClient::pipeline(). In a cluster the commands are grouped per node (each command is
// routed by its key, see RedisClient::command()) and the replies put back in request order.
// Not thread-safe: one thread builds and executes a pipeline.
//
//   auto p = redis.pipeline();
//   p.add({"SET", "a", "1"}).add({"INCR", "a"});
//   std::vector<strata::RedisReply> replies = p.execute();  // [OK, 2]
class Pipeline {
 public:
  // Appends one command (its arguments are copied).
  Pipeline& add(std::span<const std::string_view> args);
  // Appends one command: add({"HSET", key, field, value}).
  Pipeline& add(std::initializer_list<std::string_view> args);
  // The number of commands appended and not yet executed.
  [[nodiscard]] std::size_t size() const noexcept { return command_ends_.size(); }
  [[nodiscard]] bool empty() const noexcept { return command_ends_.empty(); }
  // Sends every command, returns one reply per command in order, and empties the pipeline.
  // An error reply is returned as a RedisReply of type kError (the other commands still ran);
  // an unreachable server or a timeout throws (some commands may have run).
  [[nodiscard]] std::vector<RedisReply> execute();

 private:
  friend class RedisClient;
  explicit Pipeline(std::shared_ptr<redis::CommandRouter> router);

  std::shared_ptr<redis::CommandRouter> router_;
  std::string bytes_;                      // every argument, back to back
  std::vector<std::size_t> arg_ends_;      // end offset of each argument in bytes_
  std::vector<std::size_t> command_ends_;  // end index of each command in arg_ends_
};

// A client for one Redis deployment: `redis://` (one server) or `redis+cluster://` (seeds of a
// Redis Cluster). Thread-safe: many threads share one client; each call borrows a pooled
// connection to the node that owns the key (pool_size connections per node, from the URL).
// Copies share the same pools. Construction does no I/O: the first call connects.
//
// Errors (all strata::Error): UnavailableError (cannot connect, connection lost),
// TimeoutError (no answer within command_timeout; never retried, since the command may have
// run), ReplyError (the server answered an error, e.g. WRONGTYPE, NOAUTH), ProtocolError,
// InvalidArgumentError (e.g. keys of one script in different cluster slots),
// ResourceExhaustedError (every pooled connection busy for command_timeout). A connection that
// saw any I/O error is closed, never reused. Failed connects/connection losses are retried up
// to `retries` times with a short backoff; MOVED, ASK, TRYAGAIN and CLUSTERDOWN are handled
// inside.
class RedisClient {
 public:
  // Redis answers -2 from TTL/PTTL for a missing key, -1 for a key without expiry.
  static constexpr long long kNoKey = -2;
  static constexpr long long kNoExpiry = -1;

  // From a parsed URL.
  explicit RedisClient(const RedisUrl& url);
  // Parses the URL (throws InvalidArgumentError naming what is wrong, never the password).
  explicit RedisClient(std::string_view url);

  // True for a redis+cluster:// client.
  [[nodiscard]] bool is_cluster() const noexcept;
  // The URL with the password redacted: safe to log.
  [[nodiscard]] std::string description() const;

  // PING every known node (the server, or each master of the cluster); throws when one fails.
  void ping();

  // --- strings ---------------------------------------------------------------------------
  // GET key: the value, or nullopt when the key does not exist. Binary-safe.
  [[nodiscard]] std::optional<std::string> get(std::string_view key);
  // SET key value [EX|PX ttl] [NX|XX]. Returns true when stored, false when NX/XX refused.
  //   redis.set("lock:{7}", "me", {.ttl = 30s, .condition = SetOptions::Condition::kIfAbsent});
  bool set(std::string_view key, std::string_view value, const SetOptions& options = {});
  // MGET: the values in request order (nullopt for misses). In a cluster the keys are split
  // per slot and per node, sent pipelined, and reassembled in request order.
  [[nodiscard]] std::vector<std::optional<std::string>> mget(
      std::span<const std::string_view> keys);
  [[nodiscard]] std::vector<std::optional<std::string>> mget(std::span<const std::string> keys);
  [[nodiscard]] std::vector<std::optional<std::string>> mget(
      std::initializer_list<std::string_view> keys);
  // MSET: stores every pair (split per slot in a cluster; atomic only within one slot).
  void mset(std::span<const KeyValueView> items);
  void mset(std::initializer_list<KeyValueView> items);
  // SET k v PX ttl for every pair, pipelined (ttl zero: no expiry). Throws ReplyError if any
  // SET was refused by the server (the others are stored).
  void set_many(std::span<const KeyValueView> items, std::chrono::milliseconds ttl);
  // INCRBY / DECRBY: the new value.
  long long incrby(std::string_view key, long long delta);
  long long decrby(std::string_view key, long long delta);

  // --- keys ------------------------------------------------------------------------------
  // DEL: how many of the keys existed (split per slot in a cluster).
  long long del(std::string_view key);
  long long del(std::span<const std::string_view> keys);
  long long del(std::span<const std::string> keys);
  long long del(std::initializer_list<std::string_view> keys);
  // EXISTS: how many of the keys exist (a key named twice counts twice, as in Redis).
  [[nodiscard]] bool exists(std::string_view key);
  [[nodiscard]] long long exists(std::span<const std::string_view> keys);
  [[nodiscard]] long long exists(std::initializer_list<std::string_view> keys);
  // EXPIRE / PEXPIRE: true when the key exists and got the timeout.
  bool expire(std::string_view key, std::chrono::seconds ttl);
  bool pexpire(std::string_view key, std::chrono::milliseconds ttl);
  // TTL / PTTL: the time left, or kNoExpiry (-1) / kNoKey (-2) as Redis answers.
  [[nodiscard]] std::chrono::seconds ttl(std::string_view key);
  [[nodiscard]] std::chrono::milliseconds pttl(std::string_view key);
  // SCAN MATCH pattern COUNT count over the server, or over every master of a cluster; calls
  // on_key for each key found. As in Redis, a key may be reported more than once, and keys
  // added or removed during the scan may or may not be reported.
  void scan(std::string_view pattern, const std::function<void(std::string_view)>& on_key,
            std::size_t count = 100);
  // The same, collected, sorted and without duplicates.
  [[nodiscard]] std::vector<std::string> scan(std::string_view pattern, std::size_t count = 100);

  // --- hashes ----------------------------------------------------------------------------
  // HGET: the field's value, or nullopt.
  [[nodiscard]] std::optional<std::string> hget(std::string_view key, std::string_view field);
  // HSET one field: true when the field is new.
  bool hset(std::string_view key, std::string_view field, std::string_view value);
  // HSET many fields (what HMSET did): how many fields are new.
  long long hset(std::string_view key, std::span<const KeyValueView> fields);
  long long hset(std::string_view key, std::initializer_list<KeyValueView> fields);
  // HGETALL: the (field, value) pairs, in the server's order; empty for a missing key.
  [[nodiscard]] std::vector<std::pair<std::string, std::string>> hgetall(std::string_view key);
  // HDEL: how many fields were removed.
  long long hdel(std::string_view key, std::span<const std::string_view> fields);
  long long hdel(std::string_view key, std::initializer_list<std::string_view> fields);

  // --- sorted sets -----------------------------------------------------------------------
  // ZADD one member: true when it is new (an existing member gets the new score).
  bool zadd(std::string_view key, double score, std::string_view member);
  // ZADD many: how many members are new.
  long long zadd(std::string_view key, std::span<const ScoreMemberView> members);
  long long zadd(std::string_view key, std::initializer_list<ScoreMemberView> members);
  // ZRANGE / ZREVRANGE start stop (inclusive ranks, negative from the end).
  [[nodiscard]] std::vector<std::string> zrange(std::string_view key, long long start,
                                                long long stop);
  [[nodiscard]] std::vector<std::string> zrevrange(std::string_view key, long long start,
                                                   long long stop);
  // The same WITHSCORES.
  [[nodiscard]] std::vector<ScoredMember> zrange_with_scores(std::string_view key, long long start,
                                                             long long stop);
  [[nodiscard]] std::vector<ScoredMember> zrevrange_with_scores(std::string_view key,
                                                                long long start, long long stop);

  // --- pub/sub, scripts, anything else ---------------------------------------------------
  // PUBLISH: the number of clients that received the message (in a cluster, those of the
  // node that took the command; the message still reaches subscribers on every node).
  long long publish(std::string_view channel, std::string_view message);
  // Runs a script: EVALSHA, and EVAL when the server answers NOSCRIPT. In a cluster it runs
  // on the node of its keys, which must all share one slot (else InvalidArgumentError); a
  // script without keys runs on any node. Throws ReplyError when the script fails.
  RedisReply eval(const RedisScript& script, std::span<const std::string_view> keys,
                  std::span<const std::string_view> args);
  RedisReply eval(const RedisScript& script, std::initializer_list<std::string_view> keys,
                  std::initializer_list<std::string_view> args);
  // Any command, binary-safe: command({"HINCRBY", key, "n", "1"}). Throws ReplyError when
  // the server answers an error (errors nested in an array stay values). In a cluster the
  // command is routed by its key: the second argument, or the first key of EVAL/EVALSHA;
  // commands without a key (PING, INFO, PUBLISH, ...) go to any node.
  RedisReply command(std::span<const std::string_view> args);
  RedisReply command(std::initializer_list<std::string_view> args);
  // A new, empty pipeline on this client's connections.
  [[nodiscard]] Pipeline pipeline() const;

 private:
  friend class RedisTracking;  // installs its connection setup hook on the router
  std::shared_ptr<redis::CommandRouter> router_;
};

static_assert(RemoteTier<RedisClient>);

}  // namespace strata
