// eventually.h: the one polling helper of the test suites: waits on something observable (a
// counter, a key, a server's answer) with a generous liveness bound, never as a measurement.
// Use it instead of a sleep whenever a test needs another thread or process to have acted:
//   ASSERT_TRUE(testing::eventually([&] { return bus->stats().received >= 1; }));
#pragma once

#include <chrono>
#include <thread>
#include <utility>

namespace strata::testing {

// The default bound: long enough for a loaded 2-core machine under TSan; reaching it is a failure.
inline constexpr std::chrono::milliseconds kEventuallyLimit{std::chrono::seconds(30)};

// Polls `condition` (every millisecond at first, then every 10 ms) until it holds or `limit`
// passes; returns its last value. [[nodiscard]]: a wait whose outcome is not asserted hides hangs.
template <typename Condition>
[[nodiscard]] bool eventually(std::chrono::milliseconds limit, Condition&& condition) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  auto pause = std::chrono::milliseconds(1);
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(pause);
    if (pause < std::chrono::milliseconds(10)) pause += std::chrono::milliseconds(1);
  }
  return condition();
}

template <typename Condition>
[[nodiscard]] bool eventually(Condition&& condition) {
  return eventually(kEventuallyLimit, std::forward<Condition>(condition));
}

}  // namespace strata::testing
