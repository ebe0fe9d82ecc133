// strata: the command-line tool. A thin main over library functions in tools/<area>/, so that
// the tests call the same code. `strata --help` lists the commands.
#include <iostream>

#include "cli/commands.h"
#include "strata/error.h"

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
