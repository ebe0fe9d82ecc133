// The anchors harness on a miniature traces folder and anchors table that the test writes.
#include "sim/anchors.h"

#include <gtest/gtest.h>

#include <sstream>

#include "common/temp_dir.h"
#include "sim/compression.h"
#include "sim_test_support.h"
#include "strata/error.h"

namespace strata::sim {
namespace {

using testing::random_keys;
using testing::reference_lru_hits;

constexpr std::string_view kCsv =
    "trace,size,LRU,FIFO,LIRS,W-TinyLFU,S3-FIFO,OPT\n"
    "gli,10,5.0,4.0,10.0,9.0,8.0,30.0\n"
    "web07,20,50.0,45.0,40.0,60.0,55.0,70.0\n"
    "gli,40,40.0,41.0,39.0,20.0,30.0,50.0\n";

constexpr std::string_view kAppendix =
    "# title\n\n| trace | x |\n|---|---|\n| not | this |\n\n"
    "## Appendix A: exact LRU and OPT hit counts\n\ntext\n\n"
    "| trace | requests | size: LRU hits / OPT hits |\n"
    "|---|---:|---|\n"
    "| gli | 6,015 | 250: 55 / 1,061 \xC2\xB7 1,000: 674 / 3,196 |\n"
    "| web07 | 76,118 | 205: 29,812 / 40,655 |\n"
    "\n```python\n| not | a | row |\n```\n";

// A traces folder with gli (LIRS text, gzip) and web07 (cache2k int32, xz).
struct MiniTraces {
  tools::TempDir dir{"strata-sim-anchors"};
  std::vector<std::uint64_t> gli = random_keys(1, 3000, 300);
  std::vector<std::uint64_t> web07;
  MiniTraces() {
    testing::write_file(dir.path() / "lirs/gli.trace.gz", compress_gzip(testing::lirs_text(gli)));
    std::string bytes;
    for (auto k : random_keys(2, 4000, 200)) {
      const auto v = static_cast<std::uint32_t>(k >> 40) | 0x80000000u;  // negative int32s
      testing::put_be(bytes, v, 4);
      web07.push_back(
          static_cast<std::uint64_t>(static_cast<std::int64_t>(static_cast<std::int32_t>(v))));
    }
    testing::write_file(dir.path() / "cache2k/web07.trace.xz", compress_xz(bytes));
  }
};

TEST(Anchors, ParsesTheCsvAndFindsTheBestPublishedPolicy) {
  const AnchorTable t = parse_anchor_csv(kCsv);
  ASSERT_EQ(t.rows.size(), 3u);
  EXPECT_EQ(t.columns.size(), 6u);
  EXPECT_EQ(t.rows[1].trace, "web07");
  EXPECT_EQ(t.rows[1].size, 20u);
  EXPECT_EQ(t.column("OPT"), 5u);
  const auto [best, who] = t.best_online(t.rows[1]);
  EXPECT_DOUBLE_EQ(best, 60.0);
  EXPECT_EQ(who, "W-TinyLFU");
  EXPECT_THROW((void)parse_anchor_csv("name,size,LRU,OPT\n"), CorruptedError);
  EXPECT_THROW((void)parse_anchor_csv("trace,size,LRU,OPT\ngli,10,1.0\n"), CorruptedError);
  EXPECT_THROW((void)parse_anchor_csv("trace,size,LRU\ngli,10,1.0\n"), CorruptedError);  // no OPT
}

TEST(Anchors, MapsEveryPublishedTraceToItsSourceFile) {
  for (const char* name : {"gli", "multi1", "multi2", "multi3", "sprite", "cs", "ps", "loop",
                           "2_pools", "scan", "zigzag", "web07", "web12", "orm-busy", "scarab-recs",
                           "w106", "vaultservice", "gcc", "twolf"}) {
    EXPECT_NO_THROW((void)anchor_trace_source(name)) << name;
  }
  EXPECT_EQ(anchor_trace_source("w106").format, TraceFormat::kCloudPhysics);
  EXPECT_EQ(anchor_trace_source("vaultservice").path, "corda/trace_vaultservice.gz");
  EXPECT_THROW((void)anchor_trace_source("DS1"), InvalidArgumentError);
}

TEST(Anchors, RunsEveryCellAndSummarizes) {
  MiniTraces traces;
  std::ostringstream progress;
  const AnchorReport report =
      run_anchors(parse_anchor_csv(kCsv), traces.dir.path(), {"lru", "opt"}, 2, progress);
  ASSERT_EQ(report.cells.size(), 3u);
  const std::vector<std::pair<const std::vector<std::uint64_t>*, std::uint64_t>> expected = {
      {&traces.gli, 10}, {&traces.web07, 20}, {&traces.gli, 40}};
  for (std::size_t i = 0; i < 3; ++i) {
    const auto& cell = report.cells[i];
    EXPECT_EQ(report.table.rows[cell.row].size, expected[i].second);
    ASSERT_EQ(cell.results.size(), 2u);
    EXPECT_EQ(cell.results[0].policy, "lru");
    EXPECT_EQ(cell.results[0].hits, reference_lru_hits(*expected[i].first, {}, expected[i].second));
    EXPECT_EQ(cell.results[1].hits,
              simulate_opt(Trace(*expected[i].first), expected[i].second, false).hits);
  }
  EXPECT_NE(progress.str().find("gli"), std::string::npos);
  EXPECT_NE(progress.str().find("web07"), std::string::npos);

  std::ostringstream text;
  print_anchor_report(text, report);
  EXPECT_NE(text.str().find("lru (simulated)"), std::string::npos) << text.str();
  // Best of the published online columns: 10, 60 and 41.
  EXPECT_NE(text.str().find("best-of-ten (published)       37.00"), std::string::npos)
      << text.str();
  EXPECT_NE(text.str().find("LRU (published)               31.67"), std::string::npos)
      << text.str();

  std::ostringstream markdown;
  write_anchor_markdown(markdown, report);
  EXPECT_NE(markdown.str().find("| trace | size | lru | opt |"), std::string::npos);
  EXPECT_NE(markdown.str().find("| web07 | 20 |"), std::string::npos);

  std::ostringstream json;
  print_anchor_json(json, report);
  std::size_t lines = 0;
  for (char c : json.str()) lines += c == '\n';
  EXPECT_EQ(lines, 6u);
}

TEST(Anchors, AMissingTraceFileIsReported) {
  tools::TempDir empty("strata-sim-empty");
  std::ostringstream progress;
  EXPECT_THROW((void)run_anchors(parse_anchor_csv(kCsv), empty.path(), {"lru"}, 2, progress),
               InvalidArgumentError);
  EXPECT_THROW((void)run_anchors(parse_anchor_csv(kCsv), empty.path(), {"nope"}, 2, progress),
               InvalidArgumentError);
}

TEST(Anchors, ParsesAppendixA) {
  const auto cells = parse_appendix(kAppendix);
  ASSERT_EQ(cells.size(), 3u);
  EXPECT_EQ(cells[0].trace, "gli");
  EXPECT_EQ(cells[0].requests, 6015u);
  EXPECT_EQ(cells[0].size, 250u);
  EXPECT_EQ(cells[0].lru_hits, 55u);
  EXPECT_EQ(cells[0].opt_hits, 1061u);
  EXPECT_EQ(cells[1].size, 1000u);
  EXPECT_EQ(cells[1].opt_hits, 3196u);
  EXPECT_EQ(cells[2].trace, "web07");
  EXPECT_EQ(cells[2].lru_hits, 29812u);
  EXPECT_THROW((void)parse_appendix("# no appendix\n"), CorruptedError);
}

TEST(Anchors, CheckAppendixComparesExactCounts) {
  MiniTraces traces;
  const Trace gli(traces.gli);
  const auto lru = simulate<LruPolicy>(gli, 25, false).hits;
  const auto opt = simulate_opt(gli, 25, false).hits;
  const std::string md =
      "## Appendix A\n\n| trace | requests | size: LRU hits / OPT hits |\n"
      "|---|---:|---|\n| gli | 3,000 | 25: " +
      std::to_string(lru) + " / " + std::to_string(opt) + " \xC2\xB7 50: 1 / 2 |\n";
  testing::write_file(traces.dir.path() / "anchors.md", md);
  std::ostringstream progress;
  const auto checks =
      check_appendix(traces.dir.path() / "anchors.md", traces.dir.path(), 2, progress);
  ASSERT_EQ(checks.size(), 2u);
  EXPECT_TRUE(checks[0].matches());
  EXPECT_FALSE(checks[1].matches());
  std::ostringstream out;
  EXPECT_EQ(print_appendix_checks(out, checks), 1u);
  EXPECT_NE(out.str().find("1 of 2 cells match exactly"), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("MISMATCH"), std::string::npos) << out.str();
}

}  // namespace
}  // namespace strata::sim
