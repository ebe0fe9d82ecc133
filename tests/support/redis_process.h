// redis_process.h: private Redis servers that a test starts, stops and restarts on its own,
// so that fault tests (a server killed mid-test, a slot migrated) never disturb the shared
// servers the other tests use. Each lives in a temporary directory removed at destruction.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/temp_dir.h"

namespace strata::testing {

// A redis-server on a free loopback port (no persistence), started by the constructor and
// killed by the destructor. stop()/start() keep the port. With `cluster_bus`, it also gets a
// free port of its own for the cluster bus (--cluster-port).
class RedisProcess {
 public:
  explicit RedisProcess(std::vector<std::string> extra_args = {}, bool cluster_bus = false);
  RedisProcess(const RedisProcess&) = delete;
  RedisProcess& operator=(const RedisProcess&) = delete;
  ~RedisProcess();

  void start();  // starts (again) on the same port and waits until it answers PING
  void stop();   // SIGTERM, waits for the process to exit
  void kill();   // SIGKILL (a crash: no shutdown, no goodbye to clients), waits for the exit
  [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
  [[nodiscard]] std::string url() const;  // redis://127.0.0.1:port
  // Runs redis-cli against this server and returns what it printed (trailing newline removed).
  std::string cli(const std::string& args) const;

 private:
  tools::TempDir dir_;
  std::uint16_t port_ = 0;
  std::uint16_t bus_port_ = 0;
  std::vector<std::string> extra_args_;
  bool cluster_bus_ = false;
  int pid_ = -1;
};

// A Redis Cluster of three masters, each with `replicas_per_master` replicas (default none),
// created with redis-cli --cluster create. With replicas, the constructor also waits until
// every replica is in sync with its master (so that a failover loses nothing).
class RedisClusterProcess {
 public:
  explicit RedisClusterProcess(int replicas_per_master = 0);
  [[nodiscard]] std::string url() const;  // redis+cluster://127.0.0.1:p1,127.0.0.1:p2,...
  [[nodiscard]] RedisProcess& node(std::size_t i) { return *nodes_[i]; }
  [[nodiscard]] std::size_t size() const noexcept { return nodes_.size(); }

 private:
  std::vector<std::unique_ptr<RedisProcess>> nodes_;
};

// A private Redis Sentinel setup: a master, a replica and three sentinels watching the master
// as "strata-master", started by `scripts/test-servers.sh sentinel-start` in a fresh directory
// under `servers_dir` (the running test servers' directory, so that their `stop` removes it
// even if the test crashes), stopped by the destructor. For failover tests: the shared Sentinel
// setup of `make test` is never failed over.
class SentinelSetup {
 public:
  // kAuth: the data nodes require the password kDataPassword and the sentinels
  // kSentinelPassword (scripts/test-servers.sh sentinel-start DIR auth); url() carries both.
  // kTls: TLS only, with the running servers' PKI (`tls_dir`); url() is rediss+sentinel://
  // with its tls_ca option.
  enum class Mode { kPlain, kAuth, kTls };
  SentinelSetup(std::string script, const std::string& servers_dir, Mode mode = Mode::kPlain,
                const std::string& tls_dir = {});
  static constexpr const char* kDataPassword = "data-secret";
  static constexpr const char* kSentinelPassword = "sentinel-secret";
  SentinelSetup(const SentinelSetup&) = delete;
  SentinelSetup& operator=(const SentinelSetup&) = delete;
  ~SentinelSetup();

  [[nodiscard]] const std::string& url() const noexcept { return url_; }  // redis+sentinel://...
  [[nodiscard]] std::uint16_t sentinel_port(std::size_t i) const { return sentinel_ports_.at(i); }
  // The master's port as the first sentinel answers now (0 when it names none).
  [[nodiscard]] std::uint16_t master_port() const;
  // The port of the node started as the master.
  [[nodiscard]] std::uint16_t first_master_port() const noexcept { return first_master_port_; }
  // How many replicas hold every write the current master has taken so far: waits (up to 10 s)
  // until each online replica's processed offset reaches the master's offset (read first).
  // Not `WAIT` through redis-cli: a fresh connection has written nothing, so WAIT counts a
  // replica that has not yet received the test's writes.
  [[nodiscard]] long long wait_for_replica() const;
  // SIGKILLs the node started as the master and waits until it is gone.
  void kill_first_master();
  // Runs redis-cli against a port; returns what it printed (trailing newline removed).
  static std::string cli(std::uint16_t port, const std::string& args);

 private:
  std::string script_;
  std::string dir_;
  std::string url_;
  std::vector<std::uint16_t> sentinel_ports_;
  std::string sentinel_auth_;  // redis-cli arguments for the sentinels ("" without auth)
  std::string data_auth_;      // and for the data nodes
  std::uint16_t first_master_port_ = 0;
};

// A TCP port nobody listens on right now.
[[nodiscard]] std::uint16_t free_port();

}  // namespace strata::testing
