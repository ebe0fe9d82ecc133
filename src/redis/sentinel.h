// sentinel.h: finding the master of a Redis Sentinel setup (redis+sentinel:// URLs).
//
// SentinelDiscovery asks the sentinels of the URL, one after the other, where the master named
// in the URL is (SENTINEL GET-MASTER-ADDR-BY-NAME), connects to the address it was given and
// checks ROLE: a node that says it is a replica (a sentinel that has not yet seen a failover)
// is not used, and the next sentinel is asked. The sentinel that answered last is asked first
// next time. When none gives a master, UnavailableError names the master and every sentinel
// tried, with why each failed.
//
//   SentinelDiscovery discovery(parse_redis_url("redis+sentinel://127.0.0.1:26379/mymaster"));
//   RedisEndpoint master = discovery.discover();
//
// Connections to the sentinels use the URL's timeouts and TLS options and sentinel_user /
// sentinel_password; the check of the master uses the data nodes' options (user, password, db).
// parse_switch_master() reads a "+switch-master" message, which a sentinel publishes on its
// own pub/sub when a failover put another node in the master's place.
// Thread-safe.
#pragma once

#include <atomic>
#include <optional>
#include <string_view>

#include "redis/connection.h"
#include "strata/redis/redis_url.h"

namespace strata::redis {

// The channel on which sentinels announce a new master.
inline constexpr std::string_view kSwitchMasterChannel = "+switch-master";

class SentinelDiscovery {
 public:
  // REQUIRES: url.sentinel.
  explicit SentinelDiscovery(RedisUrl url);

  // The master's address, checked with ROLE. Throws UnavailableError (see above).
  [[nodiscard]] RedisEndpoint discover();

  // A URL that reaches the sentinels themselves (plain, not a sentinel URL: its nodes are the
  // sentinels, with the sentinels' AUTH and the TLS options): for a RedisSubscriber that
  // watches +switch-master. RedisSubscriber moves to the next node when one fails.
  [[nodiscard]] RedisUrl sentinels_url() const;

  [[nodiscard]] const RedisUrl& url() const noexcept { return url_; }

 private:
  const RedisUrl url_;
  const ConnectOptions sentinel_options_;
  const ConnectOptions master_options_;
  std::atomic<std::size_t> first_{0};  // the sentinel that answered last
};

// "<master-name> <old-ip> <old-port> <new-ip> <new-port>" for `master_name`: the new master;
// nullopt for another master's switch or a malformed message.
[[nodiscard]] std::optional<RedisEndpoint> parse_switch_master(std::string_view message,
                                                               std::string_view master_name);

}  // namespace strata::redis
