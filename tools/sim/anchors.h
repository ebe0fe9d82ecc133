// sim/anchors.h: the hit-ratio harness of `strata sim --anchors`: runs strata's policies on every
// (trace, size) cell of the team's published anchors (libCacheSim's hit ratios of ten policies
// plus OPT) and prints them side by side; and `--check-appendix`, which checks the simulator's
// LRU and OPT against the anchors' exact hit counts. Reads the trace files at run time only.
//
//   auto table = strata::sim::read_anchor_csv("policy-anchors.csv");
//   auto report = strata::sim::run_anchors(table, "traces", {"lru"}, 2, std::cerr);
//   strata::sim::print_anchor_report(std::cout, report);
#pragma once

#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

#include "sim/simulator.h"
#include "sim/trace_reader.h"

namespace strata::sim {

// Where an anchor trace name comes from, relative to the shared traces folder
// (policy-anchors.md, "Source files").
struct AnchorTraceSource {
  std::string_view name;
  std::string_view path;
  TraceFormat format;
};
// Throws InvalidArgumentError for a name the harness does not know.
[[nodiscard]] const AnchorTraceSource& anchor_trace_source(std::string_view name);

// policy-anchors.csv: `trace,size,<policy columns...>`, hit ratios in percent.
struct AnchorRow {
  std::string trace;
  std::uint64_t size = 0;
  std::vector<double> published;  // one per AnchorTable::columns
};
struct AnchorTable {
  std::vector<std::string> columns;  // the published policies, e.g. LRU ... LHD, OPT
  std::vector<AnchorRow> rows;
  // The column's index; throws CorruptedError when the CSV lacks it.
  [[nodiscard]] std::size_t column(std::string_view name) const;
  // The best of the online (non-OPT) columns of a row, and the name of one that reaches it.
  [[nodiscard]] std::pair<double, std::string_view> best_online(const AnchorRow& row) const;
};
[[nodiscard]] AnchorTable parse_anchor_csv(std::string_view text);
[[nodiscard]] AnchorTable read_anchor_csv(const std::filesystem::path& path);

struct AnchorCellResult {
  std::size_t row = 0;             // index into AnchorReport::table.rows
  std::vector<SimResult> results;  // one per simulated policy, in the order asked
};
struct AnchorReport {
  AnchorTable table;
  std::vector<std::string> policies;
  std::vector<AnchorCellResult> cells;  // in the CSV's order
  double load_seconds = 0;
  double simulate_seconds = 0;
};
// Loads each trace once (from traces_dir) and runs its cells × policies on `threads` threads.
// Progress lines (one per trace) go to `progress`.
[[nodiscard]] AnchorReport run_anchors(AnchorTable table, const std::filesystem::path& traces_dir,
                                       const std::vector<std::string>& policies, unsigned threads,
                                       std::ostream& progress);
// The per-cell table next to the published columns, then the summary (means, cells more than
// one point below LRU, the mean best-of-ten).
void print_anchor_report(std::ostream& out, const AnchorReport& report);
void write_anchor_markdown(std::ostream& out, const AnchorReport& report);
// One JSON object per (cell, policy) and line.
void print_anchor_json(std::ostream& out, const AnchorReport& report);

// policy-anchors.md, Appendix A: exact LRU and OPT hit counts per (trace, size).
struct AppendixCell {
  std::string trace;
  std::uint64_t requests = 0;
  std::uint64_t size = 0;
  std::uint64_t lru_hits = 0;
  std::uint64_t opt_hits = 0;
};
[[nodiscard]] std::vector<AppendixCell> parse_appendix(std::string_view markdown);
struct AppendixCheck {
  AppendixCell expected;
  SimResult lru;
  SimResult opt;
  [[nodiscard]] bool matches() const noexcept {
    return lru.requests == expected.requests && opt.requests == expected.requests &&
           lru.hits == expected.lru_hits && opt.hits == expected.opt_hits;
  }
};
// Runs lru and opt on every Appendix A cell. Progress lines go to `progress`.
[[nodiscard]] std::vector<AppendixCheck> check_appendix(const std::filesystem::path& anchors_md,
                                                        const std::filesystem::path& traces_dir,
                                                        unsigned threads, std::ostream& progress);
// The comparison table and a last line "N of M cells match exactly"; returns M - N.
std::size_t print_appendix_checks(std::ostream& out, const std::vector<AppendixCheck>& checks);

}  // namespace strata::sim
