// frequency_sketch.h: a compact, aging estimate of how often each key was seen recently.
//
// The design is Caffeine's FrequencySketch (after "TinyLFU: A Highly Efficient Cache Admission
// Policy", Einziger, Friedman and Manes, ACM ToS 2017): a count-min sketch of 4-bit counters
// (they saturate at 15), 16 counters to a 64-bit word, 4 counters per key, all 4 of a key's
// counters within one 64-byte block so that a lookup touches one cache line. Every
// `sample_size` increments (10 x the cache's capacity in entries) all counters are halved, so
// the sketch forgets: popularity is measured over a sliding horizon, not since the start.
// Memory: 8 bytes per cache entry (rounded to a power of two). Error: a key's estimate is
// never below its true (aged) count; collisions only inflate it.
//
// Not thread-safe; the policy that owns it is serialized by its cache.
#pragma once

#include <cstdint>
#include <vector>

namespace strata::local {

class FrequencySketch {
 public:
  // REQUIRES: expected_entries >= 1. The table holds at least `min_counters` keys' worth of
  // counters, so a tiny cache's sketch does not saturate on a large key space.
  explicit FrequencySketch(std::uint64_t expected_entries, std::uint64_t min_counters = 16384);

  // Grows the table when the cache turns out to hold more entries than first expected (a
  // weighted cache learns its entry count as it fills). Never shrinks; resets the counts.
  void ensure_capacity(std::uint64_t expected_entries);

  void increment(std::uint64_t hash) noexcept;
  // Starts loading the cache line that increment(hash) will touch.
  void prefetch(std::uint64_t hash) const noexcept;
  [[nodiscard]] int frequency(std::uint64_t hash) const noexcept;
  [[nodiscard]] std::uint64_t sample_size() const noexcept { return sample_size_; }
  [[nodiscard]] std::uint64_t table_entries() const noexcept { return table_.size() * 16; }

 private:
  void reset() noexcept;

  std::vector<std::uint64_t> table_;
  std::uint64_t block_mask_ = 0;
  std::uint64_t sample_size_ = 0;
  std::uint64_t additions_ = 0;
  std::uint64_t min_counters_;
};

}  // namespace strata::local
