// `strata bench source`: the command-line face of source/source_bench.h.
#include <iostream>
#include <memory>

#include "bench/source/source_bench.h"
#include "cli/commands.h"
#include "strata/codec/json.h"

namespace strata::cli {

void add_bench_source(CLI::App& bench) {
  auto* cmd = bench.add_subcommand(
      "source", "Source-of-record writes: batched upserts vs one transaction per row vs COPY");
  auto options = std::make_shared<bench::SourceBenchOptions>();
  auto json = std::make_shared<bool>(false);
  cmd->add_option("--postgres", options->postgres_url,
                  "PostgreSQL URL (postgresql://...); without it, SQLite in a temporary file");
  cmd->add_option("--rows", options->rows, "Rows per round for batch upserts and COPY")
      ->capture_default_str();
  cmd->add_option("--batch", options->batch, "Rows per batched upsert")->capture_default_str();
  cmd->add_option("--rounds", options->rounds, "Rounds; each alternates all methods")
      ->capture_default_str();
  cmd->add_option("--row-per-txn-rows", options->row_per_txn_rows,
                  "Rows per round written one transaction per row (capped at --rows)")
      ->capture_default_str();
  cmd->add_flag("--json", *json, "Print one JSON object instead of the table");
  cmd->callback([options, json] {
    options->validate();
    if (*json) {
      std::cout << bench::to_json(bench::run_source_bench(*options)).dump() << '\n';
      return;
    }
    bench::print_configuration(std::cout, *options);
    const auto report = bench::run_source_bench(*options, [](const std::string& line) {
      std::cout << "  " << line << '\n' << std::flush;
    });
    std::cout << '\n';
    bench::print_report(std::cout, report);
  });
}

}  // namespace strata::cli
