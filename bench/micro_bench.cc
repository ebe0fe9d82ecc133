// Micro-benchmarks of the hot building blocks. Each pairs strata's code with a baseline measured
// in the same run where one exists (compare the two lines, not absolute numbers: machines vary).
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "common/zipf.h"
#include "strata/metrics/latency_histogram.h"
#include "strata/redis/key_slot.h"

namespace {

std::vector<std::string> make_keys() {
  std::vector<std::string> keys;
  for (int i = 0; i < 1024; ++i) keys.push_back("user:" + std::to_string(i) + ":profile");
  return keys;
}

void BM_KeySlot(benchmark::State& state) {
  const auto keys = make_keys();
  std::size_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(strata::key_slot(keys[i++ & 1023]));
}
BENCHMARK(BM_KeySlot);

// Baseline: std::hash over the same keys.
void BM_StdHash(benchmark::State& state) {
  const auto keys = make_keys();
  std::size_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(std::hash<std::string>{}(keys[i++ & 1023]));
}
BENCHMARK(BM_StdHash);

void BM_HistogramRecord(benchmark::State& state) {
  strata::LatencyHistogram histogram;
  std::int64_t v = 1;
  for (auto _ : state) {
    histogram.record(std::chrono::nanoseconds(v));
    v = (v * 7 + 13) & 0xfffff;
  }
  benchmark::DoNotOptimize(histogram.count());
}
BENCHMARK(BM_HistogramRecord);

void BM_ZipfSample(benchmark::State& state) {
  std::mt19937_64 rng(1);
  strata::workload::ZipfGenerator zipf(1'000'000, 0.99);
  for (auto _ : state) benchmark::DoNotOptimize(zipf(rng));
}
BENCHMARK(BM_ZipfSample);

// Baseline: a uniform draw from the same generator.
void BM_UniformSample(benchmark::State& state) {
  std::mt19937_64 rng(1);
  std::uniform_int_distribution<std::uint64_t> uniform(1, 1'000'000);
  for (auto _ : state) benchmark::DoNotOptimize(uniform(rng));
}
BENCHMARK(BM_UniformSample);

}  // namespace
