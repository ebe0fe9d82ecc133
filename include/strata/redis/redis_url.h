// strata/redis/redis_url.h: parsing the URLs that name a Redis server, a Redis Cluster, or a
// master watched by Redis Sentinel.
// Use it wherever a user gives strata a Redis address (builders, the CLI, tests).
//
//   auto url = strata::parse_redis_url("redis://app:secret@127.0.0.1:6379/2?command_timeout=50ms");
//   auto cluster = strata::parse_redis_url("redis+cluster://10.0.0.1:7000,10.0.0.2:7000");
//   auto tls = strata::parse_redis_url("rediss://cache.internal:6380?tls_ca=/etc/ssl/ca.pem");
//   auto ha = strata::parse_redis_url("redis+sentinel://10.0.0.1:26379,10.0.0.2:26379/mymaster");
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

// TLS for every connection to the server or cluster (rediss://, rediss+cluster://). The server's
// certificate is verified against the CA (the system's when none is given) and its name: SNI and
// hostname (or IP address) verification use server_name, else the host being connected to.
struct RedisTlsOptions {
  bool enabled = false;
  std::string ca_file;      // PEM bundle of trusted CAs (tls_ca=)
  std::string ca_dir;       // a hashed CA directory (tls_ca_dir=)
  std::string cert_file;    // client certificate, PEM, for mutual TLS (tls_cert=)
  std::string key_file;     // its private key, PEM (tls_key=)
  std::string server_name;  // the name to verify and send as SNI (tls_server_name=)
  // Accepts ANY certificate, an attacker's included: for a throwaway test setup only
  // (tls_insecure_skip_verify=true). Logged loudly at every connection.
  bool insecure_skip_verify = false;
  friend bool operator==(const RedisTlsOptions&, const RedisTlsOptions&) = default;
};

// What a Redis URL says. Defaults are those of an URL that leaves a part out.
struct RedisUrl {
  bool cluster = false;              // redis+cluster:// (seed nodes) rather than redis://
  bool sentinel = false;             // redis+sentinel://: `nodes` are sentinels, not data nodes
  std::vector<RedisEndpoint> nodes;  // a standalone server, cluster seeds, or the sentinels
  std::string master_name;           // the master the sentinels watch (redis+sentinel:// only)
  std::string user;                  // ACL user; empty means the "default" user
  std::string password;              // empty means no AUTH
  int db = 0;                        // SELECT db (standalone and sentinel; a cluster has db 0)
  // AUTH towards the sentinels (sentinel_user=, sentinel_password=); the user and password
  // above are the data nodes'. Empty password: the sentinels need no AUTH.
  std::string sentinel_user;
  std::string sentinel_password;
  std::chrono::milliseconds connect_timeout{1000};
  std::chrono::milliseconds command_timeout{1000};
  int pool_size = 4;  // connections per node
  int retries = 2;    // retries of a failed command on a fresh connection
  // Commands of every calling thread share one connection per node, written in batches and
  // their replies matched in order (automatic pipelining); blocking and stateful commands
  // (MULTI/EXEC, WATCH, blocking pops, WAIT, CLIENT ...) still take a pooled connection of
  // their own. false (multiplex=false): every command borrows a pooled connection.
  bool multiplex = true;
  RedisTlsOptions tls;  // rediss://, rediss+cluster:// and rediss+sentinel:// turn it on

  // The URL again, with the password replaced by "***": safe for logs and error messages.
  [[nodiscard]] std::string redacted() const;
};

// Parses
//   redis://[[user]:password@]host[:port][/db][?option=value&...]
//   redis+cluster://[[user]:password@]host:port[,host:port...][?option=value&...]
//   redis+sentinel://[[user]:password@]host[:port][,host[:port]...]/master-name[/db][?...]
//   rediss://..., rediss+cluster://... and rediss+sentinel://...: the same over TLS (for a
//   sentinel URL: TLS to the sentinels and to the data nodes, with the same tls_* options)
// Options: connect_timeout, command_timeout (a number with ms or s, e.g. 250ms), pool_size,
// retries, multiplex (true/false); with rediss: tls_ca, tls_ca_dir, tls_cert, tls_key,
// tls_server_name, tls_insecure_skip_verify (true/false); with a sentinel URL: sentinel_user,
// sentinel_password. A sentinel's port defaults to 26379. User, password and option values may be
// percent-encoded. IPv6 hosts go in brackets: [::1]:6379.
// Throws InvalidArgumentError naming the part of the URL that is wrong (never echoing the
// password).
[[nodiscard]] RedisUrl parse_redis_url(std::string_view url);

}  // namespace strata
