// Executors: the default thread pool for background refreshes, and the manual one for tests.
#include "strata/executor.h"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "strata/error.h"

namespace strata {

struct ThreadPoolExecutor::Shared {
  std::mutex mutex;
  std::condition_variable ready;
  std::deque<std::function<void()>> queue;
  bool stopping = false;
};

struct ThreadPoolExecutor::Workers {
  std::vector<std::thread> threads;
};

struct ManualExecutor::Queue {
  mutable std::mutex mutex;
  std::deque<std::function<void()>> tasks;
};

ThreadPoolExecutor::ThreadPoolExecutor(std::size_t threads)
    : shared_(std::make_shared<Shared>()), workers_(std::make_unique<Workers>()) {
  if (threads == 0 || threads > 64) {
    throw InvalidArgumentError("ThreadPoolExecutor: threads must be within [1, 64]");
  }
  workers_->threads.reserve(threads);
  for (std::size_t i = 0; i < threads; ++i) {
    workers_->threads.emplace_back([shared = shared_] { run(shared); });
  }
}

ThreadPoolExecutor::~ThreadPoolExecutor() {
  shutdown();
}

void ThreadPoolExecutor::execute(std::function<void()> task) {
  {
    std::lock_guard lock(shared_->mutex);
    if (shared_->stopping) return;
    shared_->queue.push_back(std::move(task));
  }
  shared_->ready.notify_one();
}

void ThreadPoolExecutor::shutdown() noexcept {
  std::deque<std::function<void()>> dropped;
  {
    std::lock_guard lock(shared_->mutex);
    shared_->stopping = true;
    dropped.swap(shared_->queue);
  }
  shared_->ready.notify_all();
  for (auto& thread : workers_->threads) {
    if (!thread.joinable()) continue;
    if (thread.get_id() == std::this_thread::get_id()) {
      thread.detach();  // destroyed by one of its own tasks: the thread exits after it
    } else {
      thread.join();
    }
  }
  // `dropped` is destroyed here, outside the lock.
}

void ThreadPoolExecutor::run(const std::shared_ptr<Shared>& shared) noexcept {
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock lock(shared->mutex);
      shared->ready.wait(lock, [&] { return shared->stopping || !shared->queue.empty(); });
      if (shared->stopping) return;
      task = std::move(shared->queue.front());
      shared->queue.pop_front();
    }
    try {
      task();
    } catch (...) {
      // Tasks must not throw; one that does is dropped, the thread lives on.
    }
  }
}

ManualExecutor::ManualExecutor() : queue_(std::make_unique<Queue>()) {}

ManualExecutor::~ManualExecutor() = default;

void ManualExecutor::execute(std::function<void()> task) {
  std::lock_guard lock(queue_->mutex);
  queue_->tasks.push_back(std::move(task));
}

bool ManualExecutor::run_one() {
  std::function<void()> task;
  {
    std::lock_guard lock(queue_->mutex);
    if (queue_->tasks.empty()) return false;
    task = std::move(queue_->tasks.front());
    queue_->tasks.pop_front();
  }
  try {
    task();
  } catch (...) {
  }
  return true;
}

std::size_t ManualExecutor::run_all() {
  std::size_t ran = 0;
  while (run_one()) ++ran;
  return ran;
}

std::size_t ManualExecutor::pending() const {
  std::lock_guard lock(queue_->mutex);
  return queue_->tasks.size();
}

}  // namespace strata
