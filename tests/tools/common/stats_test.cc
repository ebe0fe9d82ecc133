// tools/common: the statistics and the alternating rounds every bench shares.
#include "common/stats.h"

#include <gtest/gtest.h>

#include <sstream>

#include "common/rounds.h"
#include "common/text_table.h"

namespace strata::tools {
namespace {

TEST(Stats, MedianOfOddAndEvenCountsAndEmpty) {
  EXPECT_EQ(median({}), 0);
  EXPECT_EQ(median({3, 1, 2}), 2);
  EXPECT_EQ(median({4, 1, 3, 2}), 2.5);  // the mean of the two middle values
  EXPECT_EQ(min_of({3, 1, 2}), 1);
  EXPECT_EQ(max_of({3, 1, 2}), 3);
  EXPECT_EQ(min_of({}), 0);
}

TEST(Stats, RatioIsMissingWithoutAPositiveDenominator) {
  EXPECT_EQ(ratio(3.0, 2.0), 1.5);
  EXPECT_FALSE(ratio(3.0, 0.0));
  EXPECT_FALSE(ratio(std::nullopt, 2.0));
  EXPECT_FALSE(ratio(3.0, std::nullopt));
}

TEST(Stats, PercentilesThroughLatencyHistogram) {
  std::vector<double> ms;
  for (int i = 1; i <= 100; ++i) ms.push_back(i);
  const auto h = histogram_of_ms(ms);
  EXPECT_EQ(h.count(), 100u);
  // Within the histogram's 0.8% of the recorded value.
  EXPECT_NEAR(percentile_ms(h, 50), 50, 0.5);
  EXPECT_NEAR(percentile_ms(h, 99), 99, 1);
  EXPECT_NEAR(max_ms(h), 100, 1);
  EXPECT_NEAR(percentile_us(h, 50), 50'000, 500);
  EXPECT_EQ(percentile_ms(LatencyHistogram{}, 99), 0);
  EXPECT_EQ(max_ms(LatencyHistogram{}), 0);
}

TEST(Rounds, OrderRotatesByOnePerRound) {
  EXPECT_EQ(round_order(0, 3), (std::vector<std::size_t>{0, 1, 2}));
  EXPECT_EQ(round_order(1, 3), (std::vector<std::size_t>{1, 2, 0}));
  EXPECT_EQ(round_order(2, 3), (std::vector<std::size_t>{2, 0, 1}));
  EXPECT_EQ(round_order(3, 3), (std::vector<std::size_t>{0, 1, 2}));
  std::vector<std::pair<std::size_t, std::size_t>> calls;
  std::vector<std::size_t> ends;
  alternate_rounds(
      2, 2, [&](std::size_t r, std::size_t c) { calls.emplace_back(r, c); },
      [&](std::size_t r) { ends.push_back(r); });
  EXPECT_EQ(calls,
            (std::vector<std::pair<std::size_t, std::size_t>>{{0, 0}, {0, 1}, {1, 1}, {1, 0}}));
  EXPECT_EQ(ends, (std::vector<std::size_t>{0, 1}));
}

TEST(TextTable, SizesColumnsAndFormatsNumbers) {
  TextTable t({"name", "ops/s"}, {true, false});
  t.add({"strata", fixed(1234.4, 0)});
  t.add({"lru", fixed(std::optional<double>{}, 0)});
  std::ostringstream out;
  t.print(out);
  EXPECT_EQ(out.str(), "name    ops/s\nstrata   1234\nlru         -\n");
  EXPECT_EQ(times(0.984), "0.98x");
  EXPECT_EQ(times(std::nullopt), "-");
}

}  // namespace
}  // namespace strata::tools
