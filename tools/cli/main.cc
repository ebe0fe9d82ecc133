// strata: the command-line tool. A thin main over library functions in tools/<area>/, so that
// the tests call the same code. `strata --help` lists the commands.
#include <iostream>
#include <string>
#include <string_view>

#include "cli/commands.h"
#include "strata/error.h"

namespace {

// CLI11 reads an unsigned option with strtoull, which takes "-1" as 2^64 - 1: every unsigned
// option of every command refuses a negative number instead.
void refuse_negative_unsigned(CLI::App& app) {
  for (CLI::Option* option : app.get_options()) {
    if (option->get_type_name().rfind("UINT", 0) != 0) continue;
    option->check(CLI::Validator(
        [](std::string& value) -> std::string {
          const auto first = value.find_first_not_of(" \t\n\r\f\v");
          if (first != std::string::npos && value[first] == '-') {
            return "must not be negative: " + value;
          }
          return {};
        },
        ""));
  }
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
    refuse_negative_unsigned(*sub);
  }
}

// An error message for the terminal: it may quote a server (a Redis error reply, a key), so
// control bytes (ESC sequences, CR, BEL, DEL) are shown as \xNN.
std::string printable(std::string_view message) {
  std::string out;
  for (const char c : message) {
    const auto b = static_cast<unsigned char>(c);
    if (b < 0x20 || b == 0x7f) {
      static constexpr char kDigits[] = "0123456789abcdef";
      out += "\\x";
      out += kDigits[b >> 4];
      out += kDigits[b & 0x0f];
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"strata: caching patterns between a C++ service and its database"};
  app.require_subcommand(1);
  CLI::App& bench = strata::cli::add_bench(app);
  // Each area adds its commands here (declared in tools/cli/commands.h).
  strata::cli::add_bench_l1(bench);
  strata::cli::add_bench_redis(bench);
  strata::cli::add_sim(app);
  strata::cli::add_bench_source(bench);
  strata::cli::add_bench_write_behind(bench);
  strata::cli::add_bench_stampede(bench);
  strata::cli::add_ops(app);
  strata::cli::add_bench_coherence(bench);

  refuse_negative_unsigned(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::RuntimeError& e) {  // a command's own outcome (fail_quietly in tools/ops)
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // --help prints and exits 0; every other parse error is bad usage: exit status 2 (the
    // convention of docs/operations-cli.md), not CLI11's own codes (105, 106, 109, ...).
    return app.exit(e) == 0 ? 0 : 2;
  } catch (const strata::InvalidArgumentError& e) {
    std::cerr << "strata: " << printable(e.what()) << '\n';
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "strata: " << printable(e.what()) << '\n';
    return 1;
  }
  return 0;
}
