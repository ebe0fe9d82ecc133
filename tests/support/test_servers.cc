#include "support/test_servers.h"

#include <cstdlib>

namespace strata::testing {

std::optional<std::string> find_server(const char* variable) {
  const char* value = std::getenv(variable);
  if (value == nullptr || *value == '\0') return std::nullopt;
  return std::string(value);
}

bool servers_required() {
  const char* value = std::getenv("STRATA_TEST_REQUIRE_SERVERS");
  return value != nullptr && std::string(value) == "1";
}

std::string missing_server_message(const char* variable) {
  return std::string(variable) +
         " is not set: this test needs a real server. Run `make test`, or start the servers "
         "with `scripts/test-servers.sh start` and `source \"$(cat build/test-servers.dir)/env\"`.";
}

std::optional<std::string> optional_server(const char* variable) {
  auto found = find_server(variable);
  if (!found && servers_required()) ADD_FAILURE() << missing_server_message(variable);
  return found;
}

void control_servers(const std::string& command) {
  const auto script = find_server("STRATA_TEST_SERVERS_SCRIPT");
  ASSERT_TRUE(script) << "STRATA_TEST_SERVERS_SCRIPT is not set (run under `make test`)";
  const std::string line = "'" + *script + "' " + command;
  ASSERT_EQ(std::system(line.c_str()), 0) << "failed: " << line;
}

}  // namespace strata::testing
