#include "strata/metrics/metrics_server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "strata/error.h"

namespace strata {

struct MetricsServer::Http {
  httplib::Server server;
};

MetricsServer::MetricsServer(MetricsRegistry& registry, MetricsServerOptions options)
    : registry_(registry), options_(std::move(options)), http_(std::make_unique<Http>()) {
  if (options_.host.empty()) throw InvalidArgumentError("MetricsServer: host must not be empty");
  http_->server.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    try {
      res.set_content(to_prometheus_text(registry_.snapshot()), "text/plain; version=0.0.4");
    } catch (const std::exception& e) {
      res.status = 500;
      res.set_content(std::string("strata: metrics snapshot failed: ") + e.what(), "text/plain");
    }
  });
  // SO_REUSEADDR only: httplib's default adds SO_REUSEPORT, which lets a second server bind a
  // port already served and splits the scrapes between the two.
  http_->server.set_socket_options([](socket_t sock) {
    int yes = 1;
    (void)::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  int bound = 0;
  if (options_.port == 0) {
    bound = http_->server.bind_to_any_port(options_.host);
  } else {
    bound = http_->server.bind_to_port(options_.host, options_.port) ? options_.port : -1;
  }
  if (bound <= 0) {
    throw UnavailableError("MetricsServer: cannot listen on " + options_.host + ":" +
                           std::to_string(options_.port));
  }
  port_ = static_cast<std::uint16_t>(bound);
  auto listen_returned = std::make_shared<std::atomic<bool>>(false);
  serve_thread_ = std::thread([this, listen_returned] {
    try {
      http_->server.listen_after_bind();
    } catch (...) {
      // Nothing escapes a background thread; the server simply stops answering.
    }
    listen_returned->store(true);
  });
  // httplib's stop() does nothing until the listen loop runs, so a server destroyed at once
  // would leave its thread in accept() forever: wait for the loop to start.
  while (!http_->server.is_running() && !listen_returned->load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (options_.alert_check_interval.count() > 0) {
    alert_thread_ = std::thread([this] {
      std::unique_lock lock(alert_mutex_);
      while (
          !alert_cv_.wait_for(lock, options_.alert_check_interval, [this] { return stopping_; })) {
        lock.unlock();
        try {
          (void)registry_.check_alerts();
        } catch (...) {
          // A failing cache reader must not stop the checks or escape the thread.
        }
        lock.lock();
      }
    });
  }
}

MetricsServer::~MetricsServer() {
  {
    std::lock_guard lock(alert_mutex_);
    stopping_ = true;
  }
  alert_cv_.notify_all();
  if (alert_thread_.joinable()) alert_thread_.join();
  http_->server.stop();
  if (serve_thread_.joinable()) serve_thread_.join();
}

std::string MetricsServer::url() const {
  return "http://" + options_.host + ":" + std::to_string(port_) + "/metrics";
}

}  // namespace strata
