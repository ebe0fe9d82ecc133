// `strata bench`: the command-line face of bench/user_service.h.
#include <iostream>
#include <memory>

#include "bench/user_service.h"
#include "cli/commands.h"

namespace strata::cli {

CLI::App& add_bench(CLI::App& app) {
  auto* bench = app.add_subcommand(
      "bench", "Replay a user service's workload through each caching pattern, side by side");
  bench->require_subcommand(0, 1);
  auto options = std::make_shared<bench::UserServiceOptions>();
  auto json = std::make_shared<bool>(false);
  bench->add_option("--users", options->users, "Rows in the users table")->capture_default_str();
  bench->add_option("--operations", options->operations, "Requests replayed through each pattern")
      ->capture_default_str();
  bench->add_option("--zipf", options->zipf_s, "Zipf exponent of key popularity")
      ->capture_default_str();
  bench->add_option("--write-fraction", options->write_fraction, "Share of requests that write")
      ->capture_default_str();
  bench
      ->add_option("--cache-fraction", options->cache_fraction,
                   "L1 capacity as a share of the users")
      ->capture_default_str();
  bench->add_option("--seed", options->seed, "Random seed")->capture_default_str();
  bench->add_option("--redis", options->redis_url,
                    "Redis URL (redis://host:port): adds the two-tier row (L1 + Redis L2)");
  bench->add_option("--redis-cluster", options->redis_cluster_url,
                    "Redis Cluster URL (redis+cluster://host:port,...): adds the two-tier "
                    "cluster row");
  bench->add_flag("--json", *json, "Print one JSON object instead of the table");
  bench->callback([bench, options, json] {
    if (!bench->get_subcommands().empty()) return;  // `strata bench <name>` ran instead
    const auto report = bench::run_user_service(*options);
    if (*json) {
      std::cout << bench::to_json(report).dump() << '\n';
    } else {
      bench::print_table(std::cout, report);
    }
  });
  return *bench;
}

}  // namespace strata::cli
