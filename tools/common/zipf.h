// zipf.h: draws ranks 1..n with P(k) proportional to 1/k^s, in O(1) time and memory.
// Used by strata's benchmarks to replay skewed key popularity (s = 0.99 is YCSB's default).
#pragma once

#include <cstdint>
#include <random>

namespace strata::workload {

// Rejection-inversion sampling (W. Hörmann and G. Derflinger, "Rejection-inversion to generate
// variates from monotone discrete distributions", ACM TOMACS 6(3), 1996), in the form of Apache
// Commons' RejectionInversionZipfSampler: no table, so n may be in the billions.
// REQUIRES: n >= 1, s > 0.
class ZipfGenerator {
 public:
  ZipfGenerator(std::uint64_t n, double s);

  // A rank in [1, n]; rank 1 is the most popular.
  template <typename Rng>
  std::uint64_t operator()(Rng& rng) {
    std::uniform_real_distribution<double> uniform(0.0, 1.0);
    while (true) {
      const double u = h_integral_n_ + uniform(rng) * (h_integral_x1_ - h_integral_n_);
      const double x = h_integral_inverse(u);
      auto k = static_cast<std::uint64_t>(x + 0.5);
      if (k < 1) k = 1;
      if (k > n_) k = n_;
      const double kd = static_cast<double>(k);
      if (kd - x <= threshold_ || u >= h_integral(kd + 0.5) - h(kd)) return k;
    }
  }

  [[nodiscard]] std::uint64_t n() const noexcept { return n_; }
  [[nodiscard]] double s() const noexcept { return s_; }

 private:
  [[nodiscard]] double h(double x) const;
  [[nodiscard]] double h_integral(double x) const;
  [[nodiscard]] double h_integral_inverse(double x) const;

  std::uint64_t n_;
  double s_;
  double h_integral_x1_;
  double h_integral_n_;
  double threshold_;
};

}  // namespace strata::workload
