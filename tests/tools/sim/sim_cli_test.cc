// `strata sim` run as a process, as a user runs it, on traces the test writes.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/temp_dir.h"
#include "sim/compression.h"
#include "sim_test_support.h"
#include "support/run_command.h"

namespace strata {
namespace {

using strata::testing::run_command;
using strata::testing::strata_cli;

// 1 2 3 1 2 4 1 2 (with a checkpoint line). Hand-checked hits:
// LRU@2 0, LRU@3 4 (1 2 · 1 2 · 1 2 after evicting 3), OPT@2 2 (evicts 2, 3, 2), OPT@3 4.
constexpr std::string_view kTrace = "1\n2\n3\n1\n2\n4\n1\n*\n2\n";

std::vector<nlohmann::json> json_lines(const std::string& output) {
  std::vector<nlohmann::json> lines;
  std::istringstream in(output);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(nlohmann::json::parse(line));
  }
  return lines;
}

TEST(SimCli, JsonHasOneObjectPerPolicyAndCapacity) {
  tools::TempDir dir("strata-sim-cli");
  const auto path = dir.path() / "t.trace";
  sim::testing::write_file(path, sim::compress_xz(kTrace));
  const auto result = run_command(strata_cli() + " sim --trace " + path.string() +
                                  " --format lirs --capacity 2,3 --policy lru,opt --json");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const auto lines = json_lines(result.output);  // the configuration went to stderr
  ASSERT_EQ(lines.size(), 4u) << result.output;
  const std::vector<std::tuple<std::string, int, int>> expected = {
      {"lru", 2, 0}, {"lru", 3, 4}, {"opt", 2, 2}, {"opt", 3, 4}};
  for (std::size_t i = 0; i < 4; ++i) {
    const auto& [policy, capacity, hits] = expected[i];
    EXPECT_EQ(lines[i]["trace"], path.string());
    EXPECT_EQ(lines[i]["policy"], policy);
    EXPECT_EQ(lines[i]["capacity"], capacity);
    EXPECT_EQ(lines[i]["requests"], 8);
    EXPECT_EQ(lines[i]["hits"], hits);
    EXPECT_DOUBLE_EQ(lines[i]["hit_ratio"].get<double>(), hits / 8.0);
  }
}

TEST(SimCli, TablePrintsTheConfigurationThenOneRowPerCell) {
  tools::TempDir dir("strata-sim-cli");
  const auto path = dir.path() / "lirs" / "t.trace.gz";  // format guessed from the folder
  sim::testing::write_file(path, sim::compress_gzip(kTrace));
  const auto result = run_command(strata_cli() + " sim --trace " + path.string() +
                                  " --capacity 3 --policy lru,opt");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const auto& out = result.output;
  EXPECT_EQ(out.find("strata sim: trace"), 0u) << out;
  EXPECT_NE(out.find("format lirs, guessed from the path"), std::string::npos) << out;
  EXPECT_NE(out.find("hit ratio %"), std::string::npos) << out;
  EXPECT_NE(out.find("lru            3         8     4        50.00"), std::string::npos) << out;
  EXPECT_NE(out.find("opt            3         8     4        50.00"), std::string::npos) << out;
}

TEST(SimCli, WeightedRunsCountBytes) {
  tools::TempDir dir("strata-sim-cli");
  const auto path = dir.path() / "r.trace";
  sim::testing::write_file(path, "1 7 100\n2 8 50\n3 7 100\n4 9 60\n5 7 100\n");
  const auto result = run_command(strata_cli() + " sim --trace " + path.string() +
                                  " --format adapt_size --weighted --capacity 150 --json");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const auto lines = json_lines(result.output);
  ASSERT_EQ(lines.size(), 1u);
  // 100, 50 (150 fits), 100 hits, 60 evicts 50 then 100, 100 misses and evicts 60.
  EXPECT_EQ(lines[0]["hits"], 1);
  EXPECT_EQ(lines[0]["bytes"], 410);
  EXPECT_EQ(lines[0]["hit_bytes"], 100);
}

TEST(SimCli, BadOptionsFailWithAMessage) {
  tools::TempDir dir("strata-sim-cli");
  const auto path = dir.path() / "t.trace";
  sim::testing::write_file(path, kTrace);
  const std::string base = strata_cli() + " sim --trace " + path.string();
  auto r = run_command(base + " --format lirs --capacity 2 --policy arc 2>&1");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("unknown policy"), std::string::npos) << r.output;
  r = run_command(base + " --format nope --capacity 2 2>&1");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("--format"), std::string::npos) << r.output;
  r = run_command(base + " --capacity 2 2>&1");  // t.trace: no format to guess
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("--format"), std::string::npos) << r.output;
  r = run_command(base + " --format lirs 2>&1");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("--capacity"), std::string::npos) << r.output;
  r = run_command(base + " --format lirs --capacity 2 --weighted 2>&1");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("--weighted"), std::string::npos) << r.output;
  r = run_command(base + " --format lirs --capacity x 2>&1");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("--capacity"), std::string::npos) << r.output;
  r = run_command(base + " --format cache2k --capacity 2 2>&1");  // 18 bytes: not whole int32s
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("truncated record at byte offset 16"), std::string::npos) << r.output;
  r = run_command(strata_cli() + " sim --capacity 2 2>&1");
  EXPECT_EQ(r.exit_code, 2);
  r = run_command(strata_cli() + " sim --anchors a.csv --traces t --capacity 2 2>&1");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("--capacity, --format and --weighted go with --trace"), std::string::npos)
      << r.output;
  r = run_command(base + " --format lirs --capacity 2 --markdown x.md 2>&1");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("--markdown goes with --anchors"), std::string::npos) << r.output;
}

TEST(SimCli, AnchorsHarnessWritesTheTableAndMarkdown) {
  tools::TempDir dir("strata-sim-cli");
  std::string text;
  for (int round = 0; round < 50; ++round) text += "1\n2\n3\n4\n5\n";
  sim::testing::write_file(dir.path() / "traces/lirs/loop.trace.gz", sim::compress_gzip(text));
  sim::testing::write_file(
      dir.path() / "anchors.csv",
      "trace,size,LRU,LIRS,W-TinyLFU,S3-FIFO,OPT\nloop,4,0.0,70.0,60.0,1.0,78.0\n");
  const auto md = dir.path() / "out.md";
  const auto r = run_command(
      strata_cli() + " sim --anchors " + (dir.path() / "anchors.csv").string() + " --traces " +
      (dir.path() / "traces").string() + " --policy lru,opt --markdown " + md.string() + " 2>&1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("best-of-ten (published)       70.00"), std::string::npos) << r.output;
  std::ifstream in(md);
  std::stringstream content;
  content << in.rdbuf();
  EXPECT_NE(content.str().find("| loop | 4 | 0.00 |"), std::string::npos) << content.str();
}

}  // namespace
}  // namespace strata
