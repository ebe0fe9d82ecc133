// `strata bench`: the command-line face of bench/user_service.h.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include "bench/user_service/user_service.h"
#include "cli/commands.h"
#include "strata/codec/json.h"
#include "strata/error.h"
#include "strata/metrics/metrics.h"
#include "strata/metrics/metrics_server.h"

namespace strata::cli {
namespace {

// "5ms", "250us", "1s", "0": a duration in microseconds.
std::chrono::microseconds parse_latency(const std::string& text) {
  std::size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    throw InvalidArgumentError("--source-rtt: \"" + text + "\" is not a duration (e.g. 500us)");
  }
  const std::string unit = text.substr(used);
  double scale = 0;
  if (unit == "us") {
    scale = 1;
  } else if (unit == "ms") {
    scale = 1e3;
  } else if (unit == "s") {
    scale = 1e6;
  } else if (unit.empty() && value == 0) {
    scale = 1;
  } else {
    throw InvalidArgumentError("--source-rtt: \"" + text + "\" needs a unit: us, ms or s");
  }
  if (value < 0) throw InvalidArgumentError("--source-rtt must be >= 0");
  return std::chrono::microseconds(static_cast<std::int64_t>(value * scale));
}

// A one-line progress bar on stderr, redrawn in place; cleared at the end.
class ProgressBar {
 public:
  void operator()(std::string_view pattern, std::uint64_t done, std::uint64_t total) {
    constexpr int kWidth = 30;
    const double share = total ? static_cast<double>(done) / static_cast<double>(total) : 1.0;
    const int percent = static_cast<int>(share * 100);
    if (pattern == pattern_ && percent == percent_ && done != total) return;  // nothing new
    pattern_ = pattern;
    percent_ = percent;
    const int filled = static_cast<int>(share * kWidth);
    std::fprintf(stderr, "\r%-18.*s [%.*s%*s] %3.0f%%", static_cast<int>(pattern.size()),
                 pattern.data(), filled, "##############################", kWidth - filled, "",
                 share * 100);
    if (done == total) std::fprintf(stderr, "\r%*s\r", 18 + kWidth + 10, "");
    std::fflush(stderr);
  }

 private:
  std::string pattern_;
  int percent_ = -1;
};

}  // namespace

CLI::App& add_bench(CLI::App& app) {
  auto* bench = app.add_subcommand(
      "bench", "Replay a user service's workload through each caching pattern, side by side");
  bench->require_subcommand(0, 1);
  // Workload flags land in `flags`; the ones given override the scenario file's values.
  auto flags = std::make_shared<bench::UserServiceOptions>();
  auto latency = std::make_shared<std::string>("500us");
  auto scenario = std::make_shared<std::string>();
  auto plot = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  auto metrics_port = std::make_shared<int>(-1);
  std::vector<std::pair<CLI::Option*, std::function<void(bench::UserServiceOptions&)>>> workload;
  const auto add_workload = [&](CLI::Option* option, auto member) {
    option->capture_default_str();
    workload.emplace_back(
        option, [flags, member](bench::UserServiceOptions& o) { o.*member = (*flags).*member; });
  };
  add_workload(bench->add_option("--users", flags->users, "Rows in the users table"),
               &bench::UserServiceOptions::users);
  add_workload(bench->add_option("--operations", flags->operations,
                                 "Requests replayed through each pattern"),
               &bench::UserServiceOptions::operations);
  add_workload(bench->add_option("--clients", flags->clients,
                                 "Concurrent clients (threads) sending the requests"),
               &bench::UserServiceOptions::clients);
  add_workload(bench->add_option("--source-connections", flags->source_connections,
                                 "Connections to the source (a pool): calls beyond wait; 0 for "
                                 "unlimited"),
               &bench::UserServiceOptions::source_connections);
  add_workload(bench->add_option("--zipf", flags->zipf_s, "Zipf exponent of key popularity"),
               &bench::UserServiceOptions::zipf_s);
  add_workload(
      bench->add_option("--write-fraction", flags->write_fraction, "Share of requests that write"),
      &bench::UserServiceOptions::write_fraction);
  add_workload(bench->add_option("--cache-fraction", flags->cache_fraction,
                                 "L1 capacity as a share of the users"),
               &bench::UserServiceOptions::cache_fraction);
  add_workload(bench->add_option("--seed", flags->seed, "Random seed"),
               &bench::UserServiceOptions::seed);
  auto* latency_option = bench->add_option(
      "--source-rtt,--source-latency", *latency,
      "Round trip added to every source call, a database across a network (default 500us; "
      "0 for none)");
  bench
      ->add_option("--scenario", *scenario,
                   "A scenario file (bench/scenarios/*.json); flags given override it")
      ->check(CLI::ExistingFile);
  bench->add_option("--redis", flags->redis_url,
                    "Redis URL (redis://host:port): adds the two-tier row (L1 + Redis L2)");
  bench->add_option("--redis-cluster", flags->redis_cluster_url,
                    "Redis Cluster URL (redis+cluster://host:port,...): adds the two-tier "
                    "cluster row");
  bench->add_option(
      "--postgres", flags->postgres_url,
      "PostgreSQL URL (postgresql://...): the users table lives there, not in SQLite");
  bench->add_flag("--json", *json, "Print one JSON object instead of the table");
  bench->add_option("--plot", *plot, "Write an SVG chart of hit ratio and latency per pattern");
  bench
      ->add_option("--metrics-port", *metrics_port,
                   "Serve Prometheus metrics at http://127.0.0.1:PORT/metrics while the bench "
                   "runs (0: any free port)")
      ->check(CLI::Range(0, 65535));
  bench->callback(
      [bench, flags, latency, latency_option, scenario, plot, json, metrics_port, workload] {
        if (!bench->get_subcommands().empty()) return;  // `strata bench <name>` ran instead
        bench::UserServiceOptions options;
        if (!scenario->empty()) bench::load_scenario(*scenario, options);
        for (const auto& [option, copy] : workload) {
          if (option->count() > 0) copy(options);
        }
        if (latency_option->count() > 0) options.source_latency = parse_latency(*latency);
        options.redis_url = flags->redis_url;
        options.redis_cluster_url = flags->redis_cluster_url;
        options.postgres_url = flags->postgres_url;
        if (::isatty(STDERR_FILENO)) options.progress = ProgressBar();

        std::optional<MetricsRegistry> registry;
        std::optional<MetricsServer> server;
        if (*metrics_port >= 0) {
          registry.emplace();
          server.emplace(*registry,
                         MetricsServerOptions{.port = static_cast<std::uint16_t>(*metrics_port)});
          options.metrics = &*registry;
          std::cerr << "strata bench: metrics at " << server->url() << '\n';
        }
        const auto report = bench::run_user_service(options);
        if (*json) {
          std::cout << bench::to_json(report).dump() << '\n';
        } else {
          bench::print_table(std::cout, report);
        }
        if (!plot->empty()) {
          std::ofstream out(*plot);
          bench::write_svg(out, report);
          out.close();
          if (!out) throw UnavailableError("--plot: cannot write " + *plot);
          if (!*json) std::cout << "\nchart written to " << *plot << '\n';
        }
      });
  return *bench;
}

}  // namespace strata::cli
