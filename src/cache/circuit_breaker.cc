// The circuit breaker in front of the L2 (docs/patterns.md, "The circuit breaker").
#include "strata/cache/circuit_breaker.h"

#include <utility>

#include "strata/error.h"

namespace strata {

std::string_view to_string(BreakerState state) noexcept {
  switch (state) {
    case BreakerState::kClosed:
      return "closed";
    case BreakerState::kOpen:
      return "open";
    case BreakerState::kHalfOpen:
      return "half-open";
  }
  return "unknown";
}

void BreakerOptions::validate() const {
  if (failure_threshold == 0) {
    throw InvalidArgumentError("BreakerOptions: failure_threshold must be > 0");
  }
  if (cool_down <= std::chrono::nanoseconds::zero()) {
    throw InvalidArgumentError("BreakerOptions: cool_down must be > 0");
  }
}

CircuitBreaker::CircuitBreaker(BreakerOptions options, std::shared_ptr<const Clock> clock)
    : options_(options), clock_(std::move(clock)) {
  options_.validate();
  if (!clock_) throw InvalidArgumentError("CircuitBreaker: clock must not be null");
}

bool CircuitBreaker::allow() {
  std::lock_guard lock(mutex_);
  switch (state_) {
    case BreakerState::kClosed:
      return true;
    case BreakerState::kHalfOpen:
      return false;
    case BreakerState::kOpen:
      if (clock_->now() - opened_at_ >= options_.cool_down) {
        state_ = BreakerState::kHalfOpen;
        return true;
      }
      return false;
  }
  return false;
}

void CircuitBreaker::on_success() {
  std::lock_guard lock(mutex_);
  state_ = BreakerState::kClosed;
  failures_ = 0;
}

void CircuitBreaker::on_failure() {
  std::lock_guard lock(mutex_);
  if (state_ == BreakerState::kHalfOpen ||
      (state_ == BreakerState::kClosed && ++failures_ >= options_.failure_threshold)) {
    state_ = BreakerState::kOpen;
    opened_at_ = clock_->now();
    failures_ = 0;
    ++opens_;
  } else if (state_ == BreakerState::kOpen) {
    opened_at_ = clock_->now();  // a call that started before the breaker opened
  }
}

BreakerState CircuitBreaker::state() const {
  std::lock_guard lock(mutex_);
  return state_;
}

std::uint64_t CircuitBreaker::opens() const {
  std::lock_guard lock(mutex_);
  return opens_;
}

}  // namespace strata
