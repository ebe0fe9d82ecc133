// The anchors harness. The published table (policy-anchors.csv) holds 75 (trace, size) cells
// over 19 traces; the traces range from 6 k to 5.3 M requests. Each trace is read once, then all
// its cells × policies run on the worker threads (run_cells), and the next trace is read while
// they run, so the decoding of the big xz files overlaps with simulation.
#include "sim/anchors.h"

#include <array>
#include <chrono>
#include <cmath>
#include <fstream>
#include <future>
#include <map>
#include <nlohmann/json.hpp>
#include <ostream>
#include <sstream>

#include "common/text_table.h"
#include "sim/compression.h"
#include "strata/error.h"

namespace strata::sim {
namespace {

using Clock = std::chrono::steady_clock;
using tools::percent;
using tools::TextTable;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

constexpr std::array<AnchorTraceSource, 26> kSources = {{
    {"gli", "lirs/gli.trace.gz", TraceFormat::kLirs},
    {"multi1", "lirs/multi1.trace.gz", TraceFormat::kLirs},
    {"multi2", "lirs/multi2.trace.gz", TraceFormat::kLirs},
    {"multi3", "lirs/multi3.trace.gz", TraceFormat::kLirs},
    {"sprite", "lirs/sprite.trace.gz", TraceFormat::kLirs},
    {"cs", "lirs/cs.trace.gz", TraceFormat::kLirs},
    {"ps", "lirs/ps.trace.gz", TraceFormat::kLirs},
    {"loop", "lirs/loop.trace.gz", TraceFormat::kLirs},
    {"2_pools", "lirs/2_pools.trace.gz", TraceFormat::kLirs},
    {"scan", "lirs/scan.trace.gz", TraceFormat::kLirs},
    {"zigzag", "lirs/zigzag.trace.gz", TraceFormat::kLirs},
    {"backf", "lirs/backf.trace.gz", TraceFormat::kLirs},
    {"cpp", "lirs/cpp.trace.gz", TraceFormat::kLirs},
    {"web07", "cache2k/web07.trace.xz", TraceFormat::kCache2k},
    {"web12", "cache2k/web12.trace.xz", TraceFormat::kCache2k},
    {"orm-busy", "cache2k/orm-busy.trace.xz", TraceFormat::kCache2k},
    {"orm-night", "cache2k/orm-night.trace.xz", TraceFormat::kCache2k},
    {"scarab-recs", "scarab/scarab-recs.trace.xz", TraceFormat::kScarab},
    {"w106", "cloud_physics/w106.trace.xz", TraceFormat::kCloudPhysics},
    {"vaultservice", "corda/trace_vaultservice.gz", TraceFormat::kCorda},
    {"gcc", "address/gcc.trace.gz", TraceFormat::kAddress},
    {"twolf", "address/twolf.trace.gz", TraceFormat::kAddress},
    {"gzip", "address/gzip.trace.gz", TraceFormat::kAddress},
    {"mcf", "address/mcf.trace.gz", TraceFormat::kAddress},
    {"swim", "address/swim.trace.gz", TraceFormat::kAddress},
    {"cloudPhysicsIO", "libcachesim/cloudPhysicsIO.txt", TraceFormat::kText},
}};

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

std::vector<std::string_view> split(std::string_view s, std::string_view sep) {
  std::vector<std::string_view> parts;
  for (;;) {
    const auto at = s.find(sep);
    parts.push_back(trim(s.substr(0, at)));
    if (at == std::string_view::npos) return parts;
    s.remove_prefix(at + sep.size());
  }
}

std::vector<std::string_view> lines(std::string_view text) {
  return split(text, "\n");
}

// "1,245,184" -> 1245184.
std::uint64_t parse_count(std::string_view s, std::string_view what) {
  std::uint64_t v = 0;
  bool any = false;
  for (char c : s) {
    if (c == ',') continue;
    if (c < '0' || c > '9')
      throw CorruptedError("bad number '" + std::string(s) + "' in " + std::string(what));
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
    any = true;
  }
  if (!any) throw CorruptedError("missing number in " + std::string(what));
  return v;
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InvalidArgumentError("cannot open " + path.string());
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Groups rows by trace, in order of first appearance.
std::vector<std::pair<std::string, std::vector<std::size_t>>> group_by_trace(
    const std::vector<std::string>& traces) {
  std::vector<std::pair<std::string, std::vector<std::size_t>>> groups;
  std::map<std::string, std::size_t> where;
  for (std::size_t i = 0; i < traces.size(); ++i) {
    const auto [it, inserted] = where.try_emplace(traces[i], groups.size());
    if (inserted) groups.push_back({traces[i], {}});
    groups[it->second].second.push_back(i);
  }
  return groups;
}

// Runs fn(trace, row indices, load seconds) for every group; the next group's trace is read on a
// helper thread while fn runs.
template <typename Fn>
void for_each_loaded_trace(const std::vector<std::string>& traces,
                           const std::filesystem::path& traces_dir, Fn&& fn) {
  const auto groups = group_by_trace(traces);
  for (const auto& group : groups) (void)anchor_trace_source(group.first);
  auto load = [&](std::size_t g) {
    return std::async(std::launch::async,
                      [&traces_dir, source = anchor_trace_source(groups[g].first)] {
                        const auto start = Clock::now();
                        Trace t = read_trace(traces_dir / source.path, source.format);
                        return std::pair<Trace, double>(std::move(t), seconds_since(start));
                      });
  };
  if (groups.empty()) return;
  auto pending = load(0);
  for (std::size_t g = 0; g < groups.size(); ++g) {
    auto [trace, load_seconds] = pending.get();
    if (g + 1 < groups.size()) pending = load(g + 1);
    fn(groups[g].first, trace, groups[g].second, load_seconds);
  }
}

std::string with_commas(std::uint64_t v) {
  std::string digits = std::to_string(v);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

double mean(const std::vector<double>& v) {
  double sum = 0;
  for (double x : v) sum += x;
  return v.empty() ? 0.0 : sum / static_cast<double>(v.size());
}

// The columns shown beside the simulated ones (all present in policy-anchors.csv).
constexpr std::array<std::string_view, 5> kShownColumns = {"LRU", "LIRS", "W-TinyLFU", "S3-FIFO",
                                                           "OPT"};

struct Summary {
  std::vector<double> sim_mean;         // per simulated policy
  std::vector<std::size_t> below_lru;   // cells more than 1 point below published LRU
  std::vector<std::size_t> reach_best;  // cells at or above the best-of-ten (to 0.005)
  std::vector<double> sim_gap_to_opt;   // mean OPT - policy, points
  std::vector<double> published_mean;   // per CSV column
  double best_mean = 0;
};

Summary summarize(const AnchorReport& report) {
  const auto& table = report.table;
  const std::size_t lru = table.column("LRU");
  const std::size_t opt = table.column("OPT");
  Summary s;
  const std::size_t np = report.policies.size();
  std::vector<std::vector<double>> sim(np), gap(np);
  std::vector<std::vector<double>> published(table.columns.size());
  std::vector<double> best;
  s.below_lru.assign(np, 0);
  s.reach_best.assign(np, 0);
  for (const auto& cell : report.cells) {
    const auto& row = report.table.rows[cell.row];
    const double b = table.best_online(row).first;
    best.push_back(b);
    for (std::size_t c = 0; c < table.columns.size(); ++c) published[c].push_back(row.published[c]);
    for (std::size_t p = 0; p < np; ++p) {
      const double h = 100.0 * cell.results[p].hit_ratio();
      sim[p].push_back(h);
      gap[p].push_back(row.published[opt] - h);
      if (h < row.published[lru] - 1.0) ++s.below_lru[p];
      if (h >= b - 0.005) ++s.reach_best[p];
    }
  }
  for (std::size_t p = 0; p < np; ++p) {
    s.sim_mean.push_back(mean(sim[p]));
    s.sim_gap_to_opt.push_back(mean(gap[p]));
  }
  for (const auto& c : published) s.published_mean.push_back(mean(c));
  s.best_mean = mean(best);
  return s;
}

}  // namespace

const AnchorTraceSource& anchor_trace_source(std::string_view name) {
  for (const auto& s : kSources) {
    if (s.name == name) return s;
  }
  throw InvalidArgumentError("anchors: no known source file for trace '" + std::string(name) + "'");
}

std::size_t AnchorTable::column(std::string_view name) const {
  for (std::size_t i = 0; i < columns.size(); ++i) {
    if (columns[i] == name) return i;
  }
  throw CorruptedError("anchors CSV has no column '" + std::string(name) + "'");
}

std::pair<double, std::string_view> AnchorTable::best_online(const AnchorRow& row) const {
  double best = -1;
  std::string_view who;
  for (std::size_t c = 0; c < columns.size(); ++c) {
    if (columns[c] == "OPT") continue;
    if (row.published[c] > best) {
      best = row.published[c];
      who = columns[c];
    }
  }
  return {best, who};
}

AnchorTable parse_anchor_csv(std::string_view text) {
  AnchorTable table;
  bool header = true;
  std::size_t line_number = 0;
  for (auto line : lines(text)) {
    ++line_number;
    if (line.empty()) continue;
    const auto fields = split(line, ",");
    if (header) {
      if (fields.size() < 3 || fields[0] != "trace" || fields[1] != "size") {
        throw CorruptedError("anchors CSV: the header must start with `trace,size,`");
      }
      for (std::size_t i = 2; i < fields.size(); ++i) table.columns.emplace_back(fields[i]);
      header = false;
      continue;
    }
    const std::string where = "anchors CSV line " + std::to_string(line_number);
    if (fields.size() != table.columns.size() + 2)
      throw CorruptedError(where + ": wrong field count");
    AnchorRow row;
    row.trace = std::string(fields[0]);
    row.size = parse_count(fields[1], where);
    for (std::size_t i = 2; i < fields.size(); ++i) {
      try {
        row.published.push_back(std::stod(std::string(fields[i])));
      } catch (const std::exception&) {
        throw CorruptedError(where + ": bad number '" + std::string(fields[i]) + "'");
      }
    }
    table.rows.push_back(std::move(row));
  }
  (void)table.column("LRU");
  (void)table.column("OPT");
  return table;
}

AnchorTable read_anchor_csv(const std::filesystem::path& path) {
  return parse_anchor_csv(read_text(path));
}

AnchorReport run_anchors(AnchorTable table, const std::filesystem::path& traces_dir,
                         const std::vector<std::string>& policies, unsigned threads,
                         std::ostream& progress) {
  for (const auto& p : policies) (void)find_policy(p);
  AnchorReport report;
  report.table = std::move(table);
  report.policies = policies;
  report.cells.resize(report.table.rows.size());
  std::vector<std::string> traces;
  for (const auto& row : report.table.rows) traces.push_back(row.trace);
  for_each_loaded_trace(traces, traces_dir,
                        [&](const std::string& name, const Trace& trace,
                            const std::vector<std::size_t>& rows, double load_seconds) {
                          report.load_seconds += load_seconds;
                          std::vector<SimCell> cells;
                          for (std::size_t r : rows) {
                            for (const auto& p : policies)
                              cells.push_back({p, report.table.rows[r].size});
                          }
                          const auto sim_start = Clock::now();
                          auto results = run_cells(trace, cells, /*weighted=*/false, threads);
                          const double sim_seconds = seconds_since(sim_start);
                          report.simulate_seconds += sim_seconds;
                          for (std::size_t i = 0; i < rows.size(); ++i) {
                            auto& cell = report.cells[rows[i]];
                            cell.row = rows[i];
                            for (std::size_t p = 0; p < policies.size(); ++p) {
                              cell.results.push_back(std::move(results[i * policies.size() + p]));
                            }
                          }
                          char line[160];
                          std::snprintf(
                              line, sizeof line,
                              "  %-13s %9s requests  read %.2f s  %zu cells simulated %.2f s\n",
                              name.c_str(), with_commas(trace.size()).c_str(), load_seconds,
                              cells.size(), sim_seconds);
                          progress << line << std::flush;
                        });
  return report;
}

void print_anchor_report(std::ostream& out, const AnchorReport& report) {
  const auto& table = report.table;
  std::vector<std::string> header = {"trace", "size"};
  std::vector<bool> left = {true, false};
  for (const auto& p : report.policies) header.push_back(p), left.push_back(false);
  for (auto c : kShownColumns) header.push_back("pub " + std::string(c)), left.push_back(false);
  header.push_back("pub best"), left.push_back(false);
  header.push_back("best is"), left.push_back(true);
  TextTable t(header, left);
  for (const auto& cell : report.cells) {
    std::vector<std::string> row = {report.table.rows[cell.row].trace,
                                    std::to_string(report.table.rows[cell.row].size)};
    for (const auto& r : cell.results) row.push_back(percent(100.0 * r.hit_ratio()));
    for (auto c : kShownColumns)
      row.push_back(percent(report.table.rows[cell.row].published[table.column(c)]));
    const auto [best, who] = table.best_online(report.table.rows[cell.row]);
    row.push_back(percent(best));
    row.emplace_back(who);
    t.add(std::move(row));
  }
  t.print(out);

  const Summary s = summarize(report);
  out << "\nsummary over " << report.cells.size()
      << " cells (hit %, every cell weighted equally)\n";
  TextTable st(
      {"policy", "mean hit %", "gap to OPT", "cells >1 pt below LRU", "cells >= best-of-ten"},
      {true, false, false, false, false});
  for (std::size_t p = 0; p < report.policies.size(); ++p) {
    st.add({report.policies[p] + " (simulated)", percent(s.sim_mean[p]),
            percent(s.sim_gap_to_opt[p]), std::to_string(s.below_lru[p]),
            std::to_string(s.reach_best[p])});
  }
  const double opt_mean = s.published_mean[table.column("OPT")];
  for (std::size_t c = 0; c < table.columns.size(); ++c) {
    st.add({table.columns[c] + " (published)", percent(s.published_mean[c]),
            percent(opt_mean - s.published_mean[c]), "", ""});
  }
  st.add(
      {"best-of-ten (published)", percent(s.best_mean), percent(opt_mean - s.best_mean), "", ""});
  st.print(out);
}

void write_anchor_markdown(std::ostream& out, const AnchorReport& report) {
  const auto& table = report.table;
  out << "| trace | size |";
  for (const auto& p : report.policies) out << " " << p << " |";
  for (auto c : kShownColumns) out << " " << c << " (pub.) |";
  out << " best of ten (pub.) |\n|---|---:|";
  for (std::size_t i = 0; i < report.policies.size() + kShownColumns.size() + 1; ++i)
    out << "---:|";
  out << '\n';
  for (const auto& cell : report.cells) {
    out << "| " << report.table.rows[cell.row].trace << " | " << report.table.rows[cell.row].size
        << " |";
    for (const auto& r : cell.results) out << " " << percent(100.0 * r.hit_ratio()) << " |";
    for (auto c : kShownColumns)
      out << " " << percent(report.table.rows[cell.row].published[table.column(c)]) << " |";
    const auto [best, who] = table.best_online(report.table.rows[cell.row]);
    out << " " << percent(best) << " (" << who << ") |\n";
  }
  const Summary s = summarize(report);
  out << "\n| policy | mean hit % | mean gap to OPT (pp) | cells > 1 pt below LRU | cells ≥ best "
         "of ten |\n"
         "|---|---:|---:|---:|---:|\n";
  const double opt_mean = s.published_mean[table.column("OPT")];
  for (std::size_t p = 0; p < report.policies.size(); ++p) {
    out << "| " << report.policies[p] << " (simulated) | " << percent(s.sim_mean[p]) << " | "
        << percent(s.sim_gap_to_opt[p]) << " | " << s.below_lru[p] << " | " << s.reach_best[p]
        << " |\n";
  }
  for (std::size_t c = 0; c < table.columns.size(); ++c) {
    out << "| " << table.columns[c] << " (published) | " << percent(s.published_mean[c]) << " | "
        << percent(opt_mean - s.published_mean[c]) << " | | |\n";
  }
  out << "| best of ten (published, per cell) | " << percent(s.best_mean) << " | "
      << percent(opt_mean - s.best_mean) << " | | |\n";
}

void print_anchor_json(std::ostream& out, const AnchorReport& report) {
  for (const auto& cell : report.cells) {
    nlohmann::json published;
    for (std::size_t c = 0; c < report.table.columns.size(); ++c) {
      published[report.table.columns[c]] =
          std::round(report.table.rows[cell.row].published[c] * 100.0) / 10000.0;  // 14.8 -> 0.148
    }
    for (const auto& r : cell.results) {
      nlohmann::json j = {{"trace", report.table.rows[cell.row].trace},
                          {"policy", r.policy},
                          {"capacity", r.capacity},
                          {"requests", r.requests},
                          {"hits", r.hits},
                          {"hit_ratio", r.hit_ratio()},
                          {"published", published}};
      out << j.dump() << '\n';
    }
  }
}

std::vector<AppendixCell> parse_appendix(std::string_view markdown) {
  const auto at = markdown.find("## Appendix A");
  if (at == std::string_view::npos) throw CorruptedError("no `## Appendix A` section");
  std::vector<AppendixCell> cells;
  bool in_table = false;
  for (auto line : lines(markdown.substr(at))) {
    if (line.starts_with("```") || (in_table && !line.starts_with("|"))) {
      if (in_table) break;
      continue;
    }
    if (!line.starts_with("|")) continue;
    in_table = true;
    const auto fields = split(line.substr(1, line.size() - (line.ends_with("|") ? 2 : 1)), "|");
    if (fields.size() != 3 || fields[0] == "trace" || fields[0].starts_with("---")) continue;
    const std::string where = "Appendix A row '" + std::string(fields[0]) + "'";
    const std::uint64_t requests = parse_count(fields[1], where);
    for (auto part : split(fields[2], "\xC2\xB7")) {  // the middle dot "·"
      const auto colon = part.find(':');
      const auto slash = part.find('/');
      if (colon == std::string_view::npos || slash == std::string_view::npos) {
        throw CorruptedError(where + ": expected `size: lru / opt`, found '" + std::string(part) +
                             "'");
      }
      AppendixCell cell;
      cell.trace = std::string(fields[0]);
      cell.requests = requests;
      cell.size = parse_count(trim(part.substr(0, colon)), where);
      cell.lru_hits = parse_count(trim(part.substr(colon + 1, slash - colon - 1)), where);
      cell.opt_hits = parse_count(trim(part.substr(slash + 1)), where);
      cells.push_back(std::move(cell));
    }
  }
  if (cells.empty()) throw CorruptedError("Appendix A has no cells");
  return cells;
}

std::vector<AppendixCheck> check_appendix(const std::filesystem::path& anchors_md,
                                          const std::filesystem::path& traces_dir, unsigned threads,
                                          std::ostream& progress) {
  const auto expected = parse_appendix(read_text(anchors_md));
  std::vector<AppendixCheck> checks(expected.size());
  std::vector<std::string> traces;
  for (const auto& c : expected) traces.push_back(c.trace);
  for_each_loaded_trace(traces, traces_dir,
                        [&](const std::string& name, const Trace& trace,
                            const std::vector<std::size_t>& rows, double load_seconds) {
                          std::vector<SimCell> cells;
                          for (std::size_t r : rows) {
                            cells.push_back({"lru", expected[r].size});
                            cells.push_back({"opt", expected[r].size});
                          }
                          const auto start = Clock::now();
                          auto results = run_cells(trace, cells, /*weighted=*/false, threads);
                          for (std::size_t i = 0; i < rows.size(); ++i) {
                            checks[rows[i]] = {expected[rows[i]], std::move(results[2 * i]),
                                               std::move(results[2 * i + 1])};
                          }
                          char line[160];
                          std::snprintf(line, sizeof line,
                                        "  %-13s %9s requests  read %.2f s  simulated %.2f s\n",
                                        name.c_str(), with_commas(trace.size()).c_str(),
                                        load_seconds, seconds_since(start));
                          progress << line << std::flush;
                        });
  return checks;
}

std::size_t print_appendix_checks(std::ostream& out, const std::vector<AppendixCheck>& checks) {
  TextTable t({"trace", "size", "requests", "LRU hits", "expected", "OPT hits", "expected", ""},
              {true, false, false, false, false, false, false, true});
  std::size_t matches = 0;
  for (const auto& c : checks) {
    const bool ok = c.matches();
    matches += ok ? 1 : 0;
    t.add({c.expected.trace, std::to_string(c.expected.size), with_commas(c.lru.requests),
           with_commas(c.lru.hits), with_commas(c.expected.lru_hits), with_commas(c.opt.hits),
           with_commas(c.expected.opt_hits), ok ? "ok" : "MISMATCH"});
  }
  t.print(out);
  out << matches << " of " << checks.size() << " cells match exactly (" << 2 * matches << " of "
      << 2 * checks.size() << " LRU/OPT hit counts)\n";
  return checks.size() - matches;
}

}  // namespace strata::sim
