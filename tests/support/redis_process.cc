#include "support/redis_process.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <stdexcept>
#include <thread>

#include "support/eventually.h"
#include "support/run_command.h"

namespace strata::testing {

namespace {

// The first port of the kernel's ephemeral range (what connect() hands out).
int ephemeral_low() {
  std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range");
  int low = 32768;
  if (!(range >> low)) low = 32768;
  return low;
}

bool can_bind(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

bool log_says_bind_failed(const std::string& log_path) {
  std::ifstream log(log_path);
  std::string line;
  while (std::getline(log, line)) {
    if (line.find("Address already in use") != std::string::npos ||
        line.find("Failed listening") != std::string::npos) {
      return true;
    }
  }
  return false;
}

}  // namespace

// A random port below the ephemeral range that nothing holds now. Not a port the kernel picks
// (bind to 0): that one is in the ephemeral range, where any outgoing connection (a cluster bus
// link, a replica, a redis-cli) may take it before the server binds it. Below that range only
// explicit binds compete, and RedisProcess retries on another port if one got there first.
std::uint16_t free_port() {
  static std::mt19937 random{std::random_device{}()};
  static std::mutex mutex;
  const std::lock_guard lock(mutex);
  const int low = 10000;
  const int high = std::max(low + 1000, ephemeral_low() - 10000);  // [low, high)
  std::uniform_int_distribution<int> pick(low, high - 1);
  for (int attempt = 0; attempt < 1000; ++attempt) {
    const auto port = static_cast<std::uint16_t>(pick(random));
    if (can_bind(port)) return port;
  }
  throw std::runtime_error("free_port: no free port below the ephemeral range");
}

RedisProcess::RedisProcess(std::vector<std::string> extra_args, bool cluster_bus)
    : dir_("strata-redis"), extra_args_(std::move(extra_args)), cluster_bus_(cluster_bus) {
  // Another process may bind the chosen port first: then the server logs so and exits, and
  // the start is tried again on other ports.
  for (int attempt = 1;; ++attempt) {
    port_ = free_port();
    if (cluster_bus_) {
      do bus_port_ = free_port();
      while (bus_port_ == port_);
    }
    try {
      start();
      return;
    } catch (const std::runtime_error&) {
      if (attempt == 5 || !log_says_bind_failed(dir_.path().string() + "/redis.log")) throw;
      std::filesystem::remove(dir_.path() / "redis.log");
    }
  }
}

RedisProcess::~RedisProcess() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    (void)eventually(std::chrono::seconds(5), [&] { return ::kill(pid_, 0) != 0; });
  }
}

std::string RedisProcess::url() const {
  return "redis://127.0.0.1:" + std::to_string(port_);
}

std::string RedisProcess::cli(const std::string& args) const {
  auto result = run_command("redis-cli -p " + std::to_string(port_) + " " + args + " 2>&1");
  while (!result.output.empty() && result.output.back() == '\n') result.output.pop_back();
  return result.output;
}

void RedisProcess::start() {
  const std::string dir = dir_.path().string();
  std::string line = "redis-server --port " + std::to_string(port_) +
                     " --bind 127.0.0.1 --save '' --appendonly no --daemonize yes --dir '" + dir +
                     "' --pidfile '" + dir + "/redis.pid' --logfile '" + dir + "/redis.log'";
  for (const auto& arg : extra_args_) line += " " + arg;
  if (cluster_bus_) line += " --cluster-port " + std::to_string(bus_port_);
  const auto result = run_command(line + " 2>&1");
  if (result.exit_code != 0) throw std::runtime_error("redis-server failed: " + result.output);
  bool bind_failed = false;
  const bool up = eventually(std::chrono::seconds(10), [&] {
    if (cli("ping") == "PONG") return true;
    bind_failed = log_says_bind_failed(dir + "/redis.log");
    return bind_failed;
  });
  if (!up || bind_failed) {
    throw std::runtime_error("redis-server on port " + std::to_string(port_) +
                             " did not answer (its log: " + dir + "/redis.log)");
  }
  std::ifstream pidfile(dir + "/redis.pid");
  pidfile >> pid_;
}

void RedisProcess::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  if (!eventually(std::chrono::seconds(10), [&] { return ::kill(pid_, 0) != 0; })) {
    ::kill(pid_, SIGKILL);
    (void)eventually(std::chrono::seconds(5), [&] { return ::kill(pid_, 0) != 0; });
  }
  pid_ = -1;
}

void RedisProcess::kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  (void)eventually(std::chrono::seconds(5), [&] { return ::kill(pid_, 0) != 0; });
  pid_ = -1;
}

RedisClusterProcess::RedisClusterProcess(int replicas_per_master) {
  std::string addresses;
  for (int i = 0; i < 3 * (1 + replicas_per_master); ++i) {
    nodes_.push_back(std::make_unique<RedisProcess>(
        std::vector<std::string>{"--cluster-enabled yes", "--cluster-config-file nodes.conf",
                                 "--cluster-node-timeout 2000"},
        /*cluster_bus=*/true));
    addresses += " 127.0.0.1:" + std::to_string(nodes_.back()->port());
  }
  const auto created =
      run_command("redis-cli --cluster create" + addresses + " --cluster-replicas " +
                  std::to_string(replicas_per_master) + " --cluster-yes 2>&1");
  if (created.exit_code != 0) throw std::runtime_error("cluster create failed: " + created.output);
  for (auto& node : nodes_) {
    if (!eventually(std::chrono::seconds(30), [&] {
          const std::string info = node->cli("cluster info");
          return info.find("cluster_state:ok") != std::string::npos &&
                 info.find("cluster_slots_ok:16384") != std::string::npos;
        })) {
      throw std::runtime_error("private cluster did not become ok");
    }
  }
  if (replicas_per_master == 0) return;
  for (auto& node : nodes_) {
    if (!eventually(std::chrono::seconds(30), [&] {
          const std::string info = node->cli("info replication");
          if (info.find("role:master") != std::string::npos) {
            return info.find("connected_slaves:" + std::to_string(replicas_per_master)) !=
                   std::string::npos;
          }
          return info.find("master_link_status:up") != std::string::npos;
        })) {
      throw std::runtime_error("private cluster: replicas did not sync");
    }
  }
}

SentinelSetup::SentinelSetup(std::string script, const std::string& servers_dir, Mode mode,
                             const std::string& tls_dir)
    : script_(std::move(script)) {
  if (mode == Mode::kAuth) {
    sentinel_auth_ = std::string("--no-auth-warning -a ") + kSentinelPassword + " ";
    data_auth_ = std::string("--no-auth-warning -a ") + kDataPassword + " ";
  }
  if (mode == Mode::kTls) {
    if (tls_dir.empty()) throw std::runtime_error("SentinelSetup: kTls needs the PKI directory");
    sentinel_auth_ = data_auth_ = "--tls --cacert '" + tls_dir + "/ca.crt' --cert '" + tls_dir +
                                  "/client.crt' --key '" + tls_dir + "/client.key' ";
  }
  std::string templ = servers_dir + "/private-sentinel.XXXXXX";
  if (::mkdtemp(templ.data()) == nullptr)
    throw std::runtime_error("mkdtemp failed in " + servers_dir);
  dir_ = templ + "/setup";  // sentinel-start wants a directory of its own to create
  const char* mode_arg = mode == Mode::kAuth ? " auth" : mode == Mode::kTls ? " tls" : "";
  const std::string env = mode == Mode::kTls ? "STRATA_TEST_TLS_DIR='" + tls_dir + "' " : "";
  const auto started =
      run_command(env + "'" + script_ + "' sentinel-start '" + dir_ + "'" + mode_arg + " 2>&1");
  if (started.exit_code != 0) throw std::runtime_error("sentinel-start failed: " + started.output);
  std::ifstream url_file(dir_ + "/url");
  std::getline(url_file, url_);
  if (mode == Mode::kTls) url_ += "?tls_ca=" + tls_dir + "/ca.crt";
  // redis+sentinel://[:password@]127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3/strata-master[?...]
  std::string hosts = url_.substr(url_.find("://") + 3);
  hosts = hosts.substr(0, hosts.find('/'));
  if (const auto at = hosts.rfind('@'); at != std::string::npos) hosts = hosts.substr(at + 1);
  std::size_t start = 0;
  while (start < hosts.size()) {
    const auto comma = hosts.find(',', start);
    const std::string node = hosts.substr(start, comma - start);
    sentinel_ports_.push_back(
        static_cast<std::uint16_t>(std::stoi(node.substr(node.rfind(':') + 1))));
    start = comma == std::string::npos ? hosts.size() : comma + 1;
  }
  first_master_port_ = master_port();
  if (sentinel_ports_.size() != 3 || first_master_port_ == 0) {
    throw std::runtime_error("sentinel-start gave an unexpected setup: " + url_);
  }
}

SentinelSetup::~SentinelSetup() {
  const auto stopped = run_command("'" + script_ + "' sentinel-stop '" + dir_ + "' 2>&1");
  std::error_code ignored;
  std::filesystem::remove_all(std::filesystem::path(dir_).parent_path(), ignored);
  if (stopped.exit_code != 0) ADD_FAILURE() << "sentinel-stop failed: " << stopped.output;
}

std::string SentinelSetup::cli(std::uint16_t port, const std::string& args) {
  auto result = run_command("redis-cli -p " + std::to_string(port) + " " + args + " 2>&1");
  while (!result.output.empty() && result.output.back() == '\n') result.output.pop_back();
  return result.output;
}

std::uint16_t SentinelSetup::master_port() const {
  const std::string reply =
      cli(sentinel_ports_.at(0), sentinel_auth_ + "sentinel get-master-addr-by-name strata-master");
  const auto newline = reply.find('\n');
  if (newline == std::string::npos) return 0;
  try {
    return static_cast<std::uint16_t>(std::stoi(reply.substr(newline + 1)));
  } catch (const std::exception&) {
    return 0;
  }
}

namespace {

// The value of `field:` in an INFO reply (-1 when absent or not a number).
long long info_number(const std::string& info, const std::string& field) {
  const auto at = info.find(field + ":");
  if (at == std::string::npos) return -1;
  try {
    return std::stoll(info.substr(at + field.size() + 1));
  } catch (const std::exception&) {
    return -1;
  }
}

// The ports of the replicas an INFO replication reply lists as online.
std::vector<std::uint16_t> online_replica_ports(const std::string& info) {
  std::vector<std::uint16_t> ports;
  for (std::size_t at = info.find("\nslave"); at != std::string::npos;
       at = info.find("\nslave", at + 1)) {
    const std::string line = info.substr(at + 1, info.find('\n', at + 1) - at - 1);
    const auto port = line.find(",port=");
    if (port == std::string::npos || line.find("state=online") == std::string::npos) continue;
    try {
      ports.push_back(static_cast<std::uint16_t>(std::stoi(line.substr(port + 6))));
    } catch (const std::exception&) {
    }
  }
  return ports;
}

}  // namespace

long long SentinelSetup::wait_for_replica() const {
  const std::uint16_t master = master_port();
  if (master == 0) return -1;
  const std::string info = cli(master, data_auth_ + "info replication");
  const long long offset = info_number(info, "master_repl_offset");
  if (offset < 0) return -1;
  long long caught_up = 0;
  (void)eventually(std::chrono::seconds(10), [&] {
    caught_up = 0;
    for (const std::uint16_t replica :
         online_replica_ports(cli(master, data_auth_ + "info replication"))) {
      if (info_number(cli(replica, data_auth_ + "info replication"), "slave_repl_offset") >=
          offset) {
        ++caught_up;
      }
    }
    return caught_up >= 1;
  });
  return caught_up;
}

void SentinelSetup::kill_first_master() {
  std::ifstream pidfile(dir_ + "/master/redis.pid");
  int pid = -1;
  pidfile >> pid;
  if (pid <= 0) throw std::runtime_error("no pid file for the sentinel setup's master");
  ::kill(pid, SIGKILL);
  if (!eventually(std::chrono::seconds(5), [&] { return ::kill(pid, 0) != 0; })) {
    throw std::runtime_error("the sentinel setup's master did not die");
  }
}

std::string RedisClusterProcess::url() const {
  std::string url = "redis+cluster://";
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    url += (i ? ",127.0.0.1:" : "127.0.0.1:") + std::to_string(nodes_[i]->port());
  }
  return url;
}

}  // namespace strata::testing
