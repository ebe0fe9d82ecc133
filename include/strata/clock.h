// strata/clock.h: the time source strata reads for expiry, refresh and flushing.
// Inject a ManualClock in tests so that TTLs are tested without sleeping.
//
//   auto clock = std::make_shared<strata::ManualClock>();
//   cache = LocalCacheBuilder<int>().clock(clock).expire_after_write(1s).build();
//   clock->advance(2s);  // every entry is now expired
#pragma once

#include <atomic>
#include <chrono>

namespace strata {

// Monotonic nanoseconds since an arbitrary epoch. Implementations are thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  [[nodiscard]] virtual std::chrono::nanoseconds now() const noexcept = 0;
};

// std::chrono::steady_clock.
class SteadyClock final : public Clock {
 public:
  [[nodiscard]] std::chrono::nanoseconds now() const noexcept override {
    return std::chrono::steady_clock::now().time_since_epoch();
  }
};

// A clock that moves only when told to. Starts at 1 s (0 is reserved by some callers).
class ManualClock final : public Clock {
 public:
  [[nodiscard]] std::chrono::nanoseconds now() const noexcept override {
    return std::chrono::nanoseconds(nanos_.load(std::memory_order_acquire));
  }
  void advance(std::chrono::nanoseconds by) noexcept {
    nanos_.fetch_add(by.count(), std::memory_order_acq_rel);
  }
  void set(std::chrono::nanoseconds to) noexcept {
    nanos_.store(to.count(), std::memory_order_release);
  }

 private:
  std::atomic<std::int64_t> nanos_{1'000'000'000};
};

}  // namespace strata
