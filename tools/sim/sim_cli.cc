// `strata sim`: the command-line face of sim/sim_run.h and sim/anchors.h.
#include <fstream>
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "sim/anchors.h"
#include "sim/sim_run.h"
#include "strata/error.h"

namespace strata::cli {
namespace {

struct SimFlags {
  std::string trace;
  std::string format;
  std::vector<std::uint64_t> capacities;
  std::vector<std::string> policies;
  bool weighted = false;
  bool json = false;
  unsigned threads = 2;
  std::string anchors;
  std::string traces_dir;
  std::string markdown;
  std::string check_appendix;
};

void run(const SimFlags& f) {
  const int modes = !f.trace.empty() + !f.anchors.empty() + !f.check_appendix.empty();
  if (modes != 1) {
    throw InvalidArgumentError("pass exactly one of --trace, --anchors, --check-appendix");
  }
  if (f.threads == 0) throw InvalidArgumentError("--threads must be at least 1");
  if (!f.markdown.empty() && f.anchors.empty()) {
    throw InvalidArgumentError("--markdown goes with --anchors");
  }
  if (!f.trace.empty()) {
    sim::SimOptions o;
    o.trace = f.trace;
    if (!f.format.empty()) o.format = sim::parse_format(f.format);
    o.capacities = f.capacities;
    if (!f.policies.empty()) o.policies = f.policies;
    o.weighted = f.weighted;
    o.threads = f.threads;
    std::ostream& log = f.json ? std::cerr : std::cout;
    const auto result = sim::run_sim(o, log);
    if (f.json) {
      sim::print_sim_json(std::cout, result);
    } else {
      sim::print_sim_table(std::cout, result);
    }
    return;
  }
  if (!f.capacities.empty() || !f.format.empty() || f.weighted) {
    throw InvalidArgumentError(
        "--capacity, --format and --weighted go with --trace; --anchors and --check-appendix take "
        "their cells from their file");
  }
  if (f.traces_dir.empty())
    throw InvalidArgumentError("--traces DIR is required with --anchors and --check-appendix");
  if (!f.check_appendix.empty()) {
    std::cout << "strata sim: checking lru and opt against the exact hit counts of Appendix A of "
              << f.check_appendix << ", traces in " << f.traces_dir << ", " << f.threads
              << " thread(s)\n"
              << std::flush;
    const auto checks = sim::check_appendix(f.check_appendix, f.traces_dir, f.threads, std::cerr);
    if (sim::print_appendix_checks(std::cout, checks) != 0) throw CLI::RuntimeError(1);
    return;
  }
  const std::vector<std::string> policies =
      f.policies.empty() ? std::vector<std::string>{"lru"} : f.policies;
  for (const auto& p : policies) (void)sim::find_policy(p);
  std::unique_ptr<std::ofstream> markdown;
  if (!f.markdown.empty()) {
    markdown = std::make_unique<std::ofstream>(f.markdown);
    if (!*markdown) throw InvalidArgumentError("--markdown: cannot write " + f.markdown);
  }
  auto table = sim::read_anchor_csv(f.anchors);
  std::ostream& log = f.json ? std::cerr : std::cout;
  std::string names;
  for (const auto& p : policies) names += (names.empty() ? "" : ",") + p;
  log << "strata sim: anchors " << f.anchors << " (" << table.rows.size() << " cells), traces in "
      << f.traces_dir << ", policies " << names << ", " << f.threads << " thread(s)\n"
      << std::flush;
  const auto report =
      sim::run_anchors(std::move(table), f.traces_dir, policies, f.threads, std::cerr);
  char line[128];
  std::snprintf(line, sizeof line,
                "read the traces in %.2f s, simulated in %.2f s (sum over traces)\n",
                report.load_seconds, report.simulate_seconds);
  log << line;
  if (f.json) {
    sim::print_anchor_json(std::cout, report);
  } else {
    sim::print_anchor_report(std::cout, report);
  }
  if (markdown) {
    sim::write_anchor_markdown(*markdown, report);
    if (!*markdown) throw InvalidArgumentError("--markdown: cannot write " + f.markdown);
  }
}

}  // namespace

void add_sim(CLI::App& app) {
  auto* sim =
      app.add_subcommand("sim", "Replay a cache trace through eviction policies and count hits");
  auto f = std::make_shared<SimFlags>();
  sim->add_option("--trace", f->trace, "Trace file (gzip, xz or plain; detected from its bytes)");
  sim->add_option("--format", f->format,
                  "Trace format (guessed from the path when omitted): " + sim::format_names());
  sim->add_option("--capacity", f->capacities,
                  "Cache capacities, comma-separated (entries, or bytes with --weighted)")
      ->delimiter(',');
  sim->add_option("--policy", f->policies,
                  "Policies, comma-separated: " + sim::policy_names() + " (default lru)")
      ->delimiter(',');
  sim->add_flag("--weighted", f->weighted, "Weigh entries by their size (formats with sizes)");
  sim->add_flag("--json", f->json,
                "Print one JSON object per line (the configuration goes to stderr)");
  sim->add_option("--threads", f->threads, "Threads running independent cells")
      ->capture_default_str();
  sim->add_option("--anchors", f->anchors, "Run every (trace, size) cell of policy-anchors.csv");
  sim->add_option("--traces", f->traces_dir,
                  "Folder of the shared traces (with --anchors, --check-appendix)");
  sim->add_option("--markdown", f->markdown,
                  "With --anchors: also write the table as Markdown to this file");
  sim->add_option(
      "--check-appendix", f->check_appendix,
      "Check lru and opt against the exact hit counts of policy-anchors.md, Appendix A");
  sim->callback([f] { run(*f); });
}

}  // namespace strata::cli
