// strata: the command-line tool. A thin main over library functions (tools/bench/...), so the
// tests call the same code. `strata --help` lists the commands.
#include <CLI/CLI.hpp>

#include <iostream>

#include "bench/user_service.h"
#include "strata/error.h"

namespace {

void add_bench(CLI::App& app) {
  auto* bench = app.add_subcommand(
      "bench", "Replay a user service's workload through each caching pattern, side by side");
  auto options = std::make_shared<strata::bench::UserServiceOptions>();
  auto json = std::make_shared<bool>(false);
  bench->add_option("--users", options->users, "Rows in the users table")->capture_default_str();
  bench->add_option("--operations", options->operations, "Requests replayed through each pattern")
      ->capture_default_str();
  bench->add_option("--zipf", options->zipf_s, "Zipf exponent of key popularity")
      ->capture_default_str();
  bench->add_option("--write-fraction", options->write_fraction, "Share of requests that write")
      ->capture_default_str();
  bench->add_option("--seed", options->seed, "Random seed")->capture_default_str();
  bench->add_flag("--json", *json, "Print one JSON object instead of the table");
  bench->callback([options, json] {
    const auto report = strata::bench::run_user_service(*options);
    if (*json) {
      std::cout << strata::bench::to_json(report).dump() << '\n';
    } else {
      strata::bench::print_table(std::cout, report);
    }
  });
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"strata: caching patterns between a C++ service and its database"};
  app.require_subcommand(1);
  add_bench(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const strata::InvalidArgumentError& e) {
    std::cerr << "strata: " << e.what() << '\n';
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "strata: " << e.what() << '\n';
    return 1;
  }
  return 0;
}
