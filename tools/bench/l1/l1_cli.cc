// `strata bench l1`: the command-line face of l1/l1_bench.h.
#include <unistd.h>

#include <iostream>
#include <memory>

#include "bench/l1/l1_bench.h"
#include "cli/commands.h"
#include "strata/codec/json.h"

namespace strata::cli {

void add_bench_l1(CLI::App& bench) {
  auto* l1 = bench.add_subcommand(
      "l1",
      "LocalCache throughput on Zipf keys against a raw sharded map and a mutex LRU (hits; "
      "capacity a fraction of the keys with loads, at 1 and 2 threads; Caffeine's GetPut "
      "shape), and its memory overhead per entry");
  auto options = std::make_shared<bench::L1BenchOptions>();
  auto json = std::make_shared<bool>(false);
  l1->add_option("--threads", options->threads, "Worker threads")->capture_default_str();
  l1->add_option("--keys", options->keys, "Distinct keys (all resident)")->capture_default_str();
  l1->add_option("--zipf", options->zipf_s, "Zipf exponent")->capture_default_str();
  l1->add_option("--seconds", options->seconds_per_round, "Seconds per implementation per round")
      ->capture_default_str();
  l1->add_option("--rounds", options->rounds, "Alternating rounds (medians reported)")
      ->capture_default_str();
  l1->add_option("--memory-entries", options->memory_entries, "Entries for the memory measurement")
      ->capture_default_str();
  auto getput = std::make_shared<bool>(false);
  auto* fraction =
      l1->add_option("--capacity-fraction", options->capacity_fraction,
                     "Capacity as a fraction of --keys for the loading section (get_or_load "
                     "on a miss, 1 and 2 threads); given without --getput: run only that section")
          ->capture_default_str();
  l1->add_flag("--getput", *getput,
               "Caffeine's GetPutBenchmark shape (32768 keys, capacity 2x, 100% hits; read-only, "
               "75/25 and write-only at --threads); given without --capacity-fraction: run only "
               "that section");
  l1->add_flag("--json", *json, "Print one JSON object instead of the table");
  l1->callback([options, json, getput, fraction] {
    const bool capacity = fraction->count() > 0;
    if (*getput || capacity) {  // a section named: run the named ones only
      options->run_hits = false;
      options->run_getput = *getput;
      options->run_capacity = capacity;
    }
    std::ostream* progress = (!*json && isatty(STDERR_FILENO)) ? &std::cerr : nullptr;
    const auto report = bench::run_l1_bench(*options, progress);
    if (*json) {
      std::cout << bench::to_json(report).dump() << '\n';
    } else {
      bench::print_l1_report(std::cout, report);
    }
  });
}

}  // namespace strata::cli
