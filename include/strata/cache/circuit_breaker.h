// strata/cache/circuit_breaker.h: CircuitBreaker, the guard that stops a cache from waiting on a
// remote tier that keeps failing. Cache<V> puts one in front of its L2; use it alone around any
// dependency you may skip. Closed -> open after N consecutive failures -> after a cool-down one
// probe (half-open) -> closed on success, open again on failure. Time comes from a Clock.
//
//   strata::CircuitBreaker breaker({.failure_threshold = 5, .cool_down = 1s}, clock);
//   if (breaker.allow()) {
//     try { call(); breaker.on_success(); } catch (const strata::Error&) { breaker.on_failure(); }
//   }
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string_view>

#include "strata/clock.h"

namespace strata {

enum class BreakerState : std::uint8_t {
  kClosed,    // calls go through
  kOpen,      // calls are refused until the cool-down has passed
  kHalfOpen,  // one probe call is in flight; the others are refused
};
[[nodiscard]] std::string_view to_string(BreakerState state) noexcept;

struct BreakerOptions {
  std::uint32_t failure_threshold = 5;  // consecutive failures that open the breaker
  std::chrono::nanoseconds cool_down{std::chrono::seconds(1)};  // open this long, then probe

  // Throws InvalidArgumentError naming the option.
  void validate() const;
};

// Thread-safe (one small mutex; the calls are cheap next to a network round trip).
class CircuitBreaker {
 public:
  // REQUIRES: options valid, clock not null.
  CircuitBreaker(BreakerOptions options, std::shared_ptr<const Clock> clock);

  // Whether a call may go ahead now. When open and the cool-down has passed, exactly one
  // caller gets true (the probe) and the breaker is half-open until it reports back.
  [[nodiscard]] bool allow();
  // Reports a successful call: closes the breaker and resets the failure count.
  void on_success();
  // Reports a failed call: counts it; opens the breaker at the threshold, or again if a probe
  // failed.
  void on_failure();

  [[nodiscard]] BreakerState state() const;
  // How many times the breaker went from closed (or half-open) to open.
  [[nodiscard]] std::uint64_t opens() const;

 private:
  const BreakerOptions options_;
  const std::shared_ptr<const Clock> clock_;
  mutable std::mutex mutex_;
  BreakerState state_ = BreakerState::kClosed;
  std::uint32_t failures_ = 0;
  std::chrono::nanoseconds opened_at_{0};
  std::uint64_t opens_ = 0;
};

}  // namespace strata
