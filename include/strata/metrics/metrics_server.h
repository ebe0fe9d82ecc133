// strata/metrics/metrics_server.h: MetricsServer, the Prometheus endpoint: serves a
// MetricsRegistry's snapshot at GET /metrics (text format 0.0.4) over HTTP (cpp-httplib), on its
// own thread. Use it to let Prometheus (or `strata stats --metrics URL`) scrape a service's caches.
//
//   strata::MetricsRegistry registry;  registry.add_cache("users", users);
//   strata::MetricsServer server(registry, {.port = 9464});   // port 0: any free port
//   std::cout << "metrics on port " << server.port() << '\n';
//
// RAII: the destructor stops the server and joins its threads. The registry must outlive it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "strata/metrics/metrics.h"

namespace strata {

struct MetricsServerOptions {
  std::string host = "127.0.0.1";  // "0.0.0.0" to listen on every interface
  std::uint16_t port = 9464;       // 0: the system picks a free port (see port())
  // How often the registry's hit-rate alert is checked (MetricsRegistry::check_alerts);
  // 0 disables the checks (a scrape does not check them either).
  std::chrono::milliseconds alert_check_interval{std::chrono::seconds(10)};
  // Connections served at once, each on its own thread (started on demand, kept until the
  // server stops); more wait for one to close. Idle connections (open, sending nothing) hold a
  // thread for at most read_timeout, and kept-alive ones for keep_alive_timeout between scrapes,
  // so a scrape is answered while up to max_connections - 1 of them are held open.
  std::size_t max_connections = 256;
  std::chrono::milliseconds read_timeout{std::chrono::seconds(5)};
  std::chrono::milliseconds keep_alive_timeout{std::chrono::seconds(5)};

  // Throws InvalidArgumentError naming the option.
  void validate() const;
};

class MetricsServer {
 public:
  // Binds and starts serving. Throws UnavailableError when the address cannot be bound,
  // InvalidArgumentError for an empty host.
  explicit MetricsServer(MetricsRegistry& registry, MetricsServerOptions options = {});
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // The bound port (the chosen one when options.port was 0).
  [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
  // "http://host:port/metrics".
  [[nodiscard]] std::string url() const;

 private:
  struct Http;  // the httplib::Server, kept out of this header
  MetricsRegistry& registry_;
  MetricsServerOptions options_;
  std::unique_ptr<Http> http_;
  std::uint16_t port_ = 0;
  std::thread serve_thread_;
  std::mutex alert_mutex_;
  std::condition_variable alert_cv_;
  bool stopping_ = false;
  std::thread alert_thread_;
};

}  // namespace strata
