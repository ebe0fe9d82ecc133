// strata/local/eviction_policy.h: the contract between a cache and its eviction policy, and the
// policies strata ships (LRU, and strata's default: adaptive W-TinyLFU).
// Use it to pick a policy for LocalCache, to replay traces (`strata sim`), or to write a policy.
//
//   strata::LruPolicy lru(/*capacity=*/1000);  lru.on_insert(&node);
//   while (strata::PolicyNode* victim = lru.evict()) erase(victim);
#pragma once

#include <concepts>
#include <cstdint>
#include <memory>

namespace strata {

// The part of a cache entry that belongs to the policy. A cache embeds one in every entry (by
// inheritance) and hands the policy pointers to it; the policy links nodes into its own queues
// and never allocates or frees them. The cache sets `hash` (a good 64-bit hash of the key) and
// `weight` before on_insert, and never touches the other fields.
struct PolicyNode {
  PolicyNode* prev = nullptr;
  PolicyNode* next = nullptr;
  std::uint64_t hash = 0;
  std::uint32_t weight = 1;
  std::uint8_t queue = 0;  // which of the policy's queues holds the node (policy-defined)
  std::uint8_t flags = 0;  // policy-defined
  std::uint16_t aux = 0;   // the cache's own (LocalCache keeps its key length here)
};

// An eviction policy orders a cache's resident entries by weight within a capacity.
// - on_insert(n): n is new and resident; the total weight may now exceed the capacity.
// - on_access(n): n was read (a hit).
// - on_update(n, old_weight): n's value was replaced; n->weight holds the new weight.
// - on_remove(n): n left the cache for another reason (erase, expiry); unlink it.
// - evict(): while the total weight exceeds the capacity, returns a node to remove (already
//   unlinked from the policy: the cache must drop it). It may be the node just inserted, when
//   the policy declines to admit it. Returns nullptr once the weight fits.
// Not thread-safe: the cache serializes calls (LocalCache calls it under a shard lock).
// A policy refers to a resident node only through the node's own fields, and links every
// resident node into a NodeList (so `prev` is never null): LocalCache substitutes a new node
// for an old one of the same key in place (copies prev, next, queue and flags, relinks the
// neighbours, then calls on_update), and treats prev == nullptr as "not resident".
template <typename P>
concept EvictionPolicy = requires(P p, const P cp, PolicyNode* n, std::uint32_t w,
                                  std::uint64_t c) {
  { p.on_insert(n) } -> std::same_as<void>;
  { p.on_access(n) } -> std::same_as<void>;
  { p.on_update(n, w) } -> std::same_as<void>;
  { p.on_remove(n) } -> std::same_as<void>;
  { p.evict() } -> std::same_as<PolicyNode*>;
  { p.set_capacity(c) } -> std::same_as<void>;
  { cp.capacity() } -> std::same_as<std::uint64_t>;
  { cp.weight() } -> std::same_as<std::uint64_t>;
};

// A doubly-linked list of PolicyNodes through their prev/next fields. O(1) everything.
// Not copyable or movable: the nodes point at its sentinel.
class NodeList {
 public:
  NodeList() = default;
  NodeList(const NodeList&) = delete;
  NodeList& operator=(const NodeList&) = delete;
  [[nodiscard]] bool empty() const noexcept { return head_.next == &head_; }
  [[nodiscard]] PolicyNode* front() const noexcept { return empty() ? nullptr : head_.next; }
  [[nodiscard]] PolicyNode* back() const noexcept { return empty() ? nullptr : head_.prev; }
  void push_back(PolicyNode* n) noexcept {
    n->prev = head_.prev;
    n->next = &head_;
    head_.prev->next = n;
    head_.prev = n;
  }
  static void unlink(PolicyNode* n) noexcept {
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->prev = n->next = nullptr;
  }
  void move_to_back(PolicyNode* n) noexcept {
    unlink(n);
    push_back(n);
  }

 private:
  PolicyNode head_{&head_, &head_};
};

// Least recently used: evicts the entry read or written longest ago. The baseline every
// other policy is compared with; good for recency-heavy workloads, poor under scans and loops.
class LruPolicy {
 public:
  explicit LruPolicy(std::uint64_t capacity) : capacity_(capacity) {}
  void on_insert(PolicyNode* n);
  void on_access(PolicyNode* n) { list_.move_to_back(n); }
  void on_update(PolicyNode* n, std::uint32_t old_weight);
  void on_remove(PolicyNode* n);
  [[nodiscard]] PolicyNode* evict();
  void set_capacity(std::uint64_t capacity) { capacity_ = capacity; }
  [[nodiscard]] std::uint64_t capacity() const { return capacity_; }
  [[nodiscard]] std::uint64_t weight() const { return weight_; }

 private:
  NodeList list_;
  std::uint64_t capacity_;
  std::uint64_t weight_ = 0;
};

static_assert(EvictionPolicy<LruPolicy>);

// strata's default: adaptive Window-TinyLFU (a small LRU window in front of a segmented LRU
// main space, admission by a frequency sketch, the window sized to the workload by feedback
// from recently evicted keys). Good hit ratios on recency-, frequency- and scan-heavy
// workloads alike; see src/local/window_tiny_lfu.h for the design and docs/hit-ratios.md for
// measurements against ten published policies.
class WindowTinyLfuPolicy {
 public:
  explicit WindowTinyLfuPolicy(std::uint64_t capacity);
  WindowTinyLfuPolicy(WindowTinyLfuPolicy&&) noexcept;
  WindowTinyLfuPolicy& operator=(WindowTinyLfuPolicy&&) noexcept;
  ~WindowTinyLfuPolicy();

  void on_insert(PolicyNode* n);
  void on_access(PolicyNode* n);
  // Optional: starts loading what on_access(n) will touch (a cache drains accesses in batches).
  void prefetch(const PolicyNode* n) const noexcept;
  void on_update(PolicyNode* n, std::uint32_t old_weight);
  void on_remove(PolicyNode* n);
  [[nodiscard]] PolicyNode* evict();
  void set_capacity(std::uint64_t capacity);
  [[nodiscard]] std::uint64_t capacity() const;
  [[nodiscard]] std::uint64_t weight() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

static_assert(EvictionPolicy<WindowTinyLfuPolicy>);

}  // namespace strata
