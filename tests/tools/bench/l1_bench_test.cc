// `strata bench l1` as a library call (tiny runs; the figures themselves are never asserted).
#include "bench/l1/l1_bench.h"

#include <gtest/gtest.h>

#include <sstream>

namespace strata {
namespace {

bench::L1BenchOptions tiny() {
  bench::L1BenchOptions o;
  o.threads = 1;
  o.keys = 1000;
  o.memory_entries = 1000;
  o.seconds_per_round = 0.01;
  o.rounds = 4;
  return o;
}

// Issue 23 item 12: each round starts with another implementation (A B C D, B C D A, ...), so
// none always runs first on a cold machine or last after the others.
TEST(L1Bench, RotatesTheOrderOfTheImplementationsPerRound) {
  const auto report = bench::run_l1_bench(tiny(), nullptr);
  ASSERT_EQ(report.mixes.size(), 3u);
  for (const auto& mix : report.mixes) {
    ASSERT_EQ(mix.round_orders.size(), 4u) << mix.mix;
    const auto& first = mix.round_orders[0];
    ASSERT_EQ(first.size(), 4u) << mix.mix;
    for (std::size_t r = 0; r < 4; ++r) {
      ASSERT_EQ(mix.round_orders[r].size(), 4u);
      for (std::size_t k = 0; k < 4; ++k) {
        EXPECT_EQ(mix.round_orders[r][k], first[(k + r) % 4]) << mix.mix << " round " << r;
      }
    }
    EXPECT_GT(mix.strata_ops_per_sec, 0) << mix.mix;
    EXPECT_GT(mix.mutex_lru_ops_per_sec, 0) << mix.mix;
  }
  std::ostringstream out;
  bench::print_l1_report(out, report);
  EXPECT_NE(out.str().find("rotated per round"), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("read-only"), std::string::npos) << out.str();
}

}  // namespace
}  // namespace strata
