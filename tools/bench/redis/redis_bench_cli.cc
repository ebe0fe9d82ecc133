// `strata bench redis`: the command-line face of redis/redis_bench.h.
#include <iostream>
#include <memory>

#include "bench/redis/redis_bench.h"
#include "cli/commands.h"
#include "cli/tls_flags.h"
#include "strata/codec/json.h"

namespace strata::cli {

void add_bench_redis(CLI::App& bench) {
  auto* command = bench.add_subcommand(
      "redis", "Compare strata's Redis client with raw hiredis (GET, SET, MGET), same run");
  auto options = std::make_shared<bench::RedisBenchOptions>();
  auto json = std::make_shared<bool>(false);
  command->add_option("--redis", options->redis_url, "Standalone server URL (redis://host:port)");
  command->add_option("--redis-cluster", options->cluster_url,
                      "Redis Cluster URL (redis+cluster://host:port,...)");
  command->add_option("--rounds", options->rounds, "Alternating strata/hiredis rounds")
      ->capture_default_str();
  command->add_option("--operations", options->operations, "GETs and SETs per round and side")
      ->capture_default_str();
  command->add_option("--mget-batches", options->mget_batches, "MGET calls per round and side")
      ->capture_default_str();
  command->add_option("--mget-keys", options->mget_keys, "Keys per MGET")->capture_default_str();
  command->add_option("--value-size", options->value_size, "Bytes per value")
      ->capture_default_str();
  command->add_option("--keys", options->keyspace, "Distinct keys")->capture_default_str();
  command
      ->add_option("--threads", options->threads,
                   "Also GET from N threads: one strata client against N raw hiredis "
                   "connections (0: skipped)")
      ->capture_default_str();
  command->add_option("--tls", options->tls_url,
                      "Also strata over this rediss:// URL against --redis (the same server's "
                      "TLS and plaintext ports)");
  auto tls = std::make_shared<tools::TlsFlags>();
  tls->add_to(*command);
  command->add_flag("--json", *json, "Print one JSON object instead of the table");
  command->callback([options, json, tls] {
    options->tls_url = tls->apply_to(options->tls_url);
    const auto report = bench::run_redis_bench(*options);
    if (*json) {
      std::cout << bench::to_json(report).dump() << '\n';
    } else {
      bench::print_redis_bench(std::cout, report);
    }
  });
}

}  // namespace strata::cli
