// strata/redis/redis_url.h: parsing the URLs that name a Redis server or a Redis Cluster.
// Use it wherever a user gives strata a Redis address (builders, the CLI, tests).
//
//   auto url = strata::parse_redis_url("redis://app:secret@127.0.0.1:6379/2?command_timeout=50ms");
//   auto cluster = strata::parse_redis_url("redis+cluster://10.0.0.1:7000,10.0.0.2:7000");
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace strata {

struct RedisEndpoint {
  std::string host;  // a name, an IPv4 address, or an IPv6 address without brackets
  std::uint16_t port = 6379;
  friend bool operator==(const RedisEndpoint&, const RedisEndpoint&) = default;
};

// What a Redis URL says. Defaults are those of an URL that leaves a part out.
struct RedisUrl {
  bool cluster = false;              // redis+cluster:// (seed nodes) rather than redis://
  std::vector<RedisEndpoint> nodes;  // one for a standalone server, one or more cluster seeds
  std::string user;                  // ACL user; empty means the "default" user
  std::string password;              // empty means no AUTH
  int db = 0;                        // SELECT db (standalone only; a cluster has db 0)
  std::chrono::milliseconds connect_timeout{1000};
  std::chrono::milliseconds command_timeout{1000};
  int pool_size = 4;  // connections per node
  int retries = 2;    // retries of a failed command on a fresh connection

  // The URL again, with the password replaced by "***": safe for logs and error messages.
  [[nodiscard]] std::string redacted() const;
};

// Parses
//   redis://[[user]:password@]host[:port][/db][?option=value&...]
//   redis+cluster://[[user]:password@]host:port[,host:port...][?option=value&...]
// Options: connect_timeout, command_timeout (a number with ms or s, e.g. 250ms), pool_size,
// retries. User and password may be percent-encoded. IPv6 hosts go in brackets: [::1]:6379.
// Throws InvalidArgumentError naming the part of the URL that is wrong (never echoing the
// password).
[[nodiscard]] RedisUrl parse_redis_url(std::string_view url);

}  // namespace strata
