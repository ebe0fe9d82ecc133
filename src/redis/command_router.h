// command_router.h: runs commands on the right node, for a standalone server and for a Redis
// Cluster alike. RedisClient and Pipeline are thin layers over it.
//
// Standalone: one NodePool; every command goes there.
//
// Cluster: a slot map (16384 slots -> master NodePool) loaded from CLUSTER SLOTS on first use,
// and refreshed after connection errors and CLUSTERDOWN (at most once per kRefreshInterval,
// whoever comes first does it, the others reuse its result). Replies that redirect are
// handled here and never reach the caller:
//   MOVED slot host:port  the slot moved for good: patch the map, retry on the new owner;
//   ASK slot host:port    the slot is migrating: send ASKING + the command to host:port once,
//                         without touching the map;
//   TRYAGAIN, CLUSTERDOWN a multi-key command during a migration, or a cluster without quorum:
//                         retry after a backoff (10 ms doubling, up to 200 ms).
// At most kMaxRedirects redirections per command, then UnavailableError.
//
// Failures: a connection error (UnavailableError) discards the connection and the node's idle
// ones, refreshes the slot map (cluster), and retries on a fresh connection up to `retries`
// times (at-least-once: a command whose reply was lost may run twice). A TimeoutError is never
// retried: the command may have run, and the caller must not wait longer than the timeout.
//
// Sentinel (redis+sentinel://): one current master NodePool, found through the sentinels
// (sentinel.h) on first use. The router follows a failover three ways: a RedisSubscriber on
// the sentinels (started on first use too) hears "+switch-master" and switches at once; a READONLY
// reply (the node was demoted) or a connection error makes it ask the sentinels again (at most once
// per kRefreshInterval); and every pooled connection checks ROLE when it opens, so none is made to
// a replica. On a switch the old master's idle connections are dropped. What is retried:
//   - a command refused with READONLY (it did not run) or whose connection could not be
//     borrowed (it was never sent): always, on the new master, up to `retries` times;
//   - a command whose connection failed after it was sent: only if it is a read (GET, MGET,
//     EXISTS, TTL, SCAN, ...: is_read_only()); a write fails with UnavailableError saying it
//     may or may not have run, and is never re-run silently.
//
// Node pools are created on demand per "host:port" and live as long as the router, so raw
// NodePool pointers stay valid.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "redis/node_pool.h"
#include "strata/redis/redis_reply.h"
#include "strata/redis/redis_subscriber.h"
#include "strata/redis/redis_url.h"

namespace strata::redis {

// One command of a batch, and the slot that routes it (kAnySlot: any node).
struct RoutedCommand {
  std::span<const std::string_view> argv;
  int slot;
};

inline constexpr int kAnySlot = -1;

// True for commands that only read (GET, MGET, EXISTS, TTL, SCAN, PING, ...): safe to re-run
// when the connection failed after they were sent.
[[nodiscard]] bool is_read_only(std::span<const std::string_view> argv) noexcept;

class SentinelDiscovery;

class CommandRouter {
 public:
  static constexpr int kMaxRedirects = 16;
  static constexpr std::chrono::milliseconds kRefreshInterval{100};

  explicit CommandRouter(RedisUrl url);
  CommandRouter(const CommandRouter&) = delete;
  CommandRouter& operator=(const CommandRouter&) = delete;
  ~CommandRouter();

  [[nodiscard]] bool cluster() const noexcept { return url_.cluster; }
  [[nodiscard]] bool sentinel() const noexcept { return url_.sentinel; }
  [[nodiscard]] const RedisUrl& url() const noexcept { return url_; }

  // The slot of a key in a cluster; kAnySlot for a standalone server (no routing needed).
  [[nodiscard]] int slot_of(std::string_view key) const noexcept;
  // The slot that routes a generic command (see RedisClient::command()).
  [[nodiscard]] int slot_of_command(std::span<const std::string_view> argv) const;

  // Runs one command; returns its reply (error replies other than redirections as values).
  [[nodiscard]] RedisReply run(std::span<const std::string_view> argv, int slot);
  // Runs commands pipelined, one pipeline per node (all nodes written before any is read);
  // replies in request order. Commands redirected or hit by a connection error are re-run
  // one by one through run().
  [[nodiscard]] std::vector<RedisReply> run_batch(std::span<const RoutedCommand> commands);
  // Runs one command on a given node, with retries on connection errors, no redirections.
  [[nodiscard]] RedisReply run_on(NodePool& node, std::span<const std::string_view> argv);
  // The masters: the server itself when standalone.
  [[nodiscard]] std::vector<NodePool*> masters();
  // Installs the setup step every connection of every node (known now or later) runs before
  // use (connection_hook.h). One hook per router: throws InvalidArgumentError when another is
  // installed. nullptr removes it (pass the installed one to clear_connection_hook instead).
  void set_connection_hook(std::shared_ptr<ConnectionHook> hook);
  // Removes `hook` if it is the installed one; idle connections are dropped.
  void clear_connection_hook(const ConnectionHook* hook) noexcept;
  // Sentinel: true when `node` was the master and a failover replaced it (its users, e.g. the
  // tracking connections, should leave it). Always false for a standalone server or a cluster.
  [[nodiscard]] bool retired(const NodePool& node) const noexcept;

 private:
  struct Redirect;
  NodePool* node_for_slot(int slot);
  NodePool* pool_for(const RedisEndpoint& endpoint);
  // Reloads the slot map from CLUSTER SLOTS (asking the known masters, then the seeds) unless
  // it was reloaded less than kRefreshInterval ago. Throws UnavailableError only when no map
  // could ever be loaded; otherwise a failed refresh keeps the old map.
  void refresh_slots();
  void patch_slot(int slot, NodePool* node);
  [[nodiscard]] RedisReply run_standalone(std::span<const std::string_view> argv);
  [[nodiscard]] RedisReply run_sentinel(std::span<const std::string_view> argv);
  [[nodiscard]] std::vector<RedisReply> run_batch_sentinel(std::span<const RoutedCommand> commands);
  // Sentinel: the current master's pool (asking the sentinels first if none is known yet).
  NodePool* master();
  // Sentinel: asks the sentinels again after `suspect` failed (unless another thread already
  // moved away from it, or asked less than kRefreshInterval ago). Throws when none answers.
  void rediscover(NodePool* suspect);
  void switch_master(NodePool* next);
  // Sentinel: starts the +switch-master subscription (discover_mutex_ held).
  void watch_switches();
  void backoff(int attempt) const;

  const RedisUrl url_;
  const std::shared_ptr<const ConnectOptions> options_;

  std::mutex nodes_mutex_;
  std::map<std::string, std::unique_ptr<NodePool>> nodes_;  // by address; never erased
  NodePool* standalone_ = nullptr;                          // set once in the constructor
  std::shared_ptr<ConnectionHook> hook_;                    // nodes_mutex_

  mutable std::shared_mutex slots_mutex_;
  std::vector<NodePool*> slot_owner_;  // kClusterSlots entries, nullptr: not served; slots_mutex_
  std::vector<NodePool*> masters_;     // slots_mutex_
  std::mutex refresh_mutex_;           // one refresh at a time
  std::chrono::steady_clock::time_point last_refresh_{};  // refresh_mutex_
  std::atomic<std::uint64_t> any_node_{0};                // round robin for keyless commands

  // Sentinel only.
  std::unique_ptr<SentinelDiscovery> discovery_;
  std::atomic<NodePool*> master_{nullptr};
  std::mutex discover_mutex_;                               // one discovery at a time
  std::chrono::steady_clock::time_point last_discovery_{};  // discover_mutex_
  std::unique_ptr<RedisSubscriber> switch_watch_;  // +switch-master; discover_mutex_; last member
};

}  // namespace strata::redis
