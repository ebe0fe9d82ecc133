// run_command.h: runs a shell command line from a test and captures what it prints.
#pragma once

#include <string>

namespace strata::testing {

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout, and stderr too when the command line says 2>&1
};

[[nodiscard]] CommandResult run_command(const std::string& command_line);

// The path of the strata binary under test (set by CMake).
[[nodiscard]] std::string strata_cli();

}  // namespace strata::testing
