// sim_test_support.h: helpers shared by the `strata sim` tests: byte encoders for the binary
// trace formats, files in a temporary folder, and a reference LRU written independently of
// strata's (a std::list and a std::unordered_map).
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <list>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace strata::sim::testing {

inline void put_be(std::string& out, std::uint64_t v, int width) {
  for (int i = width - 1; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

inline void put_le(std::string& out, std::uint64_t v, int width) {
  for (int i = 0; i < width; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

inline void write_file(const std::filesystem::path& path, std::string_view bytes) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// The keys as a LIRS text trace, one per line.
inline std::string lirs_text(const std::vector<std::uint64_t>& keys) {
  std::string s;
  for (auto k : keys) s += std::to_string(k) + "\n";
  return s;
}

// Random keys: `hot` of the requests go to a small set of keys, the rest spread wide, so that
// both hits and evictions happen at every capacity.
inline std::vector<std::uint64_t> random_keys(std::uint64_t seed, std::size_t n,
                                              std::uint64_t universe) {
  std::mt19937_64 rng(seed);
  std::vector<std::uint64_t> keys(n);
  std::uniform_int_distribution<std::uint64_t> wide(0, universe - 1);
  std::uniform_int_distribution<std::uint64_t> narrow(0, std::max<std::uint64_t>(universe / 10, 1));
  std::bernoulli_distribution hot(0.5);
  for (auto& k : keys) k = (hot(rng) ? narrow(rng) : wide(rng)) * 0x9E3779B97F4A7C15ULL;
  return keys;
}

// A reference LRU (weighted: evict the least recently used while the total exceeds capacity,
// the new entry included, as strata's LruPolicy does).
inline std::uint64_t reference_lru_hits(const std::vector<std::uint64_t>& keys,
                                        const std::vector<std::uint32_t>& weights,
                                        std::uint64_t capacity) {
  std::list<std::pair<std::uint64_t, std::uint32_t>> order;  // front = least recent
  std::unordered_map<std::uint64_t, decltype(order)::iterator> where;
  std::uint64_t total = 0;
  std::uint64_t hits = 0;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    const std::uint32_t w = weights.empty() ? 1 : weights[i];
    auto it = where.find(keys[i]);
    if (it != where.end()) {
      ++hits;
      order.splice(order.end(), order, it->second);
      continue;
    }
    order.emplace_back(keys[i], w);
    where[keys[i]] = std::prev(order.end());
    total += w;
    while (total > capacity && !order.empty()) {
      total -= order.front().second;
      where.erase(order.front().first);
      order.pop_front();
    }
  }
  return hits;
}

}  // namespace strata::sim::testing
