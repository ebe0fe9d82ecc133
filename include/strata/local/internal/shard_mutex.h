// strata/local/internal/shard_mutex.h: ShardMutex, the reader-writer lock of a LocalCache
// shard, with its two guards. Internal to LocalCache; not part of the public API.
//
// It is a POSIX rwlock called directly, as libstdc++'s std::shared_mutex is, so hits cost the
// same; <shared_mutex> (35k preprocessed lines) stays out of the public headers.
//
//   ShardMutex m;
//   { ReadLock read(m); ... }     { WriteLock write(m); ... }
//   WriteLock maybe(m, kTryLock);  if (maybe.owns_lock()) { ... }
#pragma once

#include <pthread.h>

#include <cerrno>

namespace strata::internal {

class ShardMutex {
 public:
  ShardMutex() = default;
  ShardMutex(const ShardMutex&) = delete;
  ShardMutex& operator=(const ShardMutex&) = delete;
  ~ShardMutex() { pthread_rwlock_destroy(&lock_); }

  void lock() noexcept { pthread_rwlock_wrlock(&lock_); }
  [[nodiscard]] bool try_lock() noexcept { return pthread_rwlock_trywrlock(&lock_) == 0; }
  void unlock() noexcept { pthread_rwlock_unlock(&lock_); }
  void lock_shared() noexcept {
    // EAGAIN: the maximum number of readers; retry, as std::shared_mutex does.
    while (pthread_rwlock_rdlock(&lock_) == EAGAIN) {
    }
  }
  void unlock_shared() noexcept { pthread_rwlock_unlock(&lock_); }

 private:
  pthread_rwlock_t lock_ = PTHREAD_RWLOCK_INITIALIZER;
};

// Holds the mutex in shared mode for its scope.
class ReadLock {
 public:
  explicit ReadLock(ShardMutex& mutex) noexcept : mutex_(mutex) { mutex_.lock_shared(); }
  ReadLock(const ReadLock&) = delete;
  ReadLock& operator=(const ReadLock&) = delete;
  ~ReadLock() { mutex_.unlock_shared(); }

 private:
  ShardMutex& mutex_;
};

struct TryLockTag {};
inline constexpr TryLockTag kTryLock{};

// Holds the mutex exclusively until unlock() or the end of its scope.
class WriteLock {
 public:
  explicit WriteLock(ShardMutex& mutex) noexcept : mutex_(mutex), owns_(true) { mutex_.lock(); }
  WriteLock(ShardMutex& mutex, TryLockTag) noexcept : mutex_(mutex), owns_(mutex.try_lock()) {}
  WriteLock(const WriteLock&) = delete;
  WriteLock& operator=(const WriteLock&) = delete;
  ~WriteLock() {
    if (owns_) mutex_.unlock();
  }

  [[nodiscard]] bool owns_lock() const noexcept { return owns_; }
  void unlock() noexcept {
    mutex_.unlock();
    owns_ = false;
  }

 private:
  ShardMutex& mutex_;
  bool owns_;
};

}  // namespace strata::internal
