// strata/redis/redis_subscriber.h: RedisSubscriber, Redis pub/sub on its own connection and thread.
// Use it to receive messages (e.g. cache invalidations): callbacks per channel or pattern,
// resubscription after reconnects, and a callback when the connection is lost.
//
//   strata::RedisSubscriber sub("redis://127.0.0.1:6379", {.on_connection_lost = flush_l1});
//   sub.subscribe("invalidate", [](std::string_view channel, std::string_view msg) { ... });
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "strata/redis/redis_url.h"

namespace strata {

// Options of a RedisSubscriber. Callbacks run on the subscriber's thread; an exception they
// throw is caught and dropped (it never reaches the thread's top).
struct SubscriberOptions {
  // Called each time a connection is established and every subscription is re-sent, with the
  // connection's CLIENT ID (e.g. for CLIENT TRACKING on REDIRECT <id>). Ids change on reconnect.
  // It returns before connected() and client_id() show the new connection.
  std::function<void(std::int64_t client_id)> on_connected;
  // Called once each time an established connection is lost (messages may have been missed
  // until on_connected is called again). The reason names the node, never a password.
  std::function<void(std::string_view reason)> on_connection_lost;
  // A PING is sent when nothing was received for this long; a connection that stays silent
  // for twice this plus the command timeout is considered dead and replaced.
  std::chrono::milliseconds keepalive_interval{std::chrono::seconds(5)};
  // With a redis+cluster:// URL: a sharded channel you will ssubscribe(), so that the first
  // connection is already made to its slot's owner (else the first ssubscribe() on another
  // node is refused with MOVED and the subscriber reconnects: a connection loss). Empty: none.
  std::string shard_channel;
};

// Subscribes to channels and patterns on one connection owned by a background thread. The
// thread connects at once and keeps reconnecting (with backoff) while the subscriber lives;
// after a reconnect it resubscribes everything. With a redis+cluster:// URL it subscribes on
// one node (PUBLISH is broadcast across a cluster) and moves to another node if that one dies.
// With a redis+sentinel:// URL it subscribes on the master the sentinels name, and moves to the
// new master after a failover (it hears "+switch-master" from the sentinels, or reconnects
// after the old master dropped it); messages published during the move may be missed, and
// on_connection_lost says so.
// Thread-safe. The destructor stops and joins the thread.
class RedisSubscriber {
 public:
  // message(channel, payload)
  using MessageCallback = std::function<void(std::string_view channel, std::string_view message)>;
  // pmessage(pattern, channel, payload)
  using PatternCallback = std::function<void(std::string_view pattern, std::string_view channel,
                                             std::string_view message)>;

  explicit RedisSubscriber(const RedisUrl& url, SubscriberOptions options = {});
  explicit RedisSubscriber(std::string_view url, SubscriberOptions options = {});
  RedisSubscriber(const RedisSubscriber&) = delete;
  RedisSubscriber& operator=(const RedisSubscriber&) = delete;
  ~RedisSubscriber();

  // SUBSCRIBE channel with a callback (replacing an earlier one for that channel). Waits up to
  // the command timeout for the server's confirmation: returns true when confirmed, false when
  // not yet (the subscription stays registered and is made as soon as a connection is up).
  bool subscribe(std::string_view channel, MessageCallback callback);
  // SSUBSCRIBE channel (Redis 7 sharded pub/sub: messages sent with SPUBLISH), same semantics
  // as subscribe(). With a redis+cluster:// URL the subscriber's connection is on the node that
  // owns the channel's slot, and follows it when the slot moves (a connection loss: messages
  // may be missed meanwhile); every sharded channel of one subscriber must be in the same slot
  // (InvalidArgumentError otherwise: give them a common {hash tag}). Its classic subscriptions
  // keep working on that node (PUBLISH reaches every node).
  bool ssubscribe(std::string_view channel, MessageCallback callback);
  // PSUBSCRIBE pattern (glob-style), same semantics as subscribe().
  bool psubscribe(std::string_view pattern, PatternCallback callback);
  // UNSUBSCRIBE / PUNSUBSCRIBE; no more callbacks after it returns (the server is told later).
  void unsubscribe(std::string_view channel);
  void punsubscribe(std::string_view pattern);
  void sunsubscribe(std::string_view channel);

  // True while a connection is up and subscribed.
  [[nodiscard]] bool connected() const;
  // Waits until connected (true) or the timeout passes (false).
  bool wait_connected(std::chrono::milliseconds timeout) const;
  // The CLIENT ID of the current connection, or -1 while disconnected.
  [[nodiscard]] std::int64_t client_id() const;
  // How many times an established connection was lost.
  [[nodiscard]] std::uint64_t connection_losses() const;

  // Stops the thread and closes the connection (also done by the destructor). Idempotent.
  void stop() noexcept;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace strata
