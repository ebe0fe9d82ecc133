// One conformance suite for every EvictionPolicy strata ships: each policy must keep the
// weight within capacity, account weights exactly, hand back each node at most once, and
// honour on_remove / on_update. Policy-specific behaviour (LRU order, scan resistance) follows.
#include <gtest/gtest.h>

#include <deque>
#include <memory>
#include <random>
#include <set>
#include <unordered_map>

#include "strata/local/eviction_policy.h"

namespace strata {
namespace {

std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

struct Node : PolicyNode {
  std::uint64_t key = 0;
};

// A tiny cache over a policy: what LocalCache and `strata sim` do, minus everything else.
template <typename Policy>
class Harness {
 public:
  explicit Harness(std::uint64_t capacity) : policy_(capacity) {}

  // Returns true on a hit.
  bool access(std::uint64_t key, std::uint32_t weight = 1) {
    if (auto it = resident_.find(key); it != resident_.end()) {
      policy_.on_access(it->second);
      return true;
    }
    auto& node = pool_.emplace_back();
    node.key = key;
    node.hash = mix(key);
    node.weight = weight;
    resident_[key] = &node;
    policy_.on_insert(&node);
    drain_evictions();
    return false;
  }

  void erase(std::uint64_t key) {
    auto it = resident_.find(key);
    ASSERT_NE(it, resident_.end());
    policy_.on_remove(it->second);
    resident_.erase(it);
  }

  void reweigh(std::uint64_t key, std::uint32_t weight) {
    Node* node = resident_.at(key);
    const std::uint32_t old = node->weight;
    node->weight = weight;
    policy_.on_update(node, old);
    drain_evictions();
  }

  void drain_evictions() {
    while (PolicyNode* victim = policy_.evict()) {
      auto* node = static_cast<Node*>(victim);
      ASSERT_TRUE(resident_.count(node->key)) << "evicted a node that is not resident";
      ASSERT_EQ(resident_.at(node->key), node);
      resident_.erase(node->key);
      ++evictions_;
    }
  }

  [[nodiscard]] std::uint64_t resident_weight() const {
    std::uint64_t total = 0;
    for (const auto& [key, node] : resident_) total += node->weight;
    return total;
  }

  Policy policy_;
  std::unordered_map<std::uint64_t, Node*> resident_;
  std::deque<Node> pool_;
  std::uint64_t evictions_ = 0;
};

template <typename Policy>
class PolicyConformance : public ::testing::Test {};

using Policies = ::testing::Types<LruPolicy, WindowTinyLfuPolicy>;
TYPED_TEST_SUITE(PolicyConformance, Policies);

TYPED_TEST(PolicyConformance, KeepsWeightWithinCapacityAndAccountsExactly) {
  Harness<TypeParam> cache(100);
  std::mt19937_64 rng(1);
  std::uniform_int_distribution<std::uint64_t> keys(0, 999);
  for (int i = 0; i < 20000; ++i) {
    cache.access(keys(rng));
    ASSERT_LE(cache.policy_.weight(), cache.policy_.capacity());
    ASSERT_EQ(cache.policy_.weight(), cache.resident_weight());
  }
  EXPECT_EQ(cache.resident_.size(), 100u);
  EXPECT_GT(cache.evictions_, 0u);
}

TYPED_TEST(PolicyConformance, FillsUpBeforeEvicting) {
  Harness<TypeParam> cache(50);
  for (std::uint64_t k = 0; k < 50; ++k) cache.access(k);
  EXPECT_EQ(cache.evictions_, 0u);
  EXPECT_EQ(cache.policy_.weight(), 50u);
  for (std::uint64_t k = 0; k < 50; ++k) EXPECT_TRUE(cache.access(k)) << k;
}

TYPED_TEST(PolicyConformance, WeightedEntriesAndOversizedOnes) {
  Harness<TypeParam> cache(1000);
  std::mt19937_64 rng(2);
  std::uniform_int_distribution<std::uint32_t> weights(1, 300);
  for (std::uint64_t k = 0; k < 2000; ++k) {
    cache.access(k % 300, weights(rng));
    ASSERT_LE(cache.policy_.weight(), 1000u);
    ASSERT_EQ(cache.policy_.weight(), cache.resident_weight());
  }
  // An entry heavier than the whole cache never stays.
  cache.access(1'000'000, 5000);
  EXPECT_EQ(cache.resident_.count(1'000'000), 0u);
  EXPECT_LE(cache.policy_.weight(), 1000u);
}

TYPED_TEST(PolicyConformance, RemoveAndUpdateKeepTheAccounts) {
  Harness<TypeParam> cache(100);
  for (std::uint64_t k = 0; k < 80; ++k) cache.access(k, 1);
  cache.erase(5);
  cache.erase(79);
  EXPECT_EQ(cache.policy_.weight(), 78u);
  cache.reweigh(10, 30);  // 78 - 1 + 30 = 107 > 100: something must go
  EXPECT_LE(cache.policy_.weight(), 100u);
  EXPECT_EQ(cache.policy_.weight(), cache.resident_weight());
  // Erasing everything leaves an empty policy that still works.
  std::vector<std::uint64_t> keys;
  for (const auto& [key, node] : cache.resident_) keys.push_back(key);
  for (auto key : keys) cache.erase(key);
  EXPECT_EQ(cache.policy_.weight(), 0u);
  EXPECT_EQ(cache.policy_.evict(), nullptr);
  for (std::uint64_t k = 0; k < 200; ++k) cache.access(k);
  EXPECT_EQ(cache.policy_.weight(), 100u);
}

TYPED_TEST(PolicyConformance, ShrinkingTheCapacityEvicts) {
  Harness<TypeParam> cache(100);
  for (std::uint64_t k = 0; k < 100; ++k) cache.access(k);
  cache.policy_.set_capacity(40);
  cache.drain_evictions();
  EXPECT_EQ(cache.policy_.weight(), 40u);
  EXPECT_EQ(cache.resident_.size(), 40u);
}

TEST(LruPolicy, EvictsTheLeastRecentlyUsed) {
  Harness<LruPolicy> cache(3);
  cache.access(1);
  cache.access(2);
  cache.access(3);
  cache.access(1);  // 2 is now the least recent
  cache.access(4);
  EXPECT_EQ(cache.resident_.count(2), 0u);
  EXPECT_EQ(cache.resident_.count(1), 1u);
  EXPECT_EQ(cache.resident_.count(3), 1u);
}

// A hot set that is read over and over survives a scan of one-time keys under strata's policy,
// while LRU loses it entirely.
TEST(WindowTinyLfuPolicy, ResistsScans) {
  Harness<WindowTinyLfuPolicy> strata(100);
  Harness<LruPolicy> lru(100);
  for (int round = 0; round < 20; ++round) {
    for (std::uint64_t k = 0; k < 80; ++k) {
      strata.access(k);
      lru.access(k);
    }
  }
  for (std::uint64_t k = 1'000'000; k < 1'010'000; ++k) {  // a scan 100x the capacity
    strata.access(k);
    lru.access(k);
  }
  int strata_hot = 0, lru_hot = 0;
  for (std::uint64_t k = 0; k < 80; ++k) {
    strata_hot += strata.resident_.count(k) ? 1 : 0;
    lru_hot += lru.resident_.count(k) ? 1 : 0;
  }
  EXPECT_GE(strata_hot, 70);
  EXPECT_EQ(lru_hot, 0);
}

// On a Zipf-like skewed workload the admission policy beats LRU's hit ratio.
TEST(WindowTinyLfuPolicy, BeatsLruOnSkewedKeys) {
  Harness<WindowTinyLfuPolicy> strata(500);
  Harness<LruPolicy> lru(500);
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  int strata_hits = 0, lru_hits = 0;
  for (int i = 0; i < 200000; ++i) {
    // A heavy-tailed key: popular keys small, a long tail of rare ones.
    const auto key = static_cast<std::uint64_t>(std::pow(u(rng), 3.0) * 100000);
    strata_hits += strata.access(key) ? 1 : 0;
    lru_hits += lru.access(key) ? 1 : 0;
  }
  EXPECT_GT(strata_hits, lru_hits);
}

}  // namespace
}  // namespace strata
