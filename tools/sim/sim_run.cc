// One `strata sim --trace` run: options checked up front, the configuration printed first.
#include "sim/sim_run.h"

#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <ostream>

#include "common/text_table.h"
#include "strata/error.h"

namespace strata::sim {
namespace {

using Clock = std::chrono::steady_clock;
using tools::percent;
using tools::TextTable;

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ",") + x;
  return s;
}

std::string join(const std::vector<std::uint64_t>& v) {
  std::string s;
  for (auto x : v) s += (s.empty() ? "" : ",") + std::to_string(x);
  return s;
}

}  // namespace

void validate(const SimOptions& options) {
  if (options.trace.empty()) throw InvalidArgumentError("--trace is required");
  if (options.capacities.empty()) throw InvalidArgumentError("--capacity is required");
  for (auto c : options.capacities) {
    if (c == 0) throw InvalidArgumentError("--capacity must be positive");
  }
  if (options.policies.empty()) throw InvalidArgumentError("--policy needs at least one policy");
  for (const auto& p : options.policies) (void)find_policy(p);
  if (options.threads == 0) throw InvalidArgumentError("--threads must be at least 1");
  const TraceFormat format = options.format ? *options.format : guess_format(options.trace);
  if (options.weighted && !format_has_weights(format)) {
    throw InvalidArgumentError(
        "--weighted needs a format with object sizes (adapt_size, csv or "
        "oracle-general); " +
        std::string(format_name(format)) + " has none");
  }
  for (const auto& p : options.policies) {
    if (options.weighted && p == "opt") {
      throw InvalidArgumentError("--policy opt counts objects only; run it without --weighted");
    }
  }
}

SimRun run_sim(const SimOptions& options, std::ostream& log) {
  validate(options);
  SimRun run;
  run.format = options.format ? *options.format : guess_format(options.trace);
  run.trace_name = options.trace.string();
  log << "strata sim: trace " << run.trace_name << " (format " << format_name(run.format)
      << (options.format ? "" : ", guessed from the path") << ")\n"
      << "  policies " << join(options.policies) << ", capacities " << join(options.capacities)
      << (options.weighted ? " bytes (weighted by object size)" : " objects") << ", "
      << options.threads << " thread(s)\n"
      << std::flush;
  auto start = Clock::now();
  const Trace trace = read_trace(options.trace, run.format);
  run.read_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  run.requests = trace.size();
  run.distinct_keys = trace.distinct_keys();
  char line[160];
  std::snprintf(line, sizeof line, "  read %zu requests, %u distinct keys in %.2f s\n",
                run.requests, run.distinct_keys, run.read_seconds);
  log << line << std::flush;

  std::vector<SimCell> cells;
  for (const auto& p : options.policies) {
    for (auto c : options.capacities) cells.push_back({p, c});
  }
  start = Clock::now();
  run.results = run_cells(trace, cells, options.weighted, options.threads);
  run.simulate_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return run;
}

void print_sim_table(std::ostream& out, const SimRun& run) {
  const bool weighted = !run.results.empty() && run.results.front().weighted;
  std::vector<std::string> header = {"trace",    "policy", "capacity",
                                     "requests", "hits",   "hit ratio %"};
  if (weighted) header.push_back("byte hit ratio %");
  TextTable t(header, {true, true, false, false, false, false, false});
  for (const auto& r : run.results) {
    std::vector<std::string> row = {run.trace_name,
                                    r.policy,
                                    std::to_string(r.capacity),
                                    std::to_string(r.requests),
                                    std::to_string(r.hits),
                                    percent(100.0 * r.hit_ratio())};
    if (weighted) row.push_back(percent(100.0 * r.byte_hit_ratio()));
    t.add(std::move(row));
  }
  t.print(out);
  char line[96];
  std::snprintf(line, sizeof line, "(%zu cells simulated in %.2f s)\n", run.results.size(),
                run.simulate_seconds);
  out << line;
}

void print_sim_json(std::ostream& out, const SimRun& run) {
  for (const auto& r : run.results) {
    nlohmann::json j = {{"trace", run.trace_name}, {"format", std::string(format_name(run.format))},
                        {"policy", r.policy},      {"capacity", r.capacity},
                        {"weighted", r.weighted},  {"requests", r.requests},
                        {"hits", r.hits},          {"hit_ratio", r.hit_ratio()}};
    if (r.weighted) {
      j["bytes"] = r.bytes;
      j["hit_bytes"] = r.hit_bytes;
      j["byte_hit_ratio"] = r.byte_hit_ratio();
    }
    out << j.dump() << '\n';
  }
}

}  // namespace strata::sim
