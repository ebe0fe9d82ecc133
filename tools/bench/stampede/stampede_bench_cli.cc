// `strata bench stampede`: the command-line face of stampede/stampede_bench.h. The same command
// with --worker is what the parent runs in each worker process.
#include <iostream>
#include <memory>

#include "bench/stampede/stampede_bench.h"
#include "cli/commands.h"
#include "cli/tls_flags.h"
#include "strata/codec/json.h"
#include "strata/error.h"

namespace strata::cli {

void add_bench_stampede(CLI::App& bench) {
  auto* command = bench.add_subcommand(
      "stampede",
      "P processes x T threads read one hot key as it expires: source loads per expiry and p99 "
      "latency, unprotected and with each protection (single-flight, lease, XFetch, SWR)");
  auto options = std::make_shared<bench::StampedeBenchOptions>();
  auto worker = std::make_shared<bench::StampedeWorkerOptions>();
  auto is_worker = std::make_shared<bool>(false);
  auto json = std::make_shared<bool>(false);
  auto interval_ms = std::make_shared<long>(options->interval.count());
  auto latency_ms = std::make_shared<long>(options->load_latency.count());
  auto think_ms = std::make_shared<long>(options->think.count());
  command->add_option("--redis", options->redis_url, "Standalone server URL (redis://host:port)");
  command->add_option("--redis-cluster", options->cluster_url,
                      "Redis Cluster URL (redis+cluster://host:port,...)");
  command->add_option("--processes", options->processes, "Worker processes")->capture_default_str();
  command->add_option("--threads", options->threads, "Threads per process")->capture_default_str();
  command->add_option("--expiries", options->expiries, "Expiries per mode")->capture_default_str();
  command->add_option("--interval-ms", *interval_ms, "Time between expiries (the TTL period)")
      ->capture_default_str();
  command->add_option("--load-latency-ms", *latency_ms, "Source latency")->capture_default_str();
  command->add_option("--think-ms", *think_ms, "Pause between two reads of a thread")
      ->capture_default_str();
  command->add_option("--modes", options->modes,
                      "Modes: unprotected single-flight lease xfetch swr (default: all)");
  command->add_flag("--json", *json, "Print one JSON object instead of the table");
  // Internal: how the parent starts its workers (/proc/self/exe bench stampede --worker ...).
  auto* w = command->add_flag("--worker", *is_worker, "Internal: run as a worker process");
  w->group("");
  command->add_option("--redis-url", worker->url)->group("");
  command->add_option("--mode", worker->mode)->group("");
  command->add_option("--prefix", worker->prefix)->group("");
  command->add_option("--index", worker->index)->group("");
  auto tls = std::make_shared<tools::TlsFlags>();
  tls->add_to(*command);
  command->callback([=] {
    if (*is_worker) {
      worker->threads = options->threads;
      worker->interval = std::chrono::milliseconds(*interval_ms);
      worker->load_latency = std::chrono::milliseconds(*latency_ms);
      worker->think = std::chrono::milliseconds(*think_ms);
      if (bench::run_stampede_worker(*worker) != 0) {
        throw InternalError("bench stampede: worker " + std::to_string(worker->index) + " failed");
      }
      return;
    }
    tls->apply_to_each(options->redis_url, options->cluster_url);
    options->interval = std::chrono::milliseconds(*interval_ms);
    options->load_latency = std::chrono::milliseconds(*latency_ms);
    options->think = std::chrono::milliseconds(*think_ms);
    const auto report = bench::run_stampede_bench(*options);
    if (*json) {
      std::cout << bench::to_json(report).dump() << '\n';
    } else {
      bench::print_stampede_bench(std::cout, report);
    }
  });
}

}  // namespace strata::cli
