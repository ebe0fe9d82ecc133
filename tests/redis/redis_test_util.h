// redis_test_util.h: small helpers shared by the Redis suites.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <random>
#include <string>
#include <thread>

namespace strata::testing {

// A key prefix unique to this test and this run, so tests can run in parallel on one server.
inline std::string unique_prefix() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = std::string(info->test_suite_name()) + "." + info->name();
  for (char& c : name) {
    if (c == '/' || c == '*' || c == '?' || c == '[' || c == ']' || c == '\\' || c == '{' ||
        c == '}')
      c = '_';
  }
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return "strata-test:" + name + ":" + std::to_string(rng() % 1000000000) + ":";
}

// Polls `condition` every 20 ms until it holds or `limit` passes; returns its last value.
template <typename Condition>
bool eventually(std::chrono::milliseconds limit, Condition&& condition) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return condition();
}

}  // namespace strata::testing
