#include "local/frequency_sketch.h"

#include <algorithm>
#include <bit>

namespace strata::local {
namespace {

constexpr std::uint64_t kResetMask = 0x7777777777777777ULL;
constexpr std::uint64_t kOneMask = 0x1111111111111111ULL;

// A second mix of the key's hash, so that the block and the counters are chosen by
// independent-looking bits even when the caller's hash is weak in some of them.
constexpr std::uint64_t remix(std::uint64_t x) noexcept {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

}  // namespace

FrequencySketch::FrequencySketch(std::uint64_t expected_entries, std::uint64_t min_counters)
    : min_counters_(min_counters) {
  ensure_capacity(expected_entries);
}

void FrequencySketch::ensure_capacity(std::uint64_t expected_entries) {
  const std::uint64_t wanted = std::max<std::uint64_t>(
      std::bit_ceil(std::max<std::uint64_t>({expected_entries, min_counters_ / 16, 1})), 8);
  if (wanted <= table_.size()) return;
  table_.assign(wanted, 0);
  block_mask_ = (wanted >> 3) - 1;
  sample_size_ = 10 * std::max<std::uint64_t>({expected_entries, min_counters_ / 16, 1});
  additions_ = 0;
}

void FrequencySketch::increment(std::uint64_t hash) noexcept {
  const std::uint64_t mixed = remix(hash);
  const std::uint64_t block = (mixed & block_mask_) << 3;
  const auto counter_hash = static_cast<std::uint32_t>(mixed >> 32);
  bool added = false;
  for (int i = 0; i < 4; ++i) {
    const std::uint32_t h = counter_hash >> (i << 3);
    const std::uint64_t slot = block + (h & 1) + static_cast<std::uint64_t>(i << 1);
    const std::uint64_t shift = static_cast<std::uint64_t>(((h >> 1) & 15) << 2);
    const std::uint64_t mask = 0xfULL << shift;
    if ((table_[slot] & mask) != mask) {
      table_[slot] += 1ULL << shift;
      added = true;
    }
  }
  if (added && ++additions_ >= sample_size_) reset();
}

void FrequencySketch::prefetch(std::uint64_t hash) const noexcept {
  const std::uint64_t block = (remix(hash) & block_mask_) << 3;
  __builtin_prefetch(&table_[block], 1);
}

int FrequencySketch::frequency(std::uint64_t hash) const noexcept {
  const std::uint64_t mixed = remix(hash);
  const std::uint64_t block = (mixed & block_mask_) << 3;
  const auto counter_hash = static_cast<std::uint32_t>(mixed >> 32);
  int result = 15;
  for (int i = 0; i < 4; ++i) {
    const std::uint32_t h = counter_hash >> (i << 3);
    const std::uint32_t index = (h >> 1) & 15;
    const std::uint64_t slot = block + (h & 1) + static_cast<std::uint64_t>(i << 1);
    result = std::min(result, static_cast<int>((table_[slot] >> (index << 2)) & 0xf));
  }
  return result;
}

void FrequencySketch::reset() noexcept {
  std::uint64_t odd = 0;
  for (auto& word : table_) {
    odd += static_cast<std::uint64_t>(std::popcount(word & kOneMask));
    word = (word >> 1) & kResetMask;
  }
  additions_ = (additions_ - (odd >> 2)) >> 1;
}

}  // namespace strata::local
