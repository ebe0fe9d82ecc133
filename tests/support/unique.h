// unique.h: names unique to this process and call, so suites running in parallel can share the
// test servers (Redis keys and prefixes, SQL tables, journal directories, bus channels).
// Use unique_name("users") for a table or key, unique_prefix() for a Redis key prefix named
// after the running test:   const auto table = testing::unique_name("strata_users");
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <random>
#include <string>

namespace strata::testing {

// PREFIX_<pid>_<random>_<counter>: letters, digits and underscores only past the prefix, so it is
// a valid SQL identifier when the prefix is, and a valid Redis key in any mode.
inline std::string unique_name(const std::string& prefix) {
  static std::atomic<int> counter{0};
  static const unsigned salt = std::random_device{}() % 100000;
  return prefix + "_" + std::to_string(::getpid()) + "_" + std::to_string(salt) + "_" +
         std::to_string(counter++);
}

// "strata-test:<Suite>.<Test>:<unique>:", a Redis key prefix that names the running test (glob
// and hash-tag characters replaced, so it can be used in SCAN MATCH patterns and cluster keys).
inline std::string unique_prefix() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = info == nullptr ? std::string("no-test")
                                     : std::string(info->test_suite_name()) + "." + info->name();
  for (char& c : name) {
    if (c == '/' || c == '*' || c == '?' || c == '[' || c == ']' || c == '\\' || c == '{' ||
        c == '}')
      c = '_';
  }
  return "strata-test:" + unique_name(name) + ":";
}

}  // namespace strata::testing
