// `strata bench coherence`: the command-line face of coherence/coherence_bench.h. The hidden
// --worker options make the same binary a worker process (the bench spawns /proc/self/exe).
#include <filesystem>
#include <iostream>
#include <memory>

#include "bench/coherence/coherence_bench.h"
#include "cli/commands.h"
#include "cli/tls_flags.h"
#include "strata/codec/json.h"

namespace strata::cli {

void add_bench_coherence(CLI::App& bench) {
  auto* command = bench.add_subcommand(
      "coherence",
      "How stale each process's L1 gets after another process writes, per coherence mode "
      "(none, tracking, bus), on a standalone server and on a cluster");
  auto options = std::make_shared<bench::CoherenceBenchOptions>();
  auto worker = std::make_shared<bench::CoherenceWorkerOptions>();
  auto json = std::make_shared<bool>(false);
  auto duration_ms = std::make_shared<long long>(options->duration.count());
  auto quiesce_ms = std::make_shared<long long>(options->quiesce.count());
  auto ttl_ms = std::make_shared<long long>(options->local_ttl.count());
  command->add_option("--redis", options->redis_url, "Standalone server URL (redis://host:port)");
  command->add_option("--redis-cluster", options->cluster_url,
                      "Redis Cluster URL (redis+cluster://host:port,...)");
  command->add_option("--modes", options->modes, "Coherence modes to compare (none, tracking, bus)")
      ->delimiter(',')
      ->capture_default_str();
  command->add_option("--writers", options->writers, "Writer processes")->capture_default_str();
  command->add_option("--readers", options->readers, "Reader processes")->capture_default_str();
  command->add_option("--keys", options->keys, "Shared keys")->capture_default_str();
  command->add_option("--write-rate", options->write_rate, "Writes per second, all writers")
      ->capture_default_str();
  command->add_option("--read-rate", options->read_rate, "Reads per second per reader")
      ->capture_default_str();
  command->add_option("--duration-ms", *duration_ms, "How long the writers write")
      ->capture_default_str();
  command->add_option("--quiesce-ms", *quiesce_ms, "Wait after the writers stop before the check")
      ->capture_default_str();
  command->add_option("--local-ttl-ms", *ttl_ms, "L1 TTL in mode none")->capture_default_str();
  command->add_flag("--json", *json, "Print one JSON object instead of the table");
  const std::string hidden;  // an empty group hides the worker options from --help
  command->add_option("--worker", worker->role, "worker role")->group(hidden);
  command->add_option("--worker-index", worker->index, "worker index")->group(hidden);
  command->add_option("--worker-dir", worker->dir, "worker directory")->group(hidden);
  command->add_option("--worker-mode", worker->mode, "worker mode")->group(hidden);
  command->add_option("--worker-url", worker->url, "worker URL")->group(hidden);
  command->add_option("--worker-prefix", worker->prefix, "worker key prefix")->group(hidden);
  command->add_option("--worker-start", worker->start_ns, "worker start time")->group(hidden);
  auto tls = std::make_shared<tools::TlsFlags>();
  tls->add_to(*command);
  command->callback([options, worker, json, duration_ms, quiesce_ms, ttl_ms, tls] {
    options->duration = std::chrono::milliseconds(*duration_ms);
    options->quiesce = std::chrono::milliseconds(*quiesce_ms);
    options->local_ttl = std::chrono::milliseconds(*ttl_ms);
    if (!worker->role.empty()) {
      bench::run_coherence_worker(*options, *worker);
      return;
    }
    tls->apply_to_each(options->redis_url, options->cluster_url);
    options->executable = std::filesystem::read_symlink("/proc/self/exe").string();
    const auto report = bench::run_coherence_bench(*options);
    if (*json) {
      std::cout << bench::to_json(report).dump() << '\n';
    } else {
      bench::print_coherence_bench(std::cout, report);
    }
  });
}

}  // namespace strata::cli
