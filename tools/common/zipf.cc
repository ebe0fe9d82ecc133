#include "common/zipf.h"

#include <cmath>

#include "strata/error.h"

namespace strata::workload {
namespace {

// log1p(x)/x, continuous at 0.
double helper1(double x) {
  return std::abs(x) > 1e-8 ? std::log1p(x) / x : 1.0 - x * (0.5 - x / 3.0);
}
// expm1(x)/x, continuous at 0.
double helper2(double x) {
  return std::abs(x) > 1e-8 ? std::expm1(x) / x : 1.0 + x * 0.5 * (1.0 + x / 3.0);
}

}  // namespace

ZipfGenerator::ZipfGenerator(std::uint64_t n, double s) : n_(n), s_(s) {
  if (n < 1) throw InvalidArgumentError("zipf: the number of keys must be at least 1");
  if (!(s > 0.0)) throw InvalidArgumentError("zipf: the exponent must be > 0");
  h_integral_x1_ = h_integral(1.5) - 1.0;
  h_integral_n_ = h_integral(static_cast<double>(n) + 0.5);
  threshold_ = 2.0 - h_integral_inverse(h_integral(2.5) - h(2.0));
}

double ZipfGenerator::h(double x) const {
  return std::exp(-s_ * std::log(x));
}

double ZipfGenerator::h_integral(double x) const {
  const double log_x = std::log(x);
  return helper2((1.0 - s_) * log_x) * log_x;
}

double ZipfGenerator::h_integral_inverse(double x) const {
  double t = x * (1.0 - s_);
  if (t < -1.0) t = -1.0;  // numerical safety: the inverse is only defined for t >= -1
  return std::exp(helper1(t) * x);
}

}  // namespace strata::workload
