// `strata bench write-behind`: the command-line face of write_behind/write_behind_bench.h.
#include <iostream>
#include <memory>

#include "bench/write_behind/write_behind_bench.h"
#include "cli/commands.h"
#include "strata/codec/json.h"

namespace strata::cli {

void add_bench_write_behind(CLI::App& bench) {
  auto* cmd = bench.add_subcommand(
      "write-behind",
      "Write-behind (journal, group commit) vs write-through, same threads and rows: per "
      "write and batched; COPY / a bulk transaction as the bulk reference");
  auto options = std::make_shared<bench::WriteBehindBenchOptions>();
  auto json = std::make_shared<bool>(false);
  auto fsync_ms = std::make_shared<std::int64_t>(options->fsync_interval.count());
  cmd->add_option("--postgres", options->postgres_url,
                  "PostgreSQL URL (postgresql://...); without it, SQLite in a temporary file");
  cmd->add_option("--rows", options->rows,
                  "Rows per round for the batched comparison and the bulk reference")
      ->capture_default_str();
  cmd->add_option("--write-through-rows", options->write_through_rows,
                  "Rows per round for the per-write comparison (one row per call, both sides)")
      ->capture_default_str();
  cmd->add_option("--threads", options->thread_counts,
                  "Thread counts of the per-write comparison (comma-separated)")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--rounds", options->rounds, "Rounds; each alternates all methods")
      ->capture_default_str();
  cmd->add_option("--writers", options->writers, "Threads of the batched comparison (both sides)")
      ->capture_default_str();
  cmd->add_option("--group", options->group,
                  "Rows per call in the batched comparison (put_many / write_batch)")
      ->capture_default_str();
  cmd->add_option("--batch", options->batch, "Flusher batch size")->capture_default_str();
  cmd->add_option("--flushers", options->flushers, "Flusher threads (keys partitioned by hash)")
      ->capture_default_str();
  cmd->add_option("--fsync-ms", *fsync_ms,
                  "Journal fsync interval in milliseconds; 0: group commit (every write)")
      ->capture_default_str();
  cmd->add_flag("--json", *json, "Print one JSON object instead of the table");
  cmd->callback([options, json, fsync_ms] {
    options->fsync_interval = std::chrono::milliseconds(*fsync_ms);
    options->validate();
    if (*json) {
      std::cout << bench::to_json(bench::run_write_behind_bench(*options)).dump() << '\n';
      return;
    }
    bench::print_configuration(std::cout, *options);
    const auto report = bench::run_write_behind_bench(*options, [](const std::string& line) {
      std::cout << "  " << line << '\n' << std::flush;
    });
    std::cout << '\n';
    bench::print_report(std::cout, report);
  });
}

}  // namespace strata::cli
