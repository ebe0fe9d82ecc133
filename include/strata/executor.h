// strata/executor.h: where strata runs background work (refresh-ahead reloads): the Executor
// interface, a small owned ThreadPoolExecutor (the default) and a ManualExecutor for tests.
// Inject a ManualExecutor so that tests decide when background work runs, without sleeping.
//
//   auto executor = std::make_shared<strata::ManualExecutor>();
//   auto cache = strata::CacheBuilder<User>().executor(executor)...build();
//   executor->run_all();  // runs the refreshes the cache scheduled
#pragma once

#include <cstddef>
#include <functional>
#include <memory>

namespace strata {

// Runs tasks, later, on some thread. Implementations are thread-safe. Tasks given to an
// executor by strata never throw.
class Executor {
 public:
  virtual ~Executor() = default;
  // Queues `task` to run once. May drop it when the executor is shutting down.
  virtual void execute(std::function<void()> task) = 0;
};

// A fixed set of threads sharing one queue. The destructor stops taking tasks, drops those not
// started and joins every thread. An exception from a task is caught and dropped.
// Destroyed from one of its own tasks, it joins the other threads and detaches the current one,
// which exits when the task returns (the queue lives as long as any of its threads).
class ThreadPoolExecutor final : public Executor {
 public:
  // REQUIRES: 1 <= threads <= 64 (else InvalidArgumentError).
  explicit ThreadPoolExecutor(std::size_t threads = 1);
  ThreadPoolExecutor(const ThreadPoolExecutor&) = delete;
  ThreadPoolExecutor& operator=(const ThreadPoolExecutor&) = delete;
  ~ThreadPoolExecutor() override;

  // Queues the task (dropped after shutdown began).
  void execute(std::function<void()> task) override;
  // Stops taking tasks, drops the queued ones and joins the threads (idempotent).
  void shutdown() noexcept;

 private:
  // The queue and the threads, in src/core/executor.cc (so that this header does not pull in
  // <thread> and <condition_variable>).
  struct Shared;
  struct Workers;
  static void run(const std::shared_ptr<Shared>& shared) noexcept;

  std::shared_ptr<Shared> shared_;
  std::unique_ptr<Workers> workers_;
};

// Queues tasks until the test runs them, on the test's thread.
class ManualExecutor final : public Executor {
 public:
  ManualExecutor();
  ManualExecutor(const ManualExecutor&) = delete;
  ManualExecutor& operator=(const ManualExecutor&) = delete;
  ~ManualExecutor() override;

  // Queues the task.
  void execute(std::function<void()> task) override;
  // Runs the queued tasks (and those they queue) until none is left; returns how many ran.
  std::size_t run_all();
  // Runs the oldest queued task, if any; returns whether one ran.
  bool run_one();
  // How many tasks wait.
  [[nodiscard]] std::size_t pending() const;

 private:
  struct Queue;  // src/core/executor.cc
  std::unique_ptr<Queue> queue_;
};

}  // namespace strata
