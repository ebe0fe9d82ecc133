#include "common/zipf.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "strata/error.h"

namespace strata::workload {
namespace {

// The empirical frequencies of the first ranks match P(k) = k^-s / H(n, s).
TEST(ZipfGenerator, FrequenciesMatchTheDistribution) {
  for (const double s : {0.6, 0.99, 1.0, 1.3}) {
    const std::uint64_t n = 1000;
    ZipfGenerator zipf(n, s);
    std::mt19937_64 rng(123);
    std::vector<int> counts(n + 1, 0);
    const int draws = 400000;
    for (int i = 0; i < draws; ++i) {
      const auto k = zipf(rng);
      ASSERT_GE(k, 1u);
      ASSERT_LE(k, n);
      ++counts[k];
    }
    double harmonic = 0;
    for (std::uint64_t k = 1; k <= n; ++k) harmonic += std::pow(double(k), -s);
    for (std::uint64_t k : {1, 2, 10}) {
      const double expected = std::pow(double(k), -s) / harmonic;
      const double got = double(counts[k]) / draws;
      EXPECT_NEAR(got, expected, 5 * std::sqrt(expected / draws) + 1e-4) << "s=" << s << " k=" << k;
    }
  }
}

TEST(ZipfGenerator, SingleKeyAlwaysReturnsOne) {
  ZipfGenerator zipf(1, 0.99);
  std::mt19937_64 rng(1);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(zipf(rng), 1u);
}

TEST(ZipfGenerator, RejectsBadParameters) {
  EXPECT_THROW(ZipfGenerator(0, 1.0), InvalidArgumentError);
  EXPECT_THROW(ZipfGenerator(10, 0.0), InvalidArgumentError);
  EXPECT_THROW(ZipfGenerator(10, std::nan("")), InvalidArgumentError);
}

}  // namespace
}  // namespace strata::workload
