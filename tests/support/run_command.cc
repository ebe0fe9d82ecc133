#include "support/run_command.h"

#include <sys/wait.h>

#include <cstdio>
#include <memory>

namespace strata::testing {

CommandResult run_command(const std::string& command_line) {
  CommandResult result;
  struct Closer {
    int* status;
    void operator()(FILE* f) const noexcept { *status = pclose(f); }
  };
  int status = -1;
  {
    std::unique_ptr<FILE, Closer> pipe(popen(command_line.c_str(), "r"), Closer{&status});
    if (!pipe) return result;
    char buffer[4096];
    std::size_t n;
    while ((n = std::fread(buffer, 1, sizeof buffer, pipe.get())) > 0)
      result.output.append(buffer, n);
  }
  result.exit_code = (status != -1 && WIFEXITED(status)) ? WEXITSTATUS(status) : -1;
  return result;
}

std::string strata_cli() {
  return STRATA_CLI_PATH;
}

}  // namespace strata::testing
