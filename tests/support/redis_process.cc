#include "support/redis_process.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <fstream>
#include <stdexcept>
#include <thread>

#include "support/eventually.h"
#include "support/run_command.h"

namespace strata::testing {

std::uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    if (fd >= 0) ::close(fd);
    throw std::runtime_error("free_port: cannot bind");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

RedisProcess::RedisProcess(std::vector<std::string> extra_args)
    : dir_("strata-redis"), port_(free_port()), extra_args_(std::move(extra_args)) {
  start();
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
  const auto result = run_command(line + " 2>&1");
  if (result.exit_code != 0) throw std::runtime_error("redis-server failed: " + result.output);
  if (!eventually(std::chrono::seconds(10), [&] { return cli("ping") == "PONG"; })) {
    throw std::runtime_error("redis-server on port " + std::to_string(port_) + " did not answer");
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
    const std::uint16_t bus = free_port();
    nodes_.push_back(std::make_unique<RedisProcess>(std::vector<std::string>{
        "--cluster-enabled yes", "--cluster-config-file nodes.conf", "--cluster-node-timeout 2000",
        "--cluster-port " + std::to_string(bus)}));
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

std::string RedisClusterProcess::url() const {
  std::string url = "redis+cluster://";
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    url += (i ? ",127.0.0.1:" : "127.0.0.1:") + std::to_string(nodes_[i]->port());
  }
  return url;
}

}  // namespace strata::testing
