// The simulator: LRU against an independent reference, OPT on hand-checked sequences, against an
// exhaustive search, and as an upper bound; weighted runs; the registry and the cell runner.
#include "sim/simulator.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <functional>
#include <map>
#include <random>

#include "sim_test_support.h"
#include "strata/error.h"

namespace strata::sim {
namespace {

using testing::random_keys;
using testing::reference_lru_hits;
using Keys = std::vector<std::uint64_t>;

// First in, first out: hits do not reorder. Only for tests.
class FifoPolicy {
 public:
  explicit FifoPolicy(std::uint64_t capacity) : capacity_(capacity) {}
  void on_insert(PolicyNode* n) { list_.push_back(n), weight_ += n->weight; }
  void on_access(PolicyNode*) {}
  void on_update(PolicyNode* n, std::uint32_t old) { weight_ = weight_ - old + n->weight; }
  void on_remove(PolicyNode* n) { NodeList::unlink(n), weight_ -= n->weight; }
  PolicyNode* evict() {
    if (weight_ <= capacity_ || list_.empty()) return nullptr;
    PolicyNode* v = list_.front();
    on_remove(v);
    return v;
  }
  void set_capacity(std::uint64_t c) { capacity_ = c; }
  std::uint64_t capacity() const { return capacity_; }
  std::uint64_t weight() const { return weight_; }

 private:
  NodeList list_;
  std::uint64_t capacity_;
  std::uint64_t weight_ = 0;
};
static_assert(EvictionPolicy<FifoPolicy>);

// Most recently used, sparing the entry just inserted: good on loops, poor elsewhere. Only for
// tests.
class MruPolicy {
 public:
  explicit MruPolicy(std::uint64_t capacity) : capacity_(capacity) {}
  void on_insert(PolicyNode* n) { list_.push_back(n), weight_ += n->weight, newest_ = n; }
  void on_access(PolicyNode* n) { list_.move_to_back(n); }
  void on_update(PolicyNode* n, std::uint32_t old) { weight_ = weight_ - old + n->weight; }
  void on_remove(PolicyNode* n) { NodeList::unlink(n), weight_ -= n->weight; }
  PolicyNode* evict() {
    if (weight_ <= capacity_ || list_.empty()) return nullptr;
    PolicyNode* v = list_.back();
    if (v == newest_ && list_.front() != v) v = v->prev;
    on_remove(v);
    return v;
  }
  void set_capacity(std::uint64_t c) { capacity_ = c; }
  std::uint64_t capacity() const { return capacity_; }
  std::uint64_t weight() const { return weight_; }

 private:
  NodeList list_;
  PolicyNode* newest_ = nullptr;
  std::uint64_t capacity_;
  std::uint64_t weight_ = 0;
};
static_assert(EvictionPolicy<MruPolicy>);

// Records what the simulator hands a policy, on top of LRU.
struct Seen {
  std::vector<std::uint64_t> hashes;
  std::vector<std::uint32_t> weights;
  bool dirty_insert = false;
};
Seen* g_seen = nullptr;
class RecordingPolicy : public LruPolicy {
 public:
  using LruPolicy::LruPolicy;
  void on_insert(PolicyNode* n) {
    if (n->queue != 0 || n->flags != 0 || n->prev != nullptr || n->next != nullptr) {
      g_seen->dirty_insert = true;
    }
    g_seen->hashes.push_back(n->hash);
    g_seen->weights.push_back(n->weight);
    LruPolicy::on_insert(n);
    n->queue = 3;  // a policy's own marks, which a re-insert must not inherit
    n->flags = 7;
  }
};

// The exact optimum by dynamic programming over (request index, resident set): keys < 8.
std::uint64_t exhaustive_opt_hits(const std::vector<std::uint64_t>& keys, std::size_t capacity) {
  std::map<std::pair<std::size_t, unsigned>, std::uint64_t> memo;
  std::function<std::uint64_t(std::size_t, unsigned)> best = [&](std::size_t i, unsigned set) {
    if (i == keys.size()) return std::uint64_t{0};
    const auto memo_key = std::make_pair(i, set);
    if (auto it = memo.find(memo_key); it != memo.end()) return it->second;
    const unsigned bit = 1u << keys[i];
    std::uint64_t result;
    if ((set & bit) != 0) {
      result = 1 + best(i + 1, set);
    } else if (static_cast<std::size_t>(std::popcount(set)) < capacity) {
      result = best(i + 1, set | bit);
    } else {
      result = 0;
      for (unsigned v = set; v != 0; v &= v - 1) {
        const unsigned victim = v & (~v + 1);
        result = std::max(result, best(i + 1, (set & ~victim) | bit));
      }
    }
    memo[memo_key] = result;
    return result;
  };
  return best(0, 0);
}

TEST(Simulator, LruMatchesAReferenceLruOnRandomTraces) {
  for (std::uint64_t seed = 1; seed <= 6; ++seed) {
    const Keys keys = random_keys(seed, 20000, 50 * seed * seed);
    const Trace trace(keys);
    for (std::uint64_t capacity : {1u, 2u, 3u, 10u, 64u, 500u, 100000u}) {
      const SimResult r = simulate<LruPolicy>(trace, capacity, false);
      EXPECT_EQ(r.requests, keys.size());
      EXPECT_EQ(r.hits, reference_lru_hits(keys, {}, capacity)) << seed << " @ " << capacity;
    }
  }
}

TEST(Simulator, WeightedLruMatchesAReferenceLru) {
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<std::uint32_t> size(1, 1000);
  const Keys keys = random_keys(11, 20000, 3000);
  // Sizes are a property of the key, as in oracleGeneral traces.
  std::map<std::uint64_t, std::uint32_t> size_of;
  std::vector<std::uint32_t> weights;
  for (auto k : keys) {
    auto [it, inserted] = size_of.try_emplace(k, 0);
    if (inserted) it->second = size(rng);
    weights.push_back(it->second);
  }
  const Trace trace(keys, weights);
  for (std::uint64_t capacity : {500u, 5000u, 50000u, 500000u}) {
    const SimResult r = simulate<LruPolicy>(trace, capacity, /*weighted=*/true);
    EXPECT_EQ(r.hits, reference_lru_hits(keys, weights, capacity)) << capacity;
    EXPECT_TRUE(r.weighted);
    std::uint64_t bytes = 0;
    for (auto w : weights) bytes += w;
    EXPECT_EQ(r.bytes, bytes);
    EXPECT_GT(r.hit_bytes, 0u);
    EXPECT_LE(r.hit_bytes, r.bytes);
  }
  // The same trace by object count ignores the sizes.
  EXPECT_EQ(simulate<LruPolicy>(trace, 100, false).hits, reference_lru_hits(keys, {}, 100));
}

TEST(Simulator, AnObjectLargerThanTheCacheIsNeverKept) {
  const Trace trace(Keys{1, 1, 2, 2, 1}, {10, 10, 3, 3, 10});
  const SimResult r = simulate<LruPolicy>(trace, 5, true);
  EXPECT_EQ(r.hits, 1u);  // only the second request for 2
  EXPECT_EQ(r.hit_bytes, 3u);
}

TEST(Simulator, WeightedNeedsSizes) {
  const Trace trace(Keys{1, 2, 1});
  EXPECT_THROW((void)simulate<LruPolicy>(trace, 2, true), InvalidArgumentError);
  EXPECT_THROW((void)simulate_opt(Trace(Keys{1}, {1}), 2, true), InvalidArgumentError);
}

TEST(Simulator, NodesReachThePolicyFreshWithTheKeyHashAndWeight) {
  Seen seen;
  g_seen = &seen;
  const Trace trace(Keys{10, 20, 30, 10, 20}, {5, 6, 7, 5, 6});
  (void)simulate<RecordingPolicy>(trace, 12, true);  // 10 is evicted, then inserted again
  g_seen = nullptr;
  EXPECT_FALSE(seen.dirty_insert);
  ASSERT_GE(seen.hashes.size(), 4u);
  EXPECT_EQ(seen.hashes[0], mix64(10));
  EXPECT_EQ(seen.hashes[1], mix64(20));
  EXPECT_EQ(seen.weights[0], 5u);
  EXPECT_EQ(seen.weights[2], 7u);
}

TEST(Simulator, OptOnHandCheckedSequences) {
  // The textbook string: 7 faults with 3 frames, 6 with 4.
  const Trace textbook(Keys{1, 2, 3, 4, 1, 2, 5, 1, 2, 3, 4, 5});
  EXPECT_EQ(simulate_opt(textbook, 3, false).hits, 5u);
  EXPECT_EQ(simulate_opt(textbook, 4, false).hits, 6u);
  EXPECT_EQ(simulate<LruPolicy>(textbook, 3, false).hits, 2u);
  // A loop one larger than the cache: LRU never hits; MIN keeps all but one.
  const Trace loop(Keys{1, 2, 3, 4, 1, 2, 3, 4});
  EXPECT_EQ(simulate<LruPolicy>(loop, 3, false).hits, 0u);
  EXPECT_EQ(simulate_opt(loop, 3, false).hits, 3u);
  // Capacity 1: only immediate repeats hit.
  const Trace repeats(Keys{1, 1, 2, 1, 1, 1, 3, 3});
  EXPECT_EQ(simulate_opt(repeats, 1, false).hits, 4u);
  // Room for everything: every request but the first of each key.
  EXPECT_EQ(simulate_opt(textbook, 5, false).hits, 7u);
  EXPECT_EQ(simulate_opt(textbook, 1000, false).hits, 7u);
  EXPECT_EQ(simulate_opt(Trace{}, 3, false).hits, 0u);
  EXPECT_EQ(simulate_opt(textbook, 0, false).hits, 0u);
}

TEST(Simulator, OptEqualsAnExhaustiveSearchOnSmallTraces) {
  std::mt19937_64 rng(3);
  for (int round = 0; round < 300; ++round) {
    const std::size_t n = 4 + rng() % 13;
    const std::uint64_t universe = 2 + rng() % 6;
    Keys keys(n);
    for (auto& k : keys) k = rng() % universe;
    const Trace trace(keys);
    for (std::size_t capacity = 1; capacity <= 4; ++capacity) {
      EXPECT_EQ(simulate_opt(trace, capacity, false).hits, exhaustive_opt_hits(keys, capacity))
          << "round " << round << " capacity " << capacity;
    }
  }
}

TEST(Simulator, OptIsAnUpperBoundOnRandomTraces) {
  for (std::uint64_t seed = 1; seed <= 4; ++seed) {
    const Keys keys = random_keys(100 + seed, 30000, 400 * seed);
    const Trace trace(keys);
    for (std::uint64_t capacity : {1u, 8u, 50u, 300u, 2000u}) {
      const auto opt = simulate_opt(trace, capacity, false).hits;
      EXPECT_GE(opt, simulate<LruPolicy>(trace, capacity, false).hits);
      EXPECT_GE(opt, simulate<FifoPolicy>(trace, capacity, false).hits);
      EXPECT_GE(opt, simulate<MruPolicy>(trace, capacity, false).hits);
      EXPECT_LE(opt, keys.size() - trace.distinct_keys());  // compulsory misses
    }
    EXPECT_EQ(simulate_opt(trace, trace.distinct_keys(), false).hits,
              keys.size() - trace.distinct_keys());
  }
}

TEST(Simulator, RegistryNamesPolicies) {
  EXPECT_EQ(find_policy("lru").name, "lru");
  EXPECT_EQ(find_policy("opt").name, "opt");
  EXPECT_EQ(find_policy("wtinylfu").name, "wtinylfu");
  EXPECT_EQ(find_policy("strata").name, "wtinylfu");  // the old name stays an alias
  EXPECT_NE(policy_names().find("wtinylfu"), std::string::npos);
  EXPECT_THROW((void)find_policy("arc"), InvalidArgumentError);
  const Trace trace(Keys{1, 2, 1});
  const SimResult r = run_policy("lru", trace, 2, false);
  EXPECT_EQ(r.policy, "lru");
  EXPECT_EQ(r.hits, 1u);
  EXPECT_DOUBLE_EQ(r.hit_ratio(), 1.0 / 3.0);
  // strata's policy keeps a hot key through a scan that flushes LRU.
  Keys keys;
  for (int round = 0; round < 50; ++round) {
    keys.push_back(1);
    keys.push_back(2);
    for (std::uint64_t k = 0; k < 20; ++k) keys.push_back(1000 + round * 20 + k);
  }
  const Trace scan(keys);
  EXPECT_GT(run_policy("wtinylfu", scan, 10, false).hits, run_policy("lru", scan, 10, false).hits);
}

TEST(Simulator, RunCellsMatchesSequentialRunsInOrder) {
  const Trace trace(random_keys(5, 50000, 5000));
  std::vector<SimCell> cells;
  for (const char* p : {"lru", "opt"}) {
    for (std::uint64_t c : {10u, 100u, 1000u, 4000u}) cells.push_back({p, c});
  }
  for (unsigned threads : {1u, 2u, 3u}) {
    const auto results = run_cells(trace, cells, false, threads);
    ASSERT_EQ(results.size(), cells.size());
    for (std::size_t i = 0; i < cells.size(); ++i) {
      EXPECT_EQ(results[i].policy, cells[i].policy);
      EXPECT_EQ(results[i].capacity, cells[i].capacity);
      EXPECT_EQ(results[i].hits, run_policy(cells[i].policy, trace, cells[i].capacity, false).hits);
    }
  }
  std::vector<SimCell> bad = {{"lru", 10}, {"nope", 10}};
  EXPECT_THROW((void)run_cells(trace, bad, false, 2), InvalidArgumentError);
  std::vector<SimCell> weighted = {{"lru", 10}, {"opt", 10}};
  EXPECT_THROW((void)run_cells(Trace(Keys{1, 2}, {1, 1}), weighted, true, 2), InvalidArgumentError);
}

}  // namespace
}  // namespace strata::sim
