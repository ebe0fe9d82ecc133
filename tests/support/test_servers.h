// test_servers.h: how strata's tests find the real servers `make test` starts.
//
// scripts/test-servers.sh exports STRATA_TEST_REDIS_URL, STRATA_TEST_REDIS_CLUSTER_URL,
// STRATA_TEST_POSTGRES_URL (and a few more). A test that needs a server asks for its variable
// with STRATA_SERVER_URL: under `make test` (STRATA_TEST_REQUIRE_SERVERS=1) a missing variable
// fails the test; elsewhere the test is skipped with a message saying how to run it.
#pragma once

#include <gtest/gtest.h>

#include <optional>
#include <string>

namespace strata::testing {

[[nodiscard]] std::optional<std::string> find_server(const char* variable);
[[nodiscard]] bool servers_required();
[[nodiscard]] std::string missing_server_message(const char* variable);

// For a case that adds a server to a test which also runs without one (an extra row, an L2 for
// the same round trip): the URL when set; when missing, nullopt, and under `make test`
// (STRATA_TEST_REQUIRE_SERVERS=1) a recorded failure too, so the case never silently drops.
[[nodiscard]] std::optional<std::string> optional_server(const char* variable);

// Runs `scripts/test-servers.sh COMMAND` (e.g. "postgres-stop") against the running servers.
void control_servers(const std::string& command);

}  // namespace strata::testing

// Declares `std::string var` holding the URL in environment variable `variable`, or fails/skips.
#define STRATA_SERVER_URL(var, variable)                                 \
  std::string var;                                                       \
  if (auto strata_found_ = ::strata::testing::find_server(variable)) {   \
    var = *strata_found_;                                                \
  } else if (::strata::testing::servers_required()) {                    \
    FAIL() << ::strata::testing::missing_server_message(variable);       \
  } else {                                                               \
    GTEST_SKIP() << ::strata::testing::missing_server_message(variable); \
  }
