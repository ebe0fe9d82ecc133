#include "strata/metrics/metrics_server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "strata/error.h"

namespace strata {

namespace {

// httplib runs each accepted connection as one job of its task queue, and the job holds its
// thread while the connection is open (reading a request, or waiting for the next one on a
// kept-alive connection). Its own ThreadPool has max(8, cores - 1) threads, so a few idle
// connections starved every scrape behind them. This queue starts a thread whenever a job
// arrives and none is free, up to `max_threads`; threads stay until shutdown.
class ElasticPool final : public httplib::TaskQueue {
 public:
  explicit ElasticPool(std::size_t max_threads) : max_threads_(max_threads) {}
  ~ElasticPool() override = default;

  void enqueue(std::function<void()> fn) override {
    std::lock_guard lock(mu_);
    jobs_.push_back(std::move(fn));
    if (idle_ < jobs_.size() && threads_.size() < max_threads_) {
      threads_.emplace_back([this] { work(); });
    } else {
      cv_.notify_one();
    }
  }

  void shutdown() override {
    {
      std::lock_guard lock(mu_);
      shutdown_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();  // no enqueue() runs any more: the listen loop is over
  }

 private:
  void work() {
    std::unique_lock lock(mu_);
    while (true) {
      ++idle_;
      cv_.wait(lock, [this] { return !jobs_.empty() || shutdown_; });
      --idle_;
      if (jobs_.empty()) return;  // shutdown, nothing left
      std::function<void()> job = std::move(jobs_.front());
      jobs_.pop_front();
      lock.unlock();
      try {
        job();
      } catch (...) {
        // Nothing escapes a worker thread.
      }
      lock.lock();
    }
  }

  const std::size_t max_threads_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  std::vector<std::thread> threads_;
  std::size_t idle_ = 0;
  bool shutdown_ = false;
};

}  // namespace

void MetricsServerOptions::validate() const {
  if (host.empty()) throw InvalidArgumentError("MetricsServer: host must not be empty");
  if (max_connections == 0) {
    throw InvalidArgumentError("MetricsServer: max_connections must be at least 1");
  }
  if (read_timeout.count() <= 0) {
    throw InvalidArgumentError("MetricsServer: read_timeout must be positive");
  }
  if (keep_alive_timeout.count() < 1000) {
    throw InvalidArgumentError("MetricsServer: keep_alive_timeout must be at least 1 s");
  }
}

struct MetricsServer::Http {
  httplib::Server server;
};

MetricsServer::MetricsServer(MetricsRegistry& registry, MetricsServerOptions options)
    : registry_(registry), options_(std::move(options)), http_(std::make_unique<Http>()) {
  options_.validate();
  const std::size_t max_connections = options_.max_connections;
  // httplib takes ownership of the queue it gets (a unique_ptr inside listen_after_bind).
  http_->server.new_task_queue = [max_connections] { return new ElasticPool(max_connections); };
  http_->server.set_read_timeout(options_.read_timeout);
  http_->server.set_keep_alive_timeout(static_cast<time_t>(
      std::chrono::ceil<std::chrono::seconds>(options_.keep_alive_timeout).count()));
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
