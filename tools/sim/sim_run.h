// sim/sim_run.h: one `strata sim --trace` run as a library function: validate the options, read
// the trace, run every (policy, capacity) cell, and print a table or JSON lines.
//
//   strata::sim::SimOptions o;  o.trace = "gli.trace.gz";  o.capacities = {1000};
//   strata::sim::run_sim(o, std::cout, std::cerr, /*json=*/false);
#pragma once

#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "sim/simulator.h"
#include "sim/trace_reader.h"

namespace strata::sim {

struct SimOptions {
  std::filesystem::path trace;
  std::optional<TraceFormat> format;  // guessed from the path when empty
  std::vector<std::uint64_t> capacities;
  std::vector<std::string> policies = {"lru"};
  bool weighted = false;
  unsigned threads = 2;
};

// Throws InvalidArgumentError naming the option at fault.
void validate(const SimOptions& options);

struct SimRun {
  std::string trace_name;
  TraceFormat format = TraceFormat::kText;
  std::size_t requests = 0;
  std::uint32_t distinct_keys = 0;
  double read_seconds = 0;
  double simulate_seconds = 0;
  std::vector<SimResult> results;  // policy-major: every capacity of the first policy, then ...
};

// Validates, prints the configuration to `log`, reads the trace, runs the cells.
[[nodiscard]] SimRun run_sim(const SimOptions& options, std::ostream& log);

void print_sim_table(std::ostream& out, const SimRun& run);
// One JSON object per line: trace, format, policy, capacity, weighted, requests, hits,
// hit_ratio (a fraction), and byte counts when weighted.
void print_sim_json(std::ostream& out, const SimRun& run);

}  // namespace strata::sim
